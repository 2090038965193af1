"""Bytes of the explanations section's arrays under each candidate encoding, and what each can show (issue 21, point 5).

    .venv/bin/python benchmarks/explanations_bytes.py [PAYLOAD.json]

Without an argument it bakes the issue's case, SmolLM2 on "Alice gave Bob a book because she" with 2 generated
tokens (about 2 minutes on 2 cores; the bake cache under .cache/explorables is used and filled). For the shares
[M, T, N] and each layer map [T, L, N] it prints the base64 characters of the ARRAY's data (what the payload
carries) for: uint16 over [0, 1] (the encoding before), float32, and float32 rounded to 12, 10 and 8 mantissa
bits, with the largest relative error of each and how many of rollout's non-first shares are stored as 0 (which the
view cannot tell apart, and which a ranking of the stored values would have to break by position; float32 stores
none of them as 0).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

CASE = "model: smollm2\ntext: Alice gave Bob a book because she\ngenerate: 2\nviews: [explanations]\n"


def payload(path: str | None) -> dict:
    if path:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    from generator.bake import Baker
    from generator.spec import Catalogue, spec_from_block
    spec = spec_from_block(CASE, file="benchmarks/explanations_bytes.py", line_offset=1, catalogue=Catalogue({}))
    return json.loads(Baker(REPO / ".cache" / "explorables", base_dir=REPO).payload(spec))


def main() -> None:
    from generator.methods.explanations.section import significant
    from generator.payload import decode_array, encode_array

    section = payload(sys.argv[1] if len(sys.argv) > 1 else None)["explanations"]
    arrays = {"shares": section["shares"], **{f"layers.{k}": v for k, v in section["layers"].items()}}
    rollout = section["methods"].index("rollout") if "rollout" in section["methods"] else None
    print(f"{'array':16} {'shape':14} {'uint16':>8} {'float32':>8} {'f32/12b':>8} {'f32/10b':>8} {'f32/8b':>8}  "
          "max rel. error (12 / 10 / 8 bits)  rollout's other shares stored as 0 in uint16")
    totals = np.zeros(5, dtype=int)
    for name, encoded in arrays.items():
        values = decode_array(encoded)
        candidates = [encode_array(values, dtype="uint16", lo=0.0, hi=1.0), encode_array(values, dtype="float32")]
        errors = []
        for bits in (12, 10, 8):
            rounded = significant(values, bits)
            candidates.append(encode_array(rounded, dtype="float32"))
            positive = values > 0
            errors.append(float(np.max(np.abs(rounded[positive] - values[positive]) / values[positive])))
        sizes = [len(c["data"]) for c in candidates]
        totals += sizes
        zeros = ""
        if name == "shares" and rollout is not None:
            row, stored = values[rollout][:, 1:], decode_array(candidates[0])[rollout][:, 1:]
            zeros = f"{int(((stored == 0) & (row > 0)).sum())} of {int((row > 0).sum())}"
        print(f"{name:16} {str(list(values.shape)):14} " + " ".join(f"{s:>8,}" for s in sizes) +
              "  " + " / ".join(f"{e:.1e}" for e in errors) + f"  {zeros}")
    print(f"{'total':31} " + " ".join(f"{s:>8,}" for s in totals))


if __name__ == "__main__":
    main()
