"""Sparse rows: an attention layer kept as each row's largest weights, the rest of each row summed and reported.

Used for the long texts' attention layers that are too big as full matrices (methods/attention.py says when). An
ARRAY with `"layout": "sparse-rows"`, dtype uint16, `shape` [H, R, C] (the dense matrices it stands for), grid
`levels` 65535 over [0, 1], `keep` (the share of each row's mass kept, 0.99) and `kept` (K, the entries kept in all):

    data = base64(zlib(planes(counts [H * R], rest [H * R], columns [K], values [K])))

all uint16, in byte planes (every high byte, then every low byte: arrays.pack). Row r of head h keeps `counts` of
its entries: those of largest weight, fewest first, until their sum reaches `keep` of the row's sum (ties: the
earlier column). `columns` are the kept entries' columns in ascending order within the row, each written as the gap
from the previous kept column of the row (the first as its column). `values` are the kept weights and `rest` the
row's left-out mass, rounded together with largest remainders (arrays.round_rows_to_sums) so that each row's
values plus its rest are exactly `levels` (1).

Bounds (tests/test_long_attention.py): the kept entries hold at least `keep` of the row's true mass; a decoded
kept weight is within 1/65535 of the model's; a left-out weight decodes to 0 and is at most the row's true left-out
mass, which is within 1/65535 of `rest` (itself at most 1 - keep + 1/65535); so every decoded weight is within
rest + 1/65535 of the model's (0.01 + 2/65535 at most).
"""

from __future__ import annotations

import base64
import zlib

import numpy as np

from .arrays import pack, round_rows_to_sums

LEVELS = 65535
KEEP = 0.99
# zlib level: on a 1,024-token SmolLM2 layer, 9 took 6.6x the CPU time of 6 for 2.8 % fewer bytes (benchmarks/
# RESULTS.md, "Sparse rows: sort and zlib level"); these layers are fetched one at a time, when shown.
LEVEL = 6
ROWS_AT_ONCE = 1 << 19     # values of a block of rows encoded at once (memory: a few float64 copies of it)


def encode_sparse_rows(weights: np.ndarray, keep: float = KEEP, at_least: float | None = None) -> dict:
    """float [H, R, C] (rows non-negative, summing to 1) -> the sparse-rows ARRAY (module docstring). A block of
    rows at a time (ROWS_AT_ONCE values), so the temporaries stay a few megabytes whatever the layer's size.
    `at_least`: keep every weight of at least this instead (the head view's lines, which it draws only from 0.01:
    written as `"at_least"` in place of `"keep"`), the rest of each row summed as before."""
    weights = np.asarray(weights)
    heads, rows, cols = weights.shape
    counts = np.zeros((heads, rows), dtype=np.uint16)
    rest = np.zeros((heads, rows), dtype=np.uint16)
    columns, values = [], []
    step = max(1, ROWS_AT_ONCE // max(cols, 1))
    for head in range(heads):
        for start in range(0, rows, step):          # a block of rows at a time: temporaries of ~ROWS_AT_ONCE values
            a = np.asarray(weights[head, start:start + step], dtype=np.float64)
            kept, count = _kept(a, keep, at_least)
            r, c = np.nonzero(kept)                                          # row-major: columns ascending per row
            firsts = np.concatenate([[0], np.cumsum(count)[:-1]]).astype(np.int64)
            slot = np.arange(len(r)) - firsts[r]                             # the entry's place among its row's kept
            # Largest remainders (arrays.round_rows_to_sums) over each row's kept values in column order, then its
            # rest: the left-out entries are zeros, which never gain a unit, so this rounds exactly as the whole row.
            everything = np.arange(a.shape[0])
            compact = np.zeros((a.shape[0], int(count.max(initial=0)) + 1))
            compact[r, slot] = a[r, c] * LEVELS
            compact[everything, count] = np.clip(
                a.sum(axis=1) - (np.where(kept, a, 0.0) * LEVELS).sum(axis=1) / LEVELS, 0, None) * LEVELS
            rounded = round_rows_to_sums(compact).astype(np.int64)
            gaps = np.diff(c, prepend=0)
            firsts = firsts[count > 0]
            gaps[firsts] = c[firsts]                                         # each row's first column as it is
            counts[head, start:start + step] = count
            rest[head, start:start + step] = rounded[everything, count]
            columns.append(gaps.astype(np.uint16))
            values.append(rounded[r, slot].astype(np.uint16))
    stream = np.concatenate([counts.reshape(-1), rest.reshape(-1), *columns, *values]).astype(np.uint16)
    return {"dtype": "uint16", "shape": [heads, rows, cols], "min": 0.0, "max": 1.0, "layout": "sparse-rows",
            **({"keep": keep} if at_least is None else {"at_least": at_least}), "kept": int(sum(len(c) for c in columns)),
            "data": base64.b64encode(zlib.compress(pack(stream, "planes"), LEVEL)).decode("ascii")}


def _kept(a: np.ndarray, keep: float, at_least: float | None) -> tuple[np.ndarray, np.ndarray]:
    """(bool [R, C] the kept entries, int [R] their count per row) of float64 rows `a` (encode_sparse_rows). With
    `keep`: the fewest largest weights whose sum reaches `keep` of the row's sum, ties going to the earlier column.
    One sort of the values (no argsort): the row's k-th largest value v is the threshold; every weight above v is
    kept, and of those equal to v the earliest columns, as many as k still needs."""
    if at_least is not None:
        kept = a >= at_least
        return kept, kept.sum(axis=1)
    cols = a.shape[1]
    descending = np.sort(a, axis=1)[:, ::-1]
    mass = np.cumsum(descending, axis=1)
    count = np.minimum(cols, (mass < keep * a.sum(axis=1)[:, None]).sum(axis=1) + 1)
    threshold = descending[np.arange(a.shape[0]), count - 1][:, None]
    above = a > threshold
    tied = a == threshold
    kept = above | (tied & (np.cumsum(tied, axis=1) <= (count - above.sum(axis=1))[:, None]))
    return kept, count


def decode_sparse_rows(encoded: dict) -> tuple[np.ndarray, np.ndarray]:
    """(dense float64 [H, R, C] with left-out weights 0, rest float64 [H, R]) of a sparse-rows ARRAY. Raises
    ValueError when the data does not fit its shape and `kept`."""
    heads, rows, cols = encoded["shape"]
    kept = int(encoded["kept"])
    raw = zlib.decompress(base64.b64decode(encoded["data"]))
    n = 2 * heads * rows + 2 * kept
    if len(raw) != 2 * n:
        raise ValueError(f"sparse-rows data of {len(raw)} bytes does not fit shape {encoded['shape']} with {kept} kept")
    stream = (np.frombuffer(raw[:n], np.uint8).astype(np.uint16) << 8) | np.frombuffer(raw[n:], np.uint8)
    counts = stream[: heads * rows].astype(np.int64)
    rest = stream[heads * rows: 2 * heads * rows] / LEVELS
    gaps = stream[2 * heads * rows: 2 * heads * rows + kept].astype(np.int64)
    values = stream[2 * heads * rows + kept:] / LEVELS
    if counts.sum() != kept:
        raise ValueError(f"sparse-rows counts add up to {counts.sum()}, not {kept}")
    row_of = np.repeat(np.arange(heads * rows), counts)
    starts = np.minimum(np.concatenate([[0], np.cumsum(counts)[:-1]]), max(kept - 1, 0))
    # a row's columns: the running sum of its gaps (its first gap is its first column)
    cum = np.cumsum(gaps)
    column = cum - np.repeat(cum[starts] - gaps[starts], counts) if kept else cum
    dense = np.zeros((heads * rows, cols))
    dense[row_of, column] = values
    return dense.reshape(heads, rows, cols), rest.reshape(heads, rows)
