"""The "explanations" payload section (layout in ARCHITECTURE.md, "Section explanations") and the method's record.

    {"kind": "causal" | "similarity", "target": "logit" | "probability" | "similarity",
     "methods": ["raw_attention", ...],                    # display order
     "shares": ARRAY uint16 [M, T, N] over [0, 1],          # method m's share of input n for output t
     "layers": {"rollout": ARRAY uint16 [T, L, N], "flow": ...},   # layer-by-layer maps (row l: after layer l + 1)
     "values": [T],                                         # f(x) of each output
     "faithfulness": {...}, "ig": {...} | null,
     "tokens_a": [...], "tokens_b": [...]}                  # similarity only: the section's own tokens

Causal: T = G generated tokens, N = the payload's tokens; row t is zero from position n_prompt + t on.
Similarity: T = 1, N = Na + Nb, each sentence read on its own (the section's own tokens, A's first).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from ...payload import encode_array
from ..registry import Method, Needs
from .metrics import metrics
from .options import EDITING_METHODS, ExplanationsOptions

if TYPE_CHECKING:
    from ...capture import Capture
    from ...models.facts import ModelInfo
    from ...spec import SpecBase

DTYPE = "uint16"    # shares are read to 0.1 %: uint8's 0.002 is too coarse (as in the saliency section)

def _number(value: Any, digits: int = 6) -> float | None:
    value = float(value)
    return float(f"{value:.{digits}g}") if math.isfinite(value) else None

def numbers(values: Any) -> Any:
    """Nested lists of 6-significant-digit floats (None for NaN or infinity): stable bytes."""
    array = np.asarray(values, dtype=np.float64)
    if array.ndim == 0:
        return _number(array)
    return [numbers(part) for part in array]

def check(spec: "SpecBase", model: "ModelInfo", n_tokens: int | None = None) -> None:
    """Model-dependent rules (`attribution.rules.check_explained_output`); each failure is a SpecError naming the
    field."""
    from ...attribution.rules import check_explained_output

    check_explained_output(spec, model, "explanations")


def section(spec: "SpecBase", capture: "Capture") -> dict[str, Any]:
    """The explanations section of one capture. Raises SpecError when the tokenizer has no neutral token (needed to
    remove tokens), or when a gradient overflows."""
    from ...attribution.rules import require_neutral
    from . import shares

    options: ExplanationsOptions = spec.options("explanations")
    require_neutral(spec, capture.neutral_id, capture.info.label, "explanations",
                    "to put in place of a removed token", hint="use a model whose tokenizer defines one")
    from ...model_run import MissingHookPoint

    try:
        explained = shares.causal(capture, options) if capture.info.causal else shares.similarity(capture, options)
    except MissingHookPoint as exc:     # a method that edits the run, on a family whose adapter lacks the point
        editing = [name for name in options.methods if name in EDITING_METHODS]
        raise spec.error("explanations.methods", f"{', '.join(editing)} edit the run of {capture.info.label} by hook "
                                                 f"name, and {exc}",
                         hint=f"leave {' and '.join(editing)} out of 'explanations.methods'") from None
    except FloatingPointError as exc:
        raise spec.error("explanations", f"explanations could not be computed for {capture.info.label}: {exc}",
                         hint="try another 'baseline' or fewer 'ig_steps'") from None
    return payload_section(explained, options, capture)

def payload_section(explained: "Any", options: ExplanationsOptions, capture: "Capture") -> dict[str, Any]:
    """Shares, maps, faithfulness and IG's completeness as JSON-ready data."""
    from .faithfulness import evaluate

    names = list(explained.shares)
    faith = evaluate(explained.shares, explained.candidates, explained.values, options.deletion_steps,
                     options.random_orders, explained.run_masks)
    out: dict[str, Any] = {
        "kind": explained.kind,
        "target": options.target if explained.kind == "causal" else "similarity",
        "methods": names,
        "shares": encode_array(np.stack([explained.shares[name] for name in names]), dtype=DTYPE, lo=0.0, hi=1.0),
        "layers": {name: encode_array(maps, dtype=DTYPE, lo=0.0, hi=1.0) for name, maps in explained.maps.items()},
        "values": numbers(explained.values),
        "faithfulness": {
            "removal": "replaced", "neutral_token": capture.neutral_text,
            "steps": list(options.deletion_steps), "random_orders": options.random_orders,
            "candidates": faith.candidates.tolist(), "counts": faith.counts.tolist(),
            "deleted": numbers(faith.deleted), "kept": numbers(faith.kept),
            "aopc": numbers(faith.aopc), "comprehensiveness": numbers(faith.comprehensiveness),
            "sufficiency": numbers(faith.sufficiency), "spearman": numbers(faith.spearman),
        },
        "ig": None,
    }
    if explained.ig is not None:
        from ...attribution.baselines import describe
        from ...attribution.quadrature import DEFAULT_IG_METHOD

        out["ig"] = {"steps": options.ig_steps, "method": DEFAULT_IG_METHOD, "baseline": options.baseline,
                     "baseline_text": describe(options.baseline, capture.neutral_text),
                     **{key: numbers(value) for key, value in explained.ig.items()}}
    if explained.kind == "similarity":
        out["tokens_a"], out["tokens_b"] = capture.sentences[0].tokens, capture.sentences[1].tokens
    return out

def needs_of(spec: "SpecBase") -> Needs:
    """What the run records for the chosen methods: the value vectors and W_O only for value-weighted attention (so
    that a family whose adapter does not say where its values are still gets the other methods)."""
    from .options import VALUE_WEIGHTED

    return Needs(attention=True, values=VALUE_WEIGHTED in spec.options("explanations").methods, gradients=True,
                 sentences=True, adapter=True)


METHOD = Method(
    name="explanations",
    views={"explanations": "explorable-explanations-view"},
    section=section,
    needs=Needs(attention=True, values=True, gradients=True, sentences=True, adapter=True),
    options=ExplanationsOptions,
    check=check,
    needs_of=needs_of,
    metrics=metrics,
    summary=("Explanation methods side by side on each output, with their faithfulness (deletion AOPC, "
             "comprehensiveness, sufficiency). Needs `generate` on a causal model, a `pair` on an encoder."),
)
