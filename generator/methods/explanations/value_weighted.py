"""Value-weighted attention (Kobayashi, Kuribayashi, Yokoi & Inui 2020, "Attention is Not Only a Weight"): the size
of what each key token actually adds to a query's attention output, not the bare weight.

A head's output at query i is sum_j alpha_ij v_j, and the block adds it through the output projection, so key j
contributes the vector alpha^h_ij f^h(x_j) with f^h(x_j) = v^h_j W_O^h (v includes the value bias). Summed over the
heads, token j's contribution to query i is the vector sum_h alpha^h_ij f^h(x_j); its L2 norm is the value-weighted
attention ||alpha f(x)|| of the paper (the output bias, shared by all j, is left out). Under grouped-query attention
query head h reads key/value head h // (H / H_kv).
"""

from __future__ import annotations

import numpy as np


def transformed_values(values: np.ndarray, output_weight: np.ndarray) -> np.ndarray:
    """f^h(x_j) = v^{kv(h)}_j W_O^h: values [H_kv, N, d_head], output_weight [H, d_head, d_model] -> [H, N, d_model]."""
    values = np.asarray(values, dtype=np.float64)
    output_weight = np.asarray(output_weight, dtype=np.float64)
    if values.ndim != 3 or output_weight.ndim != 3 or values.shape[2] != output_weight.shape[1]:
        raise ValueError(f"values [H_kv, N, d_head] and W_O [H, d_head, d_model] do not fit: {values.shape}, "
                         f"{output_weight.shape}")
    heads, kv_heads = output_weight.shape[0], values.shape[0]
    if heads % kv_heads:
        raise ValueError(f"{heads} query heads cannot share {kv_heads} key/value heads evenly")
    per_query_head = np.repeat(values, heads // kv_heads, axis=0)
    return np.einsum("hnd,hde->hne", per_query_head, output_weight)


def value_weighted_norms(weights: np.ndarray, values: np.ndarray, output_weight: np.ndarray) -> np.ndarray:
    """||sum_h w^h_rj f^h(x_j)||_2 for every row r and key j: [R, N].

    weights [H, R, N]: attention rows of one layer (rows of queries, or any fixed mix of them such as their mean for
    a mean-pooled output: f^h(x_j) does not depend on the query, so a mix of rows mixes the contributions);
    values [H_kv, N, d_head]; output_weight [H, d_head, d_model].
    """
    weights = np.asarray(weights, dtype=np.float64)
    transformed = transformed_values(values, output_weight)
    if weights.ndim != 3 or weights.shape[0] != transformed.shape[0] or weights.shape[2] != transformed.shape[1]:
        raise ValueError(f"attention rows {weights.shape} do not fit {transformed.shape[0]} heads and "
                         f"{transformed.shape[1]} tokens")
    return np.linalg.norm(np.einsum("hrj,hje->rje", weights, transformed), axis=-1)
