"""Cold-start load time of SmolLM2: from its GGUF file (de-quantising) against the de-quantised weights cache.

Each figure is one fresh Python process (a cold start, as `mkdocs build` or `mkdocs serve` has), timing
generator.models.loading.load() alone and, separately, the imports of torch + transformers + the Llama classes
that any load needs. Wall and CPU time: on a shared machine the CPU time is the steadier figure. Run by hand:

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
    wall, cpu = time.perf_counter(), time.process_time()
    import torch, transformers
    # what any load of a Llama model imports (transformers imports lazily): paid the same by both paths
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer, LlamaConfig, LlamaForCausalLM
    import transformers.conversion_mapping, transformers.core_model_loading, transformers.integrations.hub_kernels
    imports = time.perf_counter() - wall, time.process_time() - cpu
    from generator.models.loading import load
    from generator.models.registry import resolve
    from generator.models import weights_cache
    source = resolve("smollm2")
    hit = weights_cache.find(source) is not None
    wall, cpu = time.perf_counter(), time.process_time()
    load(source)
    print(*imports, time.perf_counter() - wall, time.process_time() - cpu, hit)
""")


def one(cache: str) -> tuple[float, float, float, float, bool]:
    """(imports wall, imports CPU, load wall, load CPU, whether the cache held the model) of one fresh process."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1", "EXPLORABLES_MODEL_CACHE": cache,
           "TRANSFORMERS_VERBOSITY": "error"}
    out = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, check=True, env=env)
    *figures, hit = out.stdout.split()
    return (*map(float, figures), hit == "True")


def main(runs: int) -> None:
    print(f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory() as temp:
        rows = []
        rows.append(("GGUF, cache off", [one("off") for _ in range(runs)]))
        first = one(temp)
        assert not first[-1]
        rows.append(("GGUF, into an empty cache (de-quantise + store)", [first]))
        cached = [one(temp) for _ in range(runs)]
        assert all(figures[-1] for figures in cached)
        rows.append(("from the cache", cached))
        size = sum(f.stat().st_size for f in Path(temp).rglob("*") if f.is_file())
    print(f"\nload average at end: {os.getloadavg()[0]:.1f}; cache entry {size / 1e6:.0f} MB\n")
    print("| SmolLM2 cold start | load() wall, median (min-max) | load() CPU, median | imports wall / CPU, median |")
    print("|---|---|---|---|")
    for label, figures in rows:
        med = [statistics.median(f[i] for f in figures) for i in range(4)]
        walls = [f[2] for f in figures]
        print(f"| {label} | {med[2]:.2f} s ({min(walls):.2f}-{max(walls):.2f}) | {med[3]:.2f} s | "
              f"{med[0]:.2f} s / {med[1]:.2f} s |")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 3)
