"""The "counterfactuals" payload section (layout in ARCHITECTURE.md, "Section counterfactuals") and the method's
record: what would change the answer.

    {"kind": "causal" | "similarity", "explained": {...}, "original": VERSION, "contrasts": [VERSION + align],
     "searches": {"minimal": SEARCH, "adversarial": SEARCH}, "attention": {...} | null, "forwards": n}

Computed from one capture: the explained output (`target`), author contrasts (`versions`), the edit searches
(`vocabulary`, `hotflip`, `search`) and counterfactual attention (`attention`). Every model run goes through
`generator.model_run.ModelRun`; gradient x input comes from the saliency package (`attribution`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..registry import Method, Needs
from .options import CounterfactualsOptions

if TYPE_CHECKING:
    from ...capture import Capture
    from ...models.facts import ModelInfo
    from ...spec import SpecBase


def check(spec: "SpecBase", model: "ModelInfo", n_tokens: int | None = None) -> None:
    """Model-dependent rules: an explained output (`attribution.rules.check_explained_output`, as saliency and
    explanations), contrasts that are neither empty nor the text itself and have the input's form, an output that
    was generated."""
    from ...attribution.rules import check_explained_output

    check_explained_output(spec, model, "counterfactuals")
    options: CounterfactualsOptions = spec.options("counterfactuals")
    for i, contrast in enumerate(options.contrasts):
        where = f"counterfactuals.contrasts.{i}"
        if model.causal and not isinstance(contrast, str):
            raise spec.error(where, f"{model.label} reads one text: a contrast is another version of it, a string",
                             hint="write the contrast as one string")
        if not model.causal and (isinstance(contrast, str) or len(contrast) != 2):
            raise spec.error(where, f"{model.label} compares a sentence pair: a contrast is another pair",
                             hint="write it as [first sentence, second sentence]")
        parts = [contrast] if isinstance(contrast, str) else contrast
        if any(not part.strip() for part in parts):
            raise spec.error(where, "this contrast is empty: there is nothing to compare with",
                             hint="write another version of the text, or remove the entry")
        same = (contrast.strip() == (spec.text or "").strip() if isinstance(contrast, str)
                else [p.strip() for p in contrast] == [p.strip() for p in (spec.pair or [])])
        if same:
            raise spec.error(where, "this contrast is the text itself: a contrast must change something",
                             hint="change at least one word, or remove the entry")
    if "attention_counterfactual" in spec.shown_views and not options.attention:
        raise spec.error("counterfactuals.attention", "the attention_counterfactual view shows the counterfactual "
                                                      "attention, and 'attention: false' leaves it out of the bake",
                         hint="delete 'attention: false', or the attention_counterfactual view")
    if "attention_counterfactual" in spec.shown_views:
        from ...models.adapters import adapter_for
        adapter = adapter_for(model.architecture)
        if adapter is not None and adapter.attention is None:
            field = "views" if "views" in spec.model_fields_set else "counterfactuals"
            raise spec.error(field, f"the attention_counterfactual view replaces attention rows, and the "
                                    f"{model.architecture} adapter names no attention module whose weights can be "
                                    f"replaced ({adapter.attention_note or 'generator/models/adapters.py'})",
                             hint="show the contrast view (its attention part is left out on this model)")
    if options.self_explanation and not model.causal:
        raise spec.error("counterfactuals.self_explanation", f"{model.label} is not a causal model: it cannot be "
                                                             f"asked, in a chat, why it answered",
                         hint="remove 'self_explanation', or use a chat-tuned causal model (smollm2)")
    if model.causal and spec.generate and options.output >= spec.generate:
        raise spec.error("counterfactuals.output", f"output {options.output} is not generated: this explorable "
                                                   f"generates {spec.generate} tokens (0-{spec.generate - 1})",
                         hint=f"use an output from 0 to {spec.generate - 1}")


def section(spec: "SpecBase", capture: "Capture") -> dict[str, Any]:
    """The counterfactuals section of one capture. Raises SpecError on `counterfactuals.output` when generation
    stopped before that output, and on `counterfactuals.threshold` when a pair's similarity is already below it."""
    from .build import build

    options: CounterfactualsOptions = spec.options("counterfactuals")
    if capture.info.causal and capture.n_prompt + options.output >= len(capture.ids):
        raise spec.error("counterfactuals.output", f"the model stopped after {len(capture.ids) - capture.n_prompt} "
                                                   f"generated tokens: there is no output {options.output}",
                         hint="explain an earlier output")
    return build(spec, capture, options)


METHOD = Method(
    name="counterfactuals",
    views={"contrast": "explorable-contrast-view", "attention_counterfactual": "explorable-attention-counterfactual-view"},
    section=section,
    needs=Needs(gradients=True, sentences=True, vocabulary=True, adapter=True),
    options=CounterfactualsOptions,
    check=check,
    # options only one view uses; not `searches` and `attention`, which choose what the bake computes whichever view
    # is shown (`searches: []` spares an attention_counterfactual block the edit searches)
    option_views={**{option: ("contrast",) for option in ("contrasts", "budget", "positions", "candidates", "threshold",
                                                         "self_explanation", "explanation_tokens", "draws")},
                  "permutations": ("attention_counterfactual",)},
    summary="counterfactuals: what would change the answer (contrasts, smallest and adversarial edits, "
            "counterfactual attention)",
)
