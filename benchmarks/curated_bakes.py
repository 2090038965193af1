"""Cold bakes of curated specs, before and after a change of their budgets, in one process: each spec of this
worktree's explorables/ baked into a fresh cache folder next to the spec of the same id in another explorables
folder (the "before", e.g. an older commit's), with torch at one thread so that process CPU time is work done, not
OpenMP threads waiting on a busy machine. Prints CPU seconds per spec and the ratio, with the load average.

    git archive 2f21af3 explorables | tar -x -C /tmp/before
    .venv/bin/python benchmarks/curated_bakes.py --before /tmp/before/explorables \\
        --ids explain-pronoun,explain-counting,explain-capital,explain-shakespeare,explain-similarity

The models are loaded once before the timings (a site build loads each model once for all its pages). One thread
gives other bytes than the bake's fixed two in the last digits (generator.bake.BAKE_THREADS): the bakes go to
temporary folders, never to the site's cache.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--before", required=True, help="an explorables folder to compare with (the old budgets)")
    parser.add_argument("--ids", required=True, help="comma-separated spec ids, present in both folders")
    args = parser.parse_args()
    from generator import bake
    from generator.models.loading import POOL
    from generator.models.registry import resolve
    from generator.spec import Catalogue

    original = bake.fixed_threads
    bake.fixed_threads = lambda count=1: original(1)
    catalogues = {"before": Catalogue.load(Path(args.before), relative_to=REPO),
                  "after": Catalogue.load(REPO / "explorables", relative_to=REPO)}
    ids = [i for i in args.ids.split(",") if i]
    for model in sorted({catalogues["after"].specs[i].model for i in ids}):
        POOL.get(resolve(model))
    totals = {"before": 0.0, "after": 0.0}
    for spec_id in ids:
        seconds = {}
        for name, catalogue in catalogues.items():
            with tempfile.TemporaryDirectory() as cache:
                start = time.process_time()
                bake.Baker(Path(cache), base_dir=REPO).payload(catalogue.specs[spec_id])
                seconds[name] = time.process_time() - start
            totals[name] += seconds[name]
        print(f"{spec_id}: before {seconds['before']:.1f} s CPU, after {seconds['after']:.1f} s CPU "
              f"({seconds['after'] / seconds['before']:.2f}); load {os.getloadavg()[0]:.1f}", flush=True)
    print(f"total: before {totals['before']:.1f} s CPU, after {totals['after']:.1f} s CPU "
          f"({totals['after'] / totals['before']:.2f}); load %.1f %.1f %.1f" % os.getloadavg(), flush=True)


if __name__ == "__main__":
    main()
