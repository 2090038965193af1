"""Options of the factors method, as authors write them under `factors:`."""

from __future__ import annotations

import re
from typing import Any

from pydantic import Field, field_validator

from ..options import Options

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
        if isinstance(value, int):
            if value < 0:
                raise ValueError("a layer index is 0 or more")
            return value
        if value == "all" or re.fullmatch(r"\d+-\d+", value):
            if value != "all":
                low, high = (int(part) for part in value.split("-"))
                if low > high:
                    raise ValueError(f"range '{value}' is empty: write it as low-high")
            return value
        raise ValueError("use 'all', one layer index such as 3, or a range such as '0-5'")

    def layer_indices(self, n_layers: int) -> list[int]:
        """The selected layers. Raises ValueError naming the valid range when a layer is outside the model."""
        if self.layers == "all":
            return list(range(n_layers))
        if isinstance(self.layers, int):
            low = high = self.layers
        else:
            low, high = (int(part) for part in self.layers.split("-"))
        if high >= n_layers:
            raise ValueError(f"layer {high} is outside the model, which has layers 0-{n_layers - 1}")
        return list(range(low, high + 1))
