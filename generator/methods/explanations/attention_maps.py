"""Raw attention and attention rollout, from the captured attention weights (numpy, float64).

- Raw attention: the last layer's weights averaged over heads, A_L = mean_h A[L, h] (rows sum to 1).
- Rollout (Abnar & Zuidema 2020, "Quantifying Attention Flow in Transformers"): the residual connection is modelled
  by adding the identity, Â_l = 0.5 mean_h A[l, h] + 0.5 I with rows renormalised (their released code; the paper
  writes A + I, then normalises, which is the same for row-stochastic A), and the layers are multiplied:
  R = Â_L ··· Â_1. Row i of R (sums to 1) says how much of position i's top-layer state traces back to each input
  token. `rollout_layers` keeps every partial product P_l = Â_l ··· Â_1, whose row i is the same reading for the
  state at layer l: the layer-by-layer map (row L is R).
"""

from __future__ import annotations

import numpy as np


def check_attentions(attentions: np.ndarray) -> np.ndarray:
    """attentions [L, H, N, N] as float64; ValueError for another shape."""
    weights = np.asarray(attentions, dtype=np.float64)
    if weights.ndim != 4 or weights.shape[-1] != weights.shape[-2] or 0 in weights.shape:
        raise ValueError(f"attentions must have shape [layers, heads, N, N], got {weights.shape}")
    return weights


def raw_attention(attentions: np.ndarray) -> np.ndarray:
    """The last layer's attention averaged over heads: [N, N], row i over keys j."""
    return check_attentions(attentions)[-1].mean(axis=0)


def residual_attention(attentions: np.ndarray) -> np.ndarray:
    """Â_l = 0.5 mean_h A_l + 0.5 I, rows renormalised: [L, N, N] (the capacities of rollout and flow)."""
    weights = check_attentions(attentions).mean(axis=1)
    augmented = 0.5 * weights + 0.5 * np.eye(weights.shape[-1])
    return augmented / augmented.sum(axis=-1, keepdims=True)


def rollout_layers(attentions: np.ndarray) -> np.ndarray:
    """P_l = Â_l ··· Â_1 for l = 1..L: [L, N, N]; P[-1] is the rollout R."""
    augmented = residual_attention(attentions)
    products = np.empty_like(augmented)
    product = np.eye(augmented.shape[-1])
    for layer, matrix in enumerate(augmented):
        product = matrix @ product
        products[layer] = product
    return products


def rollout(attentions: np.ndarray) -> np.ndarray:
    """R = Â_L ··· Â_1: [N, N], row-stochastic."""
    return rollout_layers(attentions)[-1]
