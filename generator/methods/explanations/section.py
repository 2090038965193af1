"""The "explanations" payload section (layout in ARCHITECTURE.md, "Section explanations") and the method's record.

    {"kind": "causal" | "similarity", "target": "logit" | "probability" | "similarity",
     "methods": ["raw_attention", ...],                    # display order
     "shares": ARRAY float32 [M, T, N],                     # method m's share of input n for output t
     "layers": {"rollout": ARRAY float32 [T, L, N], "flow": ...},  # layer-by-layer maps (row l: after layer l + 1)
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

# Shares are stored as float32, not on a fixed grid over [0, 1]: on a causal model rollout and flow pile nearly all
# the mass on the first token (SmolLM2: 0.98 after 10 layers, 1.0000 after 30), and the differences between the other
# tokens (1e-6 to 1e-8 there), which the view shows with the first token set aside and which order the faithfulness
# ranking, are far below one step of 65,535 levels. float32 keeps every share to 2^-24 of itself. The layer maps are
# only shown, never ranked: float32 rounded to MAP_BITS significant mantissa bits (relative error at most 2^-11,
# below the 0.1 % the view prints), which deflate packs to ~60 % of full float32 (benchmarks/RESULTS.md: the bytes).
DTYPE = "float32"
MAP_BITS = 10


def significant(values: np.ndarray, bits: int = MAP_BITS) -> np.ndarray:
    """Non-negative finite `values` as float32 rounded (half up) to `bits` (1-22) mantissa bits, the others zero:
    each within 2^-(bits + 1) of itself, relatively (a carry moves into the exponent, as a rounding should). Still
    float32, so any float32 reader decodes it; its zero low bits compress. float32 array of the same shape."""
    packed = np.ascontiguousarray(values, dtype="<f4").copy().view("<u4")
    drop = np.uint32(23 - bits)
    return (((packed + (np.uint32(1) << (drop - np.uint32(1)))) >> drop) << drop).view("<f4")


def stored(values: np.ndarray) -> np.ndarray:
    """`values` as the payload stores them (rounded to float32), back in float64: what the page decodes. The
    faithfulness ranking is made from these, so that a reader replaying it from the payload gets the same order."""
    return np.asarray(values, dtype=np.float32).astype(np.float64)

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
    shares = {name: stored(explained.shares[name]) for name in names}
    faith = evaluate(shares, explained.candidates, explained.values, options.deletion_steps,
                     options.random_orders, explained.run_masks)
    out: dict[str, Any] = {
        "kind": explained.kind,
        "target": options.target if explained.kind == "causal" else "similarity",
        "methods": names,
        "shares": encode_array(np.stack([shares[name] for name in names]), dtype=DTYPE, lo=0.0, hi=1.0),
        "layers": {name: encode_array(significant(maps), dtype=DTYPE, lo=0.0, hi=1.0)
                   for name, maps in explained.maps.items()},
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

PATTERNS = ("blocks.*.attn.hook_pattern",)
VALUES = ("blocks.*.attn.hook_v", "blocks.*.attn.W_O")     # value-weighted attention's value vectors and W_O


def needs_of(spec: "SpecBase") -> Needs:
    """What the run records for the chosen methods: the value vectors and W_O only for value-weighted attention (so
    that a family whose adapter does not say where its values are still gets the other methods)."""
    from .options import VALUE_WEIGHTED

    values = VALUE_WEIGHTED in spec.options("explanations").methods
    return Needs(hooks=PATTERNS + (VALUES if values else ()), gradients=True, sentences=True, adapter=True)


METHOD = Method(
    name="explanations",
    views={"explanations": "explorable-explanations-view"},
    section=section,
    needs=Needs(hooks=PATTERNS + VALUES, gradients=True, sentences=True, adapter=True),
    options=ExplanationsOptions,
    check=check,
    needs_of=needs_of,
    metrics=metrics,
    summary=("Explanation methods side by side on each output, with their faithfulness (deletion AOPC, "
             "comprehensiveness, sufficiency). Needs `generate` on a causal model, a `pair` on an encoder."),
)
