"""Bake each curated spec of one explorables file cold (a fresh cache folder) and print its wall and process CPU
seconds, with the load average (issue 23: the "What if?" article's file should bake in well under 40 s of CPU).

    .venv/bin/python benchmarks/whatif_specs.py                           # explorables/whatif.yml
    .venv/bin/python benchmarks/whatif_specs.py --ids whatif-eiffel-patching --repeats 3
    .venv/bin/python benchmarks/whatif_specs.py --file explorables/counterfactuals.yml --keep /tmp/payloads

The models are loaded once before the timings (their load is not counted: a site build loads each model once for
all its pages). Torch runs at the bake's fixed thread count (generator.bake.BAKE_THREADS) unless --torch-threads.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
import generator  # noqa: E402,F401  (before torch: it sets OpenMP's short spin, as the bake has it)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--file", default=str(REPO / "explorables" / "whatif.yml"))
    parser.add_argument("--ids", default="", help="comma-separated ids (default: every spec of the file)")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--torch-threads", type=int, default=0, help="0: the bake's own setting")
    parser.add_argument("--keep", default="", help="a folder to write each payload to (<id>.bin), to compare bakes")
    args = parser.parse_args()
    import torch

    from generator import bake
    from generator.models.loading import POOL
    from generator.models.registry import resolve
    from generator.spec import Catalogue

    if args.torch_threads:
        original = bake.fixed_threads          # its default count was bound at import: wrap it
        bake.BAKE_THREADS = args.torch_threads
        bake.fixed_threads = lambda count=args.torch_threads: original(count)
    path = Path(args.file)
    catalogue = Catalogue.load(path.parent, relative_to=REPO)
    # the file's own specs: its ids all start with its name ("whatif-...")
    ids = [i for i in args.ids.split(",") if i] or [i for i in catalogue.specs if i.startswith(path.stem + "-")]
    for model in sorted({catalogue.specs[i].model for i in ids}):
        POOL.get(resolve(model))
    print(f"torch {torch.__version__}, bake threads {bake.BAKE_THREADS}, cpus {os.cpu_count()}", flush=True)
    total_wall, total_cpu = 0.0, 0.0
    for spec_id in ids:
        spec = catalogue.specs[spec_id]
        walls, cpus = [], []
        for _ in range(args.repeats):
            with tempfile.TemporaryDirectory() as cache:
                before = "%.1f" % os.getloadavg()[0]
                start, start_cpu = time.perf_counter(), time.process_time()
                data = bake.Baker(Path(cache), base_dir=REPO).payload(spec)
                if args.keep:
                    Path(args.keep).mkdir(parents=True, exist_ok=True)
                    (Path(args.keep) / f"{spec_id}.bin").write_bytes(data)
                walls.append(time.perf_counter() - start)
                cpus.append(time.process_time() - start_cpu)
        wall, cpu = statistics.median(walls), statistics.median(cpus)
        total_wall += wall
        total_cpu += cpu
        print(f"{spec_id}: {wall:.1f} s wall / {cpu:.1f} s CPU (median of {args.repeats}); load {before} -> "
              f"{os.getloadavg()[0]:.1f}", flush=True)
    print(f"total: {total_wall:.1f} s wall / {total_cpu:.1f} s CPU; load %.1f %.1f %.1f" % os.getloadavg(), flush=True)


if __name__ == "__main__":
    main()
