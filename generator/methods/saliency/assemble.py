"""From raw gradient tensors to the numpy result containers (shared by the batched and the reference code)."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch

from .normalize import causal_mask, completeness_gap, normalise, token_norms
from .results import (GRADIENT_NORM, GRADIENT_X_INPUT, INTEGRATED_GRADIENTS, CausalSaliency, SimilaritySaliency,
                      frozen)


class IGTensors(NamedTuple):
    attributions: torch.Tensor  # [..., N, D] = x * sum_k w_k grad f(alpha_k x)
    f_input: torch.Tensor       # f(x)
    f_baseline: torch.Tensor    # f(0)


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().to("cpu", torch.float64).numpy()


def raw_attributions(methods: tuple[str, ...], grads: torch.Tensor | None, x: torch.Tensor,
                     ig: IGTensors | None) -> dict[str, np.ndarray]:
    """Per-dimension attributions in float64: gradient x input, gradient, IG."""
    raw: dict[str, np.ndarray] = {}
    if GRADIENT_X_INPUT in methods:
        raw[GRADIENT_X_INPUT] = _np(grads) * _np(x)
    if GRADIENT_NORM in methods:
        raw[GRADIENT_NORM] = _np(grads)
    if INTEGRATED_GRADIENTS in methods:
        raw[INTEGRATED_GRADIENTS] = _np(ig.attributions)
    return raw


def assemble_causal(input_ids: torch.Tensor, n_prompt: int, target: str, ig_steps: int, ig_method: str,
                    methods: tuple[str, ...], grads: torch.Tensor | None, x: torch.Tensor,
                    f_input: torch.Tensor, ig: IGTensors | None, keep_raw: bool) -> CausalSaliency:
    """grads [G, N, D] = df_p/dx_i, x [N, D], f_input [G]."""
    n_tokens = int(input_ids.shape[0])
    valid = causal_mask(n_prompt, n_tokens)
    raw = raw_attributions(methods, grads, x, ig)
    scores = {name: frozen(normalise(token_norms(values), valid)) for name, values in raw.items()}
    extra = {}
    if ig is not None:
        token_sums = np.where(valid, raw[INTEGRATED_GRADIENTS].sum(axis=-1), 0.0)
        total = token_sums.sum(axis=-1)
        f_x, f_0 = _np(ig.f_input), _np(ig.f_baseline)
        extra = dict(ig_baseline_values=frozen(f_0), ig_attribution_sums=frozen(total),
                     ig_gap=frozen(completeness_gap(total, f_x, f_0)), ig_token_attributions=frozen(token_sums))
    return CausalSaliency(
        target=target, n_prompt=n_prompt, input_ids=frozen(input_ids.cpu().numpy(), np.int64), scores=scores,
        target_values=frozen(_np(f_input)), ig_steps=ig_steps, ig_method=ig_method,
        raw={name: frozen(values) for name, values in raw.items()} if keep_raw else {}, **extra)


def assemble_similarity(ids_a: torch.Tensor, ids_b: torch.Tensor, similarity: torch.Tensor, ig_steps: int,
                        ig_method: str, methods: tuple[str, ...], grads: tuple[torch.Tensor, torch.Tensor] | None,
                        xs: tuple[torch.Tensor, torch.Tensor], igs: tuple[IGTensors, IGTensors] | None,
                        keep_raw: bool) -> SimilaritySaliency:
    """grads and xs: ([Na, D], [Nb, D]); the IG f values are scalars shared by both sentences."""
    n_a = int(ids_a.shape[0])
    raws = [raw_attributions(methods, grads[k] if grads else None, xs[k], igs[k] if igs else None) for k in (0, 1)]
    scores_a, scores_b = {}, {}
    for name in raws[0]:
        joint = normalise(np.concatenate([token_norms(raws[0][name]), token_norms(raws[1][name])]))
        scores_a[name], scores_b[name] = frozen(joint[:n_a]), frozen(joint[n_a:])
    extra = {}
    if igs is not None:
        sums = [raws[k][INTEGRATED_GRADIENTS].sum(axis=-1) for k in (0, 1)]
        total = float(sums[0].sum() + sums[1].sum())
        f_x, f_0 = float(igs[0].f_input), float(igs[0].f_baseline)
        extra = dict(ig_baseline_value=f_0, ig_attribution_sum=total,
                     ig_gap=float(completeness_gap(np.array(total), np.array(f_x), np.array(f_0))),
                     ig_token_attributions_a=frozen(sums[0]), ig_token_attributions_b=frozen(sums[1]))
    return SimilaritySaliency(
        input_ids_a=frozen(ids_a.cpu().numpy(), np.int64), input_ids_b=frozen(ids_b.cpu().numpy(), np.int64),
        similarity=float(similarity), scores_a=scores_a, scores_b=scores_b, ig_steps=ig_steps, ig_method=ig_method,
        raw_a={n: frozen(v) for n, v in raws[0].items()} if keep_raw else {},
        raw_b={n: frozen(v) for n, v in raws[1].items()} if keep_raw else {}, **extra)
