"""The base of every options model (the spec itself and each method's options): unknown fields are errors, values
are frozen, and YAML's true/false is never read as a number (pydantic's lax mode would take `generate: true` as 1)."""

from __future__ import annotations

import typing
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator


def _allows_bool(annotation: Any) -> bool:
    if annotation is bool or annotation is Any:
        return True
    return any(_allows_bool(arg) for arg in typing.get_args(annotation))


class Options(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    @field_validator("*", mode="before")
    @classmethod
    def _no_true_or_false_for_a_number(cls, value: Any, info: ValidationInfo) -> Any:
        if isinstance(value, bool) and info.field_name and not _allows_bool(cls.model_fields[info.field_name].annotation):
            raise ValueError(f"'{str(value).lower()}' is a yes/no value; this field takes a number or a word")
        return value
