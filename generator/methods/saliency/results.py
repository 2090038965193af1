"""Result containers: numpy only (no torch), float32 scores, read-only arrays."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

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
