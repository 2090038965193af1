"""Options of the lens method, as authors write them under `lens:`."""

from __future__ import annotations

from pydantic import Field, field_validator

from ...errors import quoted
from ..options import Options

TOP_K_MIN, TOP_K_MAX = 1, 20
WATCH_MAX = 8


class LensOptions(Options):
    top_k: int = Field(5, ge=TOP_K_MIN, le=TOP_K_MAX,
                       description="Candidates kept per layer and position (most probable first).")
    watch: list[str] = Field(default_factory=list, max_length=WATCH_MAX,
                             description="Tokens whose rank is followed through the layers, each a single token of "
                                         "the model's vocabulary, such as ' is' (a leading space is part of a token).")

    @field_validator("watch")
    @classmethod
    def _tokens(cls, value: list[str]) -> list[str]:
        if any(entry == "" for entry in value):
            raise ValueError("a watched token cannot be empty")
        twice = [entry for index, entry in enumerate(value) if entry in value[:index]]
        if twice:
            raise ValueError(f"{quoted(twice[0])} is watched twice")
        return value
