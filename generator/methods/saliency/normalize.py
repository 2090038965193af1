"""From per-dimension attributions [..., N, D] to displayed token scores: L2 norm per token, normalised to sum 1."""

from __future__ import annotations

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
