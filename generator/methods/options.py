"""The base of every options model (the spec itself and each method's options): unknown fields are errors, values
are frozen, and YAML's true/false is never read as a number, alone or in a list (pydantic's lax mode would take
`generate: true` as 1)."""

from __future__ import annotations

import re
import typing
from typing import Any, Literal, Union

from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator


# Layers or heads as authors name them: 'all', one index, an inclusive range 'a-b', or (where allowed) a list.
Selection = Union[int, str, list[int], None]


def selection_syntax(value: Any, what: str, lists: bool = True) -> Any:
    """Check the form of a selection of `what`s (layers, heads); returns it (a list sorted, without repeats).
    Raises ValueError saying which forms are allowed (`lists`: whether a list is one of them)."""
    if value is None or isinstance(value, int):
        if isinstance(value, int) and value < 0:
            raise ValueError(f"a {what} index is 0 or more")
        return value
    if isinstance(value, list):
        if not value or any(not isinstance(item, int) or item < 0 for item in value):
            raise ValueError(f"a list of {what}s holds indices 0 or more, at least one")
        return sorted(set(value))
    if value == "all" or re.fullmatch(r"\d+-\d+", value):
        if value != "all":
            low, high = (int(part) for part in value.split("-"))
            if low > high:
                raise ValueError(f"range '{value}' is empty: write it as low-high")
        return value
    forms = f"use 'all', one {what} index such as 3, a range such as '0-5'"
    raise ValueError(f"{forms}, or a list such as [1, 4]" if lists else forms.replace(", a range", ", or a range"))


def indices(value: Selection, count: int, what: str) -> list[int]:
    """The indices a selection (checked by `selection_syntax`; None means all) names among `count` layers or heads.
    Raises ValueError naming the valid range when one is outside it."""
    if value is None or value == "all":
        return list(range(count))
    if isinstance(value, int):
        chosen = [value]
    elif isinstance(value, list):
        chosen = list(value)
    else:
        low, high = (int(part) for part in value.split("-"))
        chosen = list(range(low, high + 1))
    outside = [index for index in chosen if index >= count]
    if outside:
        raise ValueError(f"{what} {max(outside)} is outside the model, which has {what}s 0-{count - 1}")
    return chosen


def _allows(annotation: Any, kind: type) -> bool:
    """Whether `annotation` (str, list[str], str | None, Any, ...) takes values of type `kind` somewhere in it."""
    return annotation is kind or annotation is Any or any(_allows(arg, kind) for arg in typing.get_args(annotation))


def choices(annotation: Any) -> list[str]:
    """The values of the fixed sets (`Literal`s) anywhere in `annotation` (alone, optional, a list's entries), in
    the schema's order, each once; [] for a field without such a set."""
    values: list[str] = []
    if typing.get_origin(annotation) is Literal:
        return [str(arg) for arg in dict.fromkeys(typing.get_args(annotation))]
    for arg in typing.get_args(annotation):
        values.extend(value for value in choices(arg) if value not in values)
    return values


def listed_values(values: list[str]) -> str:
    """"'a'", "'a' or 'b'", "'a', 'b' or 'c'" (as the message of a value outside the set lists them)."""
    quoted = [f"'{value}'" for value in values]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " or " + quoted[-1]


class Options(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    @field_validator("*", mode="before")
    @classmethod
    def _no_true_or_false_for_a_number(cls, value: Any, info: ValidationInfo) -> Any:
        items = value if isinstance(value, list) else [value]
        if (any(isinstance(item, bool) for item in items) and info.field_name
                and not _allows(cls.model_fields[info.field_name].annotation, bool)):
            values = choices(cls.model_fields[info.field_name].annotation)
            if values:      # a choice (device, ablation, target): the values, not the number advice below
                raise ValueError(f"this is a yes/no value (YAML reads true/false, yes/no and on/off as one), and this "
                                 f"field takes one of {listed_values(values)}: write one of them")
            if _allows(cls.model_fields[info.field_name].annotation, str):
                raise ValueError("this should be text, and YAML reads an unquoted true/false, yes/no or on/off as a "
                                 "yes/no value: quote it")
            raise ValueError("this is a yes/no value (YAML reads true/false, yes/no and on/off as one), and this field "
                             "does not take one: write the number itself")
        return value
