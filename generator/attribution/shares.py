"""From attributions to the shares a reader sees, and the completeness check of integrated gradients (numpy only).

A share is a non-negative score per input token, normalised so that the scores of one explained output sum to 1
over the inputs it may depend on.
"""

from __future__ import annotations

import statistics
from typing import Any

import numpy as np


def token_norms(vectors: np.ndarray) -> np.ndarray:
    """||v_i||_2 over the last (embedding) axis: [..., N, D] -> [..., N], in float64."""
    return np.linalg.norm(np.asarray(vectors, dtype=np.float64), axis=-1)


def normalise(norms: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
    """s_i = n_i / sum_j n_j over the last axis, counting only `valid` entries (others are set to 0).

    Norms are non-negative, so scores are too, and each row sums to 1. A row whose valid norms are all zero (no
    gradient reached the inputs) stays all zero rather than inventing a distribution.
    """
    norms = np.asarray(norms, dtype=np.float64)
    if valid is not None:
        norms = np.where(valid, norms, 0.0)
    total = norms.sum(axis=-1, keepdims=True)
    return np.divide(norms, total, out=np.zeros_like(norms), where=total > 0)


def causal_mask(n_prompt: int, n_tokens: int) -> np.ndarray:
    """[G, N] booleans: row g (the token at position p = n_prompt + g) may depend on inputs i < p only."""
    positions = np.arange(n_prompt, n_tokens)[:, None]
    return np.arange(n_tokens)[None, :] < positions


def completeness_gap(attribution_sum: np.ndarray, f_input: np.ndarray, f_baseline: np.ndarray) -> np.ndarray:
    """|sum attr - (f(x) - f(baseline))| / |f(x) - f(baseline)|; 0 when both are 0, inf when only the change is 0."""
    attribution_sum = np.asarray(attribution_sum, dtype=np.float64)
    change = np.asarray(f_input, dtype=np.float64) - np.asarray(f_baseline, dtype=np.float64)
    error = np.abs(attribution_sum - change)
    with np.errstate(divide="ignore", invalid="ignore"):
        gap = error / np.abs(change)
    return np.where(change == 0, np.where(error == 0, 0.0, np.inf), gap)


def gap_metrics(gap: Any, prefix: str) -> dict[str, float]:
    """Tracker metrics of a section's completeness gaps (a list per output, null where infinite, or one number):
    `<prefix>_max`, `_median` and `_infinite` (the count of nulls) for a list, `<prefix>` for one number; {} when
    there is none."""
    values = [value for value in (gap if isinstance(gap, list) else [gap]) if isinstance(value, (int, float))]
    if not values:
        return {}
    if not isinstance(gap, list):
        return {prefix: float(values[0])}
    return {f"{prefix}_max": float(max(values)), f"{prefix}_median": float(statistics.median(values)),
            f"{prefix}_infinite": float(len(gap) - len(values))}
