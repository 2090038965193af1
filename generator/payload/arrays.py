"""Quantized arrays: uint8/uint16 over [min, max] (or exact float32), zlib-compressed, base64 text.

Why not float JSON: BertViz-style float lists cost ~22 bytes per value; uint8 over [0, 1] costs one byte before
compression and has a max error of 1/510, below the 0.002 a reader could ever see. zlib (not gzip) because browsers
inflate it natively with DecompressionStream("deflate").

Rows that must keep their sums (attention: each row sums to 1) are rounded with largest remainders on a grid of
`levels` steps, stored in uint16 as two byte planes (`layout: "planes"`); benchmarks/attention_sums.py compares the
candidates and RESULTS.md records why 511 levels and planes were chosen.
"""

from __future__ import annotations

import base64
import zlib
from typing import Any

import numpy as np

_LEVELS = {"uint8": 255, "uint16": 65535}
_NUMPY = {"uint8": np.uint8, "uint16": np.dtype("<u2"), "float32": np.dtype("<f4")}
LAYOUTS = ("interleaved", "planes")


def encode_array(values: Any, *, dtype: str = "uint8", lo: float | None = None, hi: float | None = None,
                 levels: int | None = None, layout: str = "interleaved", keep_row_sums: bool = False) -> dict:
    """Encode an array as an ARRAY object {dtype, shape, min, max, data[, levels][, layout]} (ARCHITECTURE.md).

    values: any shape, finite. dtype: "uint8" or "uint16" (`levels` steps spread evenly over [lo, hi], by default
    2^bits - 1; values outside are clipped) or "float32" (exact). lo/hi default to the array's min/max.
    layout: "interleaved" (little-endian values one after another) or, for uint16, "planes" (every value's high
    byte first, then every low byte: deflate compresses the mostly-zero high bytes to almost nothing).
    keep_row_sums: round along the last axis so that each row's decoded sum is as close to the true sum as the grid
    allows (largest-remainder rounding, see round_rows_to_sums); each value is then off by less than one step
    instead of half a step. Used for attention, whose rows must keep summing to 1 on long texts.
    The fields `levels` and `layout` are written only when they differ from the defaults, so arrays encoded
    without them keep their bytes.
    Raises ValueError on NaN/infinite values, an unknown dtype or layout, or levels outside 1..2^bits - 1.
    """
    array = np.asarray(values)
    if array.dtype != np.float32:      # float32 (the model's) is kept as is and widened a block at a time below
        array = array.astype(np.float64)
    if not np.all(np.isfinite(array)):
        raise ValueError("cannot encode NaN or infinite values")
    if layout not in LAYOUTS or (layout == "planes" and dtype != "uint16"):
        raise ValueError(f"unsupported layout {layout!r} for dtype {dtype!r}")
    lo = float(array.min()) if lo is None and array.size else float(lo or 0.0)
    hi = float(array.max()) if hi is None and array.size else float(hi if hi is not None else 1.0)
    extra: dict[str, Any] = {}
    if dtype == "float32":
        raw = np.asarray(array, dtype=np.float64).astype(_NUMPY["float32"]).tobytes()
    elif dtype in _LEVELS:
        steps = _LEVELS[dtype] if levels is None else int(levels)
        if not 1 <= steps <= _LEVELS[dtype]:
            raise ValueError(f"levels must be between 1 and {_LEVELS[dtype]} for {dtype}, not {levels!r}")
        if steps != _LEVELS[dtype]:
            extra["levels"] = steps
        span = hi - lo
        quantized = np.empty(array.shape, dtype=_NUMPY[dtype])
        # a block of the first axis at a time (one layer of attention [L, H, N, N]): the float64 temporaries stay
        # the size of one block, and every row is rounded as it would be in one piece (rows never span blocks)
        blocks = [(Ellipsis,)] if array.ndim < 2 else [(i,) for i in range(array.shape[0])]
        for block in blocks:
            part = np.asarray(array[block], dtype=np.float64)
            scaled = np.zeros_like(part) if span <= 0 else (np.clip(part, lo, hi) - lo) / span * steps
            rounded = round_rows_to_sums(scaled) if keep_row_sums and array.ndim else np.rint(scaled)
            quantized[block] = np.clip(rounded, 0, steps)
        if layout == "planes":
            pairs = quantized.reshape(-1).view(np.uint8).reshape(-1, 2)   # little-endian: [low, high]
            raw = pairs[:, 1].tobytes() + pairs[:, 0].tobytes()
            extra["layout"] = layout
        else:
            raw = quantized.tobytes()
    else:
        raise ValueError(f"unsupported dtype {dtype!r}")
    return {"dtype": dtype, "shape": list(array.shape), "min": _round(lo), "max": _round(hi), **extra,
            "data": base64.b64encode(zlib.compress(raw, 9)).decode("ascii")}


def round_rows_to_sums(scaled: np.ndarray, *, chunk: int = 1 << 20) -> np.ndarray:
    """Round each row (last axis) of non-negative `scaled` to integers whose sum is the row's sum rounded to nearest.

    Largest-remainder (Hamilton) apportionment: every value goes down to its floor, then the k values with the
    largest fractional parts go up by one, k being what the row still lacks. Each result is the floor or the ceiling
    of its input, so it is off by less than 1; among such roundings with that sum, this one has the smallest maximum
    error. Ties go to the earlier position, so the result is deterministic. Returns float64 of the same shape.
    """
    scaled = np.asarray(scaled, dtype=np.float64)
    if scaled.ndim == 0 or scaled.size == 0:
        return np.rint(scaled)
    n = scaled.shape[-1]
    flat = scaled.reshape(-1, n)
    out = np.empty_like(flat)
    step = max(1, chunk // max(n, 1))
    for start in range(0, flat.shape[0], step):
        rows = flat[start:start + step]
        floor = np.floor(rows)
        remainder = rows - floor
        missing = np.rint(rows.sum(axis=1)) - floor.sum(axis=1)
        order = np.argsort(-remainder, axis=1, kind="stable")
        rank = np.empty_like(order)
        np.put_along_axis(rank, order, np.broadcast_to(np.arange(n), order.shape), axis=1)
        out[start:start + step] = floor + (rank < missing[:, None])
    return out.reshape(scaled.shape)


def decode_array(encoded: dict) -> np.ndarray:
    """The inverse of encode_array (used by tests and tools; the browser has its own decoder). float64 values in
    `shape`; raises ValueError when the data does not fit the shape or the dtype/layout/levels are unknown."""
    dtype = encoded["dtype"]
    if dtype not in _NUMPY:
        raise ValueError(f"unknown array dtype {dtype!r}")
    layout = encoded.get("layout", "interleaved")
    if layout not in LAYOUTS or (layout == "planes" and dtype != "uint16"):
        raise ValueError(f"unknown array layout {layout!r} for dtype {dtype!r}")
    raw = zlib.decompress(base64.b64decode(encoded["data"]))
    if layout == "planes":
        half = len(raw) // 2
        if len(raw) % 2:
            raise ValueError("a planes array needs an even number of bytes")
        raw = np.column_stack([np.frombuffer(raw[half:], np.uint8), np.frombuffer(raw[:half], np.uint8)]).tobytes()
    values = np.frombuffer(raw, dtype=_NUMPY[dtype]).astype(np.float64)
    expected = int(np.prod(encoded["shape"])) if encoded["shape"] else 1
    if values.size != expected:
        raise ValueError(f"array holds {values.size} values, shape {encoded['shape']} needs {expected}")
    if dtype in _LEVELS:
        steps = encoded.get("levels", _LEVELS[dtype])
        if not isinstance(steps, int) or not 1 <= steps <= _LEVELS[dtype]:
            raise ValueError(f"array levels must be an integer from 1 to {_LEVELS[dtype]}, not {steps!r}")
        values = encoded["min"] + values * (encoded["max"] - encoded["min"]) / steps
    return values.reshape(encoded["shape"])


def max_error(encoded: dict) -> float:
    """The worst-case absolute quantization error of an encoded array rounded to nearest (half a step); arrays
    encoded with keep_row_sums can be off by up to a whole step."""
    if encoded["dtype"] == "float32":
        return 0.0
    return (encoded["max"] - encoded["min"]) / encoded.get("levels", _LEVELS[encoded["dtype"]]) / 2


def _round(value: float) -> float:
    # Bounds are stored exactly as float32 would print them; keeps the JSON short and stable.
    return float(np.float32(value))
