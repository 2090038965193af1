"""Spec rules of every method that explains one output (saliency, explanations), raised as placed SpecErrors.

- `check_explained_output`: what such a method needs of the spec, knowing the model (before any model runs);
- `require_neutral`: a tokenizer's neutral token, when the method needs one (the "neutral" IG baseline; a removed
  token in the faithfulness tests), checked on the capture.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..models.facts import ModelInfo
    from ..spec import SpecBase


def check_explained_output(spec: "SpecBase", model: "ModelInfo", method: str) -> None:
    """On a causal model, generated tokens and no pair; on an encoder, a sentence pair (the explained score is their
    similarity) and no `target` option. Raises SpecError on the field to change."""
    views_field = "views" if "views" in spec.model_fields_set else method
    if model.causal:
        if spec.pair is not None:
            raise spec.error("pair", f"{model.label} is a causal model: the {method} view explains the tokens it "
                                     "generates, "
                                     "not a sentence pair",
                             hint="use 'text' with 'generate: N', or an encoder such as minilm for a pair")
        if not spec.generate:
            raise spec.error(views_field, f"the {method} view on a causal model ({model.label}) explains the tokens it "
                                          "generates, and this explorable generates none",
                             hint=f"add 'generate: N' (for example 'generate: 5'), or remove '{method}'")
        return
    if spec.pair is None:
        raise spec.error("text", f"the {method} view on an encoder ({model.label}) explains the similarity of two "
                                 "sentences, and 'text' is a single one",
                         hint="write 'pair: [first sentence, second sentence]' instead of 'text'")
    options = getattr(spec, method, None)
    if options is not None and "target" in options.model_fields_set:
        raise spec.error(f"{method}.target", f"'target' applies to causal models; on an encoder ({model.label}) "
                                             f"the {method} view always explains the cosine similarity",
                         hint="remove 'target'")


def require_neutral(spec: "SpecBase", neutral_id: int | None, label: str, field: str, purpose: str, hint: str
                    ) -> None:
    """Raise SpecError on `field` when the tokenizer of model `label` has no neutral token (`neutral_id` None,
    `generator.capture.neutral_token`) and the method needs one `purpose` ("to use as the neutral baseline")."""
    if neutral_id is None:
        raise spec.error(field, f"the tokenizer of {label} has no end-of-text, mask or padding token {purpose}",
                         hint=hint)
