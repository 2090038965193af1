"""The "saliency" payload section: input saliency of generated tokens (causal models) or of a sentence pair's cosine
similarity (encoders), for gradient x input, gradient norm and integrated gradients.

Causal model with `generate: G` (N tokens, the first n_prompt the prompt):

    {"kind": "causal", "target": "logit" | "probability", "ig_steps": 50, "ig_method": "gausslegendre",
     "methods": {"gradient_x_input": ARRAY uint16 [G, N] over [0, 1], "gradient_norm": ..., "integrated_gradients": ...},
     "target_values": [G], "ig_baseline_values": [G], "ig_attribution_sums": [G], "ig_gap": [G]}

Row g scores the token at position p = n_prompt + g against every input position i < p (zero for i >= p); each
row sums to 1. `target_values` is the score f_p (the chosen token's logit or probability), `ig_baseline_values`
f_p at the baseline, `ig_attribution_sums` the sum of all integrated-gradients attributions, and
`ig_gap` = |sum - (f(x) - f(b))| / |f(x) - f(b)| (null where it is infinite). `ig_baseline` names IG's baseline
b ("zero", "neutral" or "mean", `baselines.py`) and `ig_baseline_text` says in words what it is.

Encoder with `pair: [A, B]` (each sentence tokenised on its own, as a bi-encoder reads it):

    {"kind": "similarity", "similarity": 0.6406, "ig_steps": 50, "ig_method": "gausslegendre",
     "tokens_a": [...], "tokens_b": [...],
     "methods": {"gradient_x_input": ARRAY uint16 [Na + Nb] over [0, 1], ...},
     "ig_baseline_value": 0.9985, "ig_attribution_sum": -0.358, "ig_gap": 0.00001}

A's tokens come first; the scores of both sentences together sum to 1. The tokens are this section's own: they
differ from the payload's `tokens`, which are the pair as one sequence ([CLS] A [SEP] B [SEP]).

Why uint16: a share is shown to 0.1 % (0.001); uint8 over [0, 1] is off by up to 1/510 = 0.002, coarser than
that and a tenth of a typical share on a 20-token prompt. uint16 is off by at most 7.7e-6, and the whole section
of a 30 x 10 example is still a few kilobytes.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from ...attribution.options import Baseline, Target, baseline_field, ig_steps_field, target_field
from ...payload import encode_array
from ..options import Options
from ..registry import Method, Needs
from .scores import METHODS

if TYPE_CHECKING:
    from ...capture import Capture
    from ...models.facts import ModelInfo
    from ...spec import SpecBase

DTYPE = "uint16"


class SaliencyOptions(Options):
    """Options of the saliency method, as authors write them under `saliency:`."""

    target: Target = target_field()
    ig_steps: int = ig_steps_field()
    baseline: Baseline = baseline_field("zero")


def _number(value: Any, digits: int = 6) -> float | None:
    """A JSON-safe float with `digits` significant digits (stable bytes); None for inf/NaN."""
    value = float(value)
    if not math.isfinite(value):
        return None
    return float(f"{value:.{digits}g}")


def _numbers(values: Any) -> list[float | None]:
    return [_number(v) for v in np.asarray(values, dtype=np.float64).ravel()]


def _methods(scores: dict[str, np.ndarray]) -> dict[str, dict]:
    return {name: encode_array(scores[name], dtype=DTYPE, lo=0.0, hi=1.0) for name in METHODS if name in scores}


def check(spec: "SpecBase", model: "ModelInfo", n_tokens: int | None = None) -> None:
    """Model-dependent rules (`attribution.rules.check_explained_output`); each failure is a SpecError naming the
    field."""
    from ...attribution.rules import check_explained_output

    check_explained_output(spec, model, "saliency")


def section(spec: "SpecBase", capture: "Capture") -> dict[str, Any]:
    """The saliency section of one capture (layout in this module's docstring).

    Raises SpecError on field "saliency" when a gradient overflows (an integration node next to the zero baseline).
    """
    from ...attribution.rules import require_neutral

    options = spec.options("saliency")
    if options.baseline == "neutral":
        require_neutral(spec, capture.neutral_id, capture.info.label, "saliency.baseline",
                        "to use as the neutral baseline", hint="use 'baseline: zero' or 'baseline: mean'")
    try:
        if capture.info.causal:
            return causal_section(capture, options.target, options.ig_steps, options.baseline)
        return similarity_section(capture, options.ig_steps, options.baseline)
    except FloatingPointError as exc:  # a gradient overflowed, in practice at an IG node next to the zero baseline
        raise spec.error("saliency", f"saliency could not be computed for {capture.info.label}: {exc}",
                         hint="fewer 'ig_steps' keep the integration nodes further from the all-zero baseline") from None


def ig_baseline(capture: "Capture", name: str, input_ids: Any, tokens: list[dict[str, Any]]) -> Any:
    """IG's baseline embeddings [N, D] for one sequence of the capture (its display tokens flag the special ones),
    or None for the zero baseline (`attribution.baselines.baseline_for`)."""
    from ...attribution.baselines import baseline_for

    return baseline_for(capture.model_run, input_ids, name, neutral_id=capture.neutral_id,
                        special=[t["special"] for t in tokens])


def baseline_fields(capture: "Capture", name: str) -> dict[str, Any]:
    """The payload's record of IG's baseline: its name and, in words, what it is."""
    from ...attribution.baselines import describe

    return {"ig_baseline": name, "ig_baseline_text": describe(name, capture.neutral_text)}


def causal_section(capture: "Capture", target: str, ig_steps: int, baseline: str = "zero") -> dict[str, Any]:
    from .causal import causal_saliency

    ids = capture.input_ids[0]
    result = causal_saliency(capture.model_run, ids, capture.n_prompt, target=target, ig_steps=ig_steps,
                             ig_baseline=ig_baseline(capture, baseline, ids, capture.tokens))
    return {
        "kind": "causal", "target": result.target, "ig_steps": result.ig_steps, "ig_method": result.ig_method,
        **baseline_fields(capture, baseline),
        "methods": _methods(result.scores),
        "target_values": _numbers(result.target_values),
        "ig_baseline_values": _numbers(result.ig_baseline_values),
        "ig_attribution_sums": _numbers(result.ig_attribution_sums),
        "ig_gap": _numbers(result.ig_gap),
    }


def similarity_section(capture: "Capture", ig_steps: int, baseline: str = "zero") -> dict[str, Any]:
    from .encoder import similarity_saliency

    first, second = capture.sentences
    baselines = None if baseline == "zero" else tuple(
        ig_baseline(capture, baseline, s.input_ids, s.tokens) for s in (first, second))
    result = similarity_saliency(capture.model_run, first.input_ids, second.input_ids, ig_steps=ig_steps,
                                 ig_baselines=baselines)
    scores = {name: np.concatenate([result.scores_a[name], result.scores_b[name]]) for name in result.scores_a}
    return {
        "kind": "similarity", "similarity": _number(result.similarity),
        "ig_steps": result.ig_steps, "ig_method": result.ig_method, **baseline_fields(capture, baseline),
        "tokens_a": first.tokens,
        "tokens_b": second.tokens,
        "methods": _methods(scores),
        "ig_baseline_value": _number(result.ig_baseline_value),
        "ig_attribution_sum": _number(result.ig_attribution_sum),
        "ig_gap": _number(result.ig_gap),
    }


def metrics(section: dict[str, Any]) -> dict[str, float]:
    """Tracker metrics: IG's completeness gaps (max, median and the infinite ones over the generated tokens, or the
    pair's one gap) and a pair's similarity."""
    from ...attribution.shares import gap_metrics

    out = gap_metrics(section.get("ig_gap"), "saliency_ig_gap")
    if isinstance(section.get("similarity"), (int, float)):
        out["saliency_similarity"] = float(section["similarity"])
    return out


METHOD = Method(
    name="saliency",
    views={"saliency": "explorable-saliency-view"},
    section=section,
    needs=Needs(gradients=True, sentences=True),
    options=SaliencyOptions,
    check=check,
    metrics=metrics,
    summary=("How much each input token drove a generated token, or a sentence pair's similarity: gradient x "
             "input, gradient norm, integrated gradients. Needs `generate` on a causal model, a `pair` on an "
             "encoder."),
)
