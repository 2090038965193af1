"""Scores: the method names, the numpy result containers, and the way from per-dimension attributions to the token
scores a reader sees (L2 norm per token, normalised to sum 1). No torch import: tensors arriving here are converted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from ...attribution.shares import causal_mask, completeness_gap, normalise, token_norms

if TYPE_CHECKING:
    import torch

    from ...attribution.integrated import IGTensors

GRADIENT_X_INPUT = "gradient_x_input"
GRADIENT_NORM = "gradient_norm"
INTEGRATED_GRADIENTS = "integrated_gradients"
METHODS = (GRADIENT_X_INPUT, GRADIENT_NORM, INTEGRATED_GRADIENTS)


def check_methods(methods: object) -> tuple[str, ...]:
    chosen = tuple(methods) if isinstance(methods, (list, tuple)) else (methods,)
    unknown = [m for m in chosen if m not in METHODS]
    if not chosen or unknown:
        raise ValueError(f"methods must be a non-empty subset of {', '.join(map(repr, METHODS))}, got {methods!r}")
    return tuple(m for m in METHODS if m in chosen)


def frozen(array: np.ndarray, dtype: type = np.float32) -> np.ndarray:
    out = np.array(array, dtype=dtype, copy=True)
    out.flags.writeable = False
    return out


@dataclass(frozen=True)
class CausalSaliency:
    """Input saliency of every generated token of a causal LM.

    Row g is the token at position p = n_prompt + g; its score f_p is the logit (target "logit") or softmax
    probability (target "probability") of input_ids[p] predicted at position p - 1. Columns are input positions i;
    scores are >= 0, zero for i >= p, and each row sums to 1 over i < p.
    """

    target: str
    n_prompt: int
    input_ids: np.ndarray                      # int64 [N]
    scores: dict[str, np.ndarray]              # method name -> float32 [G, N]
    target_values: np.ndarray                  # float32 [G]: f_p at the input
    ig_steps: int
    ig_method: str
    # Integrated gradients (None when the method was not asked for); zero-embedding baseline.
    ig_baseline_values: np.ndarray | None = None     # float32 [G]: f_p(baseline)
    ig_attribution_sums: np.ndarray | None = None    # float32 [G]: sum over tokens and dims of the attributions
    ig_gap: np.ndarray | None = None                 # float32 [G]: |sum - (f(x) - f(0))| / |f(x) - f(0)|
    ig_token_attributions: np.ndarray | None = None  # float32 [G, N]: signed, summed over the embedding dim
    raw: dict[str, np.ndarray] = field(default_factory=dict)  # method -> float32 [G, N, D], only with keep_raw

    @property
    def n_tokens(self) -> int:
        return int(self.input_ids.shape[0])

    @property
    def n_generated(self) -> int:
        return self.n_tokens - self.n_prompt

    @property
    def positions(self) -> np.ndarray:
        """Sequence position p of each row."""
        return np.arange(self.n_prompt, self.n_tokens)


@dataclass(frozen=True)
class SimilaritySaliency:
    """Saliency of the cosine similarity of two sentence embeddings (mean-pooled last hidden states).

    Scores of sentence A and sentence B are normalised together: all of them are >= 0 and together sum to 1, so
    the split of the mass between the two sentences is meaningful.
    """

    input_ids_a: np.ndarray                    # int64 [Na]
    input_ids_b: np.ndarray                    # int64 [Nb]
    similarity: float                          # cosine(mean_pool(h_A), mean_pool(h_B))
    scores_a: dict[str, np.ndarray]            # method -> float32 [Na]
    scores_b: dict[str, np.ndarray]            # method -> float32 [Nb]
    ig_steps: int
    ig_method: str
    ig_baseline_value: float | None = None     # similarity with both sentences' embeddings at zero
    ig_attribution_sum: float | None = None    # over both sentences
    ig_gap: float | None = None
    ig_token_attributions_a: np.ndarray | None = None  # float32 [Na], signed
    ig_token_attributions_b: np.ndarray | None = None  # float32 [Nb], signed
    raw_a: dict[str, np.ndarray] = field(default_factory=dict)  # method -> float32 [Na, D], only with keep_raw
    raw_b: dict[str, np.ndarray] = field(default_factory=dict)


# -- assembly from gradient tensors ----------------------------------------------------------------------------------
def _np(t: "torch.Tensor") -> np.ndarray:
    return t.detach().cpu().double().numpy()


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
