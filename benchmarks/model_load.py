"""Cold-start load time of SmolLM2: from its GGUF file (de-quantising) against the de-quantised weights cache.

Each figure is one fresh Python process (a cold start, as `mkdocs build` or `mkdocs serve` has), timing
generator.models.loading.load() alone and, separately, the imports of torch + transformers it needs. Run by hand:

    .venv/bin/python benchmarks/model_load.py [runs]
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

CHILD = textwrap.dedent("""
    import logging, sys, time
    start = time.perf_counter()
    import torch, transformers
    imported = time.perf_counter()
    from generator.models.loading import load
    from generator.models.registry import resolve
    from generator.models import weights_cache
    source = resolve("smollm2")
    hit = weights_cache.find(source) is not None
    begin = time.perf_counter()
    load(source)
    print(imported - start, time.perf_counter() - begin, hit)
""")


def one(cache: str) -> tuple[float, float, bool]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1", "EXPLORABLES_MODEL_CACHE": cache,
           "TRANSFORMERS_VERBOSITY": "error"}
    out = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, check=True, env=env)
    imports, load, hit = out.stdout.split()
    return float(imports), float(load), hit == "True"


def main(runs: int) -> None:
    print(f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory() as temp:
        rows = []
        gguf = [one("off") for _ in range(runs)]
        rows.append(("GGUF, cache off", gguf))
        first = one(temp)
        assert not first[2]
        rows.append(("GGUF, into an empty cache (de-quantise + store)", [first]))
        cached = [one(temp) for _ in range(runs)]
        assert all(hit for _, _, hit in cached)
        rows.append(("from the cache", cached))
        size = sum(f.stat().st_size for f in Path(temp).rglob("*") if f.is_file())
    print(f"\nload average at end: {os.getloadavg()[0]:.1f}; cache entry {size / 1e6:.0f} MB\n")
    print("| SmolLM2 cold start | load() median (min-max) | imports of torch + transformers, median |")
    print("|---|---|---|")
    for label, figures in rows:
        loads = [f[1] for f in figures]
        imports = [f[0] for f in figures]
        print(f"| {label} | {statistics.median(loads):.2f} s ({min(loads):.2f}-{max(loads):.2f}) | "
              f"{statistics.median(imports):.2f} s |")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 3)
