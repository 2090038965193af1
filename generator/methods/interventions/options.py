"""Options of the interventions method, as authors write them under `interventions:`, and their limits."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, PrivateAttr, field_validator, model_validator

from ..options import Options, selection_syntax

KNOCKOUT, EDITING, PATCHING = "knockout", "editing", "patching"
VIEWS = (KNOCKOUT, EDITING, PATCHING)
FACTOR_MIN, FACTOR_MAX = 0.0, 8.0          # 0 blocks; others multiply the weight (then the row is renormalised)
DEFAULT_FACTORS = (0.0, 0.5, 2.0, 4.0)     # block, halve, double, x4 (the four edits)
TOP_K_MIN, TOP_K_MAX = 1, 10
HEADS_MAX = 8


class InterventionsOptions(Options):
    """Options of the knockout, editing and patching views, as authors write them under `interventions:`."""

    target: str | None = Field(
        None, description="Causal models: the token whose probability is explained (one token of the vocabulary, "
                          "such as ' Paris'); default: the first generated token.")
    ablation: Literal["mean", "zero"] = Field(
        "mean", description="How a head, attention block or MLP is removed in the knockout map: 'mean' puts its "
                            "mean output over the text's positions in place of its output (the default: the rest of "
                            "the model still sees a typical signal), 'zero' puts zeros.")
    factors: list[float] = Field(
        default_factory=lambda: list(DEFAULT_FACTORS), min_length=1, max_length=6,
        description="Attention edits: each multiplies the attention to the clicked token (0 blocks it) before the "
                    f"row is renormalised; each from {FACTOR_MIN:g} to {FACTOR_MAX:g}, default [0, 0.5, 2, 4].")
    layers: str | None = Field(
        None, description="Attention edits: a layer range 'a-b' edited on its own, besides every layer at once "
                          "(default: none).")
    heads: list[list[int]] = Field(
        default_factory=list, max_length=HEADS_MAX,
        description=f"Attention edits: up to {HEADS_MAX} heads [layer, head] edited on their own, so that a head "
                    "chosen in the head or model view narrows the edit to it.")
    top_k: int = Field(5, ge=TOP_K_MIN, le=TOP_K_MAX,
                       description="Attention edits: candidates shown per output distribution.")
    contrast: str | None = Field(
        None, description="Activation patching: a contrast text with as many tokens as the text (such as 'The "
                          "Colosseum is in' against 'The Eiffel Tower is in').")
    batch_size: int = Field(64, ge=1, le=256, description="Edited runs per forward pass (speed only; with staggered "
                                                          "starts larger batches mean fewer forwards).")
    # `heads` as the author wrote them (order and repeats kept): `heads` itself is sorted and without repeats, so
    # that one set of heads is one bake, and errors count entries in the author's order (`written_heads`)
    _heads_written: list[list[int]] | None = PrivateAttr(default=None)

    @model_validator(mode="wrap")
    @classmethod
    def _keep_written_heads(cls, data, handler):
        options = handler(data)
        if isinstance(data, dict) and isinstance(data.get("heads"), list) and options._heads_written is None:
            options._heads_written = [list(pair) for pair in data["heads"]]
        return options

    @property
    def written_heads(self) -> list[list[int]]:
        """The heads [layer, head] in the order the author wrote them, repeats kept: entry i of this list is entry
        i + 1 of the author's list (errors are placed at `interventions.heads.<i>`)."""
        return self._heads_written if self._heads_written is not None else self.heads

    @field_validator("factors")
    @classmethod
    def _factors(cls, value: list[float]) -> list[float]:
        for factor in value:
            if not FACTOR_MIN <= factor <= FACTOR_MAX:
                raise ValueError(f"an attention factor is from {FACTOR_MIN:g} (block) to {FACTOR_MAX:g}, got "
                                 f"{factor:g}; allowed: 0, or a multiplier such as 0.5, 2 or 4 up to {FACTOR_MAX:g}")
            if factor == 1:
                raise ValueError("a factor of 1 changes nothing: use 0 (block), 0.5, 2 or 4")
        if len(set(value)) != len(value):
            raise ValueError(f"each factor once, got {value}")
        return sorted(value)

    @field_validator("layers")
    @classmethod
    def _range(cls, value: str | None) -> str | None:
        if value is None:
            return value
        checked = selection_syntax(value, "layer", lists=False)
        if not isinstance(checked, str) or checked == "all":
            raise ValueError("write a layer range as 'a-b', such as '0-5' (one layer: '3-3')")
        return checked

    @field_validator("heads")
    @classmethod
    def _pairs(cls, value: list[list[int]]) -> list[list[int]]:
        for pair in value:
            if len(pair) != 2 or any(n < 0 for n in pair):
                raise ValueError(f"each head is [layer, head], two numbers of 0 or more, got {pair}")
        return [list(pair) for pair in sorted({tuple(pair) for pair in value})]

    @field_validator("target", "contrast")
    @classmethod
    def _not_blank(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("this text is empty")
        return value
