"""Options of the factors method, as authors write them under `factors:`."""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator

from ..options import Options, indices, selection_syntax

MAX_COUNTS = 6


class FactorOptions(Options):
    counts: list[int] = Field([5], min_length=1, max_length=MAX_COUNTS,
                              description="How many factors to extract; several values give a selector.")
    layers: int | str = Field("all", description="'all', one layer index, or an inclusive range 'a-b'.")

    @field_validator("counts", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, int) else value

    @field_validator("counts")
    @classmethod
    def _positive(cls, value: list[int]) -> list[int]:
        if any(count < 1 for count in value):
            raise ValueError("every factor count must be at least 1 (and at most the number of tokens of the text)")
        return sorted(set(value))

    @field_validator("layers")
    @classmethod
    def _layer_syntax(cls, value: int | str) -> int | str:
        return selection_syntax(value, "layer", lists=False)

    def layer_indices(self, n_layers: int) -> list[int]:
        """The selected layers. Raises ValueError naming the valid range when a layer is outside the model."""
        return indices(self.layers, n_layers, "layer")
