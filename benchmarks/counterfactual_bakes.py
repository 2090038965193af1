"""Bake time of each curated counterfactual spec (explorables/counterfactuals.yml), cold: a fresh cache folder, the
models loaded once beforehand (their load is timed apart, it is shared with the rest of the site build).

    .venv/bin/python benchmarks/counterfactual_bakes.py [--repeats 1] [ids ...]

Per spec: wall and CPU seconds (user + system of this process, both torch threads together) and the load average,
the median over the repeats. The goal (issue 24): the whole file bakes in well under 40 s of CPU.
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
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--cache", type=Path, default=None,
                        help="bake into this cache folder (kept; e.g. .cache/explorables, which the article's tests "
                             "read) instead of a fresh temporary one per repeat")
    parser.add_argument("ids", nargs="*")
    args = parser.parse_args()

    import generator  # noqa: F401  (first: it sets OpenMP's passive waiting before torch starts)
    import torch

    from generator.bake import Baker
    from generator.models.loading import POOL
    from generator.models.registry import resolve
    from generator.spec import Catalogue

    catalogue = Catalogue.load(REPO / "explorables", relative_to=REPO)
    ids = args.ids or [name for name, spec in catalogue.specs.items()
                       if str(getattr(spec, "file", "")).endswith("counterfactuals.yml")
                       or name.startswith(("cf-", "cfa-"))]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} cores, "
          f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY')}, GOMP_SPINCOUNT={os.environ.get('GOMP_SPINCOUNT')}")
    for name in sorted({catalogue.specs[i].model for i in ids}):
        wall, cpu = time.perf_counter(), time.process_time()
        POOL.get(resolve(name))
        print(f"load {name}: {time.perf_counter() - wall:.1f} s wall, {time.process_time() - cpu:.1f} s CPU")
    total_cpu = total_wall = 0.0
    print("| spec | wall (s) | CPU (s) | load average |\n|---|---|---|---|")
    for name in ids:
        walls, cpus, loads = [], [], []
        for _ in range(args.repeats):
            with tempfile.TemporaryDirectory() as folder:
                baker = Baker(args.cache or Path(folder) / "cache", base_dir=REPO)
                wall, cpu = time.perf_counter(), time.process_time()
                baker.payload(catalogue.specs[name])
                walls.append(time.perf_counter() - wall)
                cpus.append(time.process_time() - cpu)
                loads.append(os.getloadavg()[0])
        w, c = statistics.median(walls), statistics.median(cpus)
        total_wall, total_cpu = total_wall + w, total_cpu + c
        print(f"| {name} | {w:.1f} | {c:.1f} | {statistics.median(loads):.1f} |", flush=True)
    print(f"| all | {total_wall:.1f} | {total_cpu:.1f} | |")


if __name__ == "__main__":
    main()
