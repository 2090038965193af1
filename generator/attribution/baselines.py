"""Baselines of integrated gradients: the input that stands for "nothing" at the start of the path.

IG_i = (x_i - b_i) * integral_0^1 df/dx_i(b + alpha (x - b)) d alpha (Sundararajan et al. 2017); completeness
reads sum_i IG_i = f(x) - f(b). Three baselines, by name:

- "zero": every token embedding set to 0 (Captum's default). On a model without absolute position embeddings and
  with RMSNorm (Llama, SmolLM2) this is degenerate: f(alpha x) stays of the order of f(x) down to alpha = 1e-30 and
  drops to f(0) only at exactly 0, so the path starts with a jump no quadrature integrates
  (benchmarks/ig_completeness.py).
- "neutral": every token replaced by the model's neutral token (end-of-text for a causal model, [MASK] for an
  encoder: `generator.capture.neutral_token`), except the kept positions: the first token (the attention sink of a
  causal model) and special tokens ([CLS], [SEP]), which keep their own embeddings.
- "mean": every token replaced by the mean of the embedding table, the same positions kept.

A kept position has x_i - b_i = 0, so its attribution is 0: under "neutral" and "mean" the first token and the
special tokens get no share.
"""

from __future__ import annotations

from typing import Any, Sequence

BASELINES = ("zero", "neutral", "mean")
DESCRIPTIONS = {
    "zero": "all-zero token embeddings",
    "neutral": "every token but the first and the special ones replaced by {token}",
    "mean": "every token but the first and the special ones replaced by the mean token embedding",
}
OPTION_DESCRIPTION = ("Where integrated gradients' path starts: all-zero embeddings, the neutral token, or the mean "
                      "embedding (the first and special tokens kept).")


def describe(name: str, neutral_text: str | None) -> str:
    """The baseline in words, naming the neutral token where it is used. Raises KeyError for an unknown name."""
    return DESCRIPTIONS[name].format(token=neutral_text)


def check_baseline(name: Any, neutral_id: int | None = None) -> str:
    """The baseline name, checked; ValueError for an unknown one, or "neutral" without a neutral token."""
    if name not in BASELINES:
        raise ValueError(f"baseline must be one of {', '.join(map(repr, BASELINES))}, got {name!r}")
    if name == "neutral" and neutral_id is None:
        raise ValueError("the 'neutral' baseline needs a neutral token, and this tokenizer has no end-of-text, "
                         "mask or padding token")
    return name


def kept_positions(special: Sequence[bool]) -> list[bool]:
    """Positions a "neutral" or "mean" baseline leaves as they are: the first token and every special token."""
    return [index == 0 or bool(flag) for index, flag in enumerate(special)]


def baseline_embeddings(model: Any, x: Any, name: str, *, neutral_id: int | None = None,
                        keep: Sequence[bool] | None = None) -> Any:
    """The baseline b [N, D] for token embeddings x [N, D] (a torch tensor, the model's input embeddings).

    `keep` (length N) marks positions that keep their embedding under "neutral" and "mean" (default: the first);
    "zero" replaces every position. Raises ValueError for an unknown name or a "neutral" without `neutral_id`.
    """
    import torch

    from .gradients import embedding_table

    name = check_baseline(name, neutral_id)
    if name == "zero":
        return torch.zeros_like(x)
    table = embedding_table(model).weight
    with torch.no_grad():
        filler = table[int(neutral_id)] if name == "neutral" else table.mean(dim=0)
        baseline = filler.to(x.dtype).expand_as(x).clone()
        kept = torch.tensor(list(keep) if keep is not None else [True] + [False] * (x.shape[0] - 1), dtype=torch.bool)
        if kept.shape[0] != x.shape[0]:
            raise ValueError(f"keep has {kept.shape[0]} entries for {x.shape[0]} tokens")
        baseline[kept] = x[kept]
    return baseline


def ig_path(x: Any, baseline: Any | None) -> tuple[Any | None, Any]:
    """(start b, direction x - b) of IG's straight path b + alpha (x - b), for tensors [..., N, D]. The start is None
    for the zero baseline (None), whose nodes are then alpha * x exactly. Raises ValueError on a shape mismatch."""
    if baseline is None:
        return None, x
    if baseline.shape != x.shape:
        raise ValueError(f"the baseline has shape {tuple(baseline.shape)}, the embeddings {tuple(x.shape)}")
    baseline = baseline.to(dtype=x.dtype, device=x.device)
    return baseline, x - baseline


def baseline_for(model: Any, input_ids: Any, name: str, *, neutral_id: int | None, special: Sequence[bool]) -> Any:
    """IG's baseline embeddings [N, D] for the 1-D ids `input_ids` (one sequence), or None for "zero" (the path
    alpha * x). `special` (length N) flags the special tokens, which "neutral" and "mean" keep with the first token.
    Raises ValueError as `baseline_embeddings`."""
    if check_baseline(name, neutral_id) == "zero":
        return None
    from .gradients import token_embeddings

    return baseline_embeddings(model, token_embeddings(model, input_ids), name, neutral_id=neutral_id,
                               keep=kept_positions(special))
