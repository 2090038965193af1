"""The "saliency" payload section: input saliency of generated tokens (causal models) or of a sentence pair's cosine
similarity (encoders), for gradient x input, gradient norm and integrated gradients.

Causal model with `generate: G` (N tokens, the first n_prompt the prompt):

    {"kind": "causal", "target": "logit" | "probability", "ig_steps": 50, "ig_method": "gausslegendre",
     "methods": {"gradient_x_input": ARRAY uint16 [G, N] over [0, 1], "gradient_norm": ..., "integrated_gradients": ...},
     "target_values": [G], "ig_baseline_values": [G], "ig_attribution_sums": [G], "ig_gap": [G]}

Row g scores the token at position p = n_prompt + g against every input position i < p (zero for i >= p); each
row sums to 1. `target_values` is the score f_p (the chosen token's logit or probability), `ig_baseline_values`
f_p at the all-zero embeddings, `ig_attribution_sums` the sum of all integrated-gradients attributions, and
`ig_gap` = |sum - (f(x) - f(0))| / |f(x) - f(0)| (null where it is infinite).

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
from typing import Any

import numpy as np

from ...payload import encode_array
from ...tokens import display_tokens
from .results import METHODS

DTYPE = "uint16"


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


def check(spec: Any, loaded: Any) -> None:
    """Model-dependent rules of the saliency view; each failure names the field the author should change."""
    views_field = "views" if "views" in spec.model_fields_set else "saliency"
    if loaded.causal:
        if spec.pair is not None:
            raise spec.error("pair", f"{loaded.source.label} is a causal model: its saliency explains the tokens it "
                                     "generates, not a sentence pair",
                             hint="use 'text' with 'generate: N', or an encoder such as minilm for a pair")
        if not spec.generate:
            raise spec.error(views_field, f"saliency on a causal model ({loaded.source.label}) scores the tokens it "
                                          "generates, and this explorable generates none",
                             hint="add 'generate: N' (for example 'generate: 5'), or remove 'saliency'")
        return
    if spec.pair is None:
        raise spec.error("text", f"saliency on an encoder ({loaded.source.label}) explains the similarity of two "
                                 "sentences, and 'text' is a single one",
                         hint="write 'pair: [first sentence, second sentence]' instead of 'text'")
    if spec.saliency is not None and "target" in spec.saliency.model_fields_set:
        raise spec.error("saliency.target", f"'target' applies to causal models; on an encoder "
                                            f"({loaded.source.label}) saliency always explains the cosine similarity",
                         hint="remove 'target'")


def section(spec: Any, loaded: Any, capture: Any) -> dict[str, Any]:
    check(spec, loaded)
    options = spec.saliency_options
    try:
        if loaded.causal:
            return causal_section(loaded, capture, options.target, options.ig_steps)
        return similarity_section(loaded, spec.pair, options.ig_steps)
    except ValueError as exc:  # the methods' argument checks: a model or input they cannot score
        raise spec.error("model", f"saliency could not be computed for {loaded.source.label}: {exc}") from None
    except FloatingPointError as exc:  # a gradient overflowed, in practice at an IG node next to the zero baseline
        raise spec.error("saliency", f"saliency could not be computed for {loaded.source.label}: {exc}",
                         hint="fewer 'ig_steps' keep the integration nodes further from the all-zero baseline") from None


def causal_section(loaded: Any, capture: Any, target: str, ig_steps: int) -> dict[str, Any]:
    from . import causal_saliency

    result = causal_saliency(loaded.model, capture.input_ids[0], capture.n_prompt, target=target, ig_steps=ig_steps)
    return {
        "kind": "causal", "target": result.target, "ig_steps": result.ig_steps, "ig_method": result.ig_method,
        "methods": _methods(result.scores),
        "target_values": _numbers(result.target_values),
        "ig_baseline_values": _numbers(result.ig_baseline_values),
        "ig_attribution_sums": _numbers(result.ig_attribution_sums),
        "ig_gap": _numbers(result.ig_gap),
    }


def similarity_section(loaded: Any, pair: list[str], ig_steps: int) -> dict[str, Any]:
    from . import similarity_saliency

    tokenizer = loaded.tokenizer
    ids = [tokenizer(sentence, return_tensors="pt")["input_ids"][0] for sentence in pair]
    result = similarity_saliency(loaded.model, ids[0], ids[1], ig_steps=ig_steps)
    scores = {name: np.concatenate([result.scores_a[name], result.scores_b[name]]) for name in result.scores_a}
    return {
        "kind": "similarity", "similarity": _number(result.similarity),
        "ig_steps": result.ig_steps, "ig_method": result.ig_method,
        "tokens_a": display_tokens(tokenizer, ids[0].tolist(), segments=[0] * len(ids[0]), source=pair[0]),
        "tokens_b": display_tokens(tokenizer, ids[1].tolist(), segments=[1] * len(ids[1]), source=pair[1]),
        "methods": _methods(scores),
        "ig_baseline_value": _number(result.ig_baseline_value),
        "ig_attribution_sum": _number(result.ig_attribution_sum),
        "ig_gap": _number(result.ig_gap),
    }
