"""Peak memory of the attention section for SmolLM2 at N tokens: today's path (every layer's attention from the
model, stacked, rounded to the uint16 grid in float64) against attention reduced layer by layer
(generator/attention_stream.py), which never holds more than one layer in float.

Each way runs in a fresh process; the figure is the process's peak resident memory (ru_maxrss) minus its peak
after loading the model. Both ways' ARRAYs are compared byte for byte.

    .venv/bin/python benchmarks/attention_memory.py [N ...]     (default: 256 512 1024)
    .venv/bin/python benchmarks/attention_memory.py --by-layer-only 2048

--by-layer-only measures the layer-by-layer way alone (at 2,048 tokens today's path needs more memory than the
machine has).

2,048 tokens needs about 4 x 4.5 GB at the peak of today's path (RESULTS.md has the formula); on the shared
machine it was measured at smaller N and extrapolated by N^2.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

CHILD = textwrap.dedent("""
    import hashlib, json, resource, sys
    import generator  # before torch: OpenMP's short spin, as the bake has it
    import torch
    from generator.models.loading import POOL
    from generator.models.registry import resolve
    way, n = sys.argv[1], int(sys.argv[2])
    loaded = POOL.get(resolve("smollm2"))
    ids = torch.randint(100, 40000, (1, n), generator=torch.Generator().manual_seed(0))
    torch.set_grad_enabled(False)
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if way == "all-layers":
        import numpy as np
        from generator.capture import _forward, resolve
        from generator.methods.attention import encode_weights
        activations, _ = _forward(loaded, resolve(("blocks.*.attn.hook_pattern",), loaded.info.n_layers)[0], ids,
                                  None)
        array = encode_weights(np.stack(list(activations.values())))
    else:
        from generator.attention_stream import attention_levels, attention_section
        array = attention_section(attention_levels(loaded, ids))["values"]
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"mb": (peak - base) / 1024, "digest": hashlib.sha256(array["data"].encode()).hexdigest()}))
""")


def measure(way: str, n: int) -> dict:
    result = subprocess.run([sys.executable, "-c", CHILD, way, str(n)], capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1"})
    if result.returncode:
        sys.exit(result.stderr[-2000:])
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    args = sys.argv[1:]
    only = "--by-layer-only" in args
    sizes = [int(arg) for arg in args if arg != "--by-layer-only"] or [256, 512, 1024]
    print("SmolLM2-135M (30 layers, 9 heads): peak memory above the loaded model, MB")
    for n in sizes:
        one_copy = 30 * 9 * n * n * 4 / 2**20
        if only:
            started = time.perf_counter()
            layered = measure("by-layer", n)
            print(f"N={n:5d}  by layer {layered['mb']:8.0f}  (one float32 [L,H,N,N] copy: {one_copy:6.0f}; "
                  f"{time.perf_counter() - started:.0f} s)", flush=True)
            continue
        full, layered = measure("all-layers", n), measure("by-layer", n)
        print(f"N={n:5d}  all layers {full['mb']:8.0f}  by layer {layered['mb']:8.0f}  "
              f"(one float32 [L,H,N,N] copy: {one_copy:6.0f})  same bytes: {full['digest'] == layered['digest']}",
              flush=True)


if __name__ == "__main__":
    main()
