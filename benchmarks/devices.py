"""CPU against CUDA (and float32 against bfloat16) on the same specs: time per bake and how far the numbers move,
measured against the tolerances docs/writing.md states (attention rows within 1e-3 plus two grid steps, lens top-1
equal away from near-ties, saliency within 1 % relative L1). Needs a CUDA GPU for the CUDA rows; without one it
says so and measures bfloat16 on the CPU only.

    .venv/bin/python benchmarks/devices.py [--model smollm2]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from generator.bake import Baker
from generator.payload import decode_array
from generator.spec import spec_from_data

TEXT = "The animal didn't cross the street because it was too tired."


def bake(cache: Path, spec, **settings) -> tuple[dict, float]:
    started = time.perf_counter()
    payload = json.loads(Baker(cache, **settings).payload(spec))
    return payload, time.perf_counter() - started


def compare(a: dict, b: dict) -> dict:
    out = {}
    if "attention" in a:
        out["attention max abs"] = float(np.abs(decode_array(a["attention"]["values"])
                                                - decode_array(b["attention"]["values"])).max())
    if "lens" in a and "lens" in b:
        top_a, top_b = decode_array(a["lens"]["top"])[..., 0], decode_array(b["lens"]["top"])[..., 0]
        probs = decode_array(a["lens"]["top_probs"])
        clear = (probs[..., 0] - probs[..., 1]) > 1e-3
        out["lens top-1 agreement away from ties"] = float((top_a[clear] == top_b[clear]).mean())
        ranks_a, ranks_b = decode_array(a["lens"]["next_ranks"]), decode_array(b["lens"]["next_ranks"])
        out["next-token ranks equal"] = float((ranks_a == ranks_b).mean())
    if "saliency" in a:
        for name, array in a["saliency"]["methods"].items():
            x, y = decode_array(array), decode_array(b["saliency"]["methods"][name])
            out[f"saliency {name} relative L1"] = float(np.abs(x - y).sum() / np.abs(x).sum())
    return out


def main() -> None:
    import torch

    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="smollm2")
    args = parser.parse_args()
    spec = spec_from_data({"model": args.model, "text": TEXT, "generate": 3,
                           "views": ["head", "layers", "saliency"]}, file="bench")
    no_lens = spec_from_data({"model": args.model, "text": TEXT, "generate": 3, "views": ["head", "saliency"]},
                             file="bench")
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        cpu, cpu_s = bake(root / "cpu", spec)
        print(f"cpu float32: {cpu_s:.1f} s (model load included)")
        rough, rough_s = bake(root / "bf16", no_lens, dtype="bfloat16")
        print(f"cpu bfloat16 (no lens: it refuses bfloat16): {rough_s:.1f} s", compare(cpu, rough))
        if not torch.cuda.is_available():
            print("no CUDA GPU here: the CUDA rows were not measured")
            return
        gpu, gpu_s = bake(root / "gpu", spec, device="cuda")
        print(f"cuda float32: {gpu_s:.1f} s (model load included)", compare(cpu, gpu))
        torch.cuda.reset_peak_memory_stats()
        gpu16, gpu16_s = bake(root / "gpu16", no_lens, device="cuda", dtype="bfloat16")
        print(f"cuda bfloat16: {gpu16_s:.1f} s, peak {torch.cuda.max_memory_allocated() / 2**20:.0f} MB",
              compare(cpu, gpu16))


if __name__ == "__main__":
    main()
