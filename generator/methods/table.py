"""The authors' table of views and their options (docs/writing.md), made from the registry: each method's views, its
`summary`, and its options' descriptions, allowed values and defaults as its pydantic model declares them.

    python -m generator.methods.table docs/writing.md          # rewrite the table between the markers
    python -m generator.methods.table --check docs/writing.md  # exit 1 when the page's table differs

The table sits between `<!-- registry:views -->` and `<!-- /registry:views -->`; the rest of the page is the
writers'. `tests/test_method_registry.py` fails when the page's table is not the registry's.
"""

from __future__ import annotations

import argparse
import json
import sys
import typing
from pathlib import Path
from typing import Any

from annotated_types import Ge, Le, MaxLen, MinLen
from pydantic_core import PydanticUndefined

from . import REGISTRY

START, END = "<!-- registry:views -->", "<!-- /registry:views -->"


def _code(value: Any) -> str:
    return f"`{json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else value}`"


def _values(annotation: Any) -> str:
    """The allowed values of a Literal (or a list of one) in words; '' for other types."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Literal:
        return "one of " + ", ".join(_code(arg) for arg in args)
    if origin is list and args and typing.get_origin(args[0]) is typing.Literal:
        return "a list of " + ", ".join(_code(arg) for arg in typing.get_args(args[0]))
    if annotation is bool:
        return "`true` or `false`"
    return ""


def _bounds(field: Any) -> str:
    """Numeric range and list lengths from the field's constraints, in words."""
    low = next((item.ge for item in field.metadata if isinstance(item, Ge)), None)
    high = next((item.le for item in field.metadata if isinstance(item, Le)), None)
    shortest = next((item.min_length for item in field.metadata if isinstance(item, MinLen)), None)
    longest = next((item.max_length for item in field.metadata if isinstance(item, MaxLen)), None)
    parts = []
    if low is not None and high is not None:
        parts.append(f"{low}–{high}")
    if longest is not None:
        parts.append(f"{shortest or 0}–{longest} entries")
    elif shortest:
        parts.append(f"at least {shortest} entr{'y' if shortest == 1 else 'ies'}")
    return ", ".join(parts)


def _default(field: Any) -> str:
    if field.default_factory is not None:
        return f"default {_code(field.default_factory())}"
    if field.default is PydanticUndefined or field.default is None:
        return ""
    return f"default {_code(field.default)}"


def option_text(name: str, field: Any, views: tuple[str, ...] = ()) -> str:
    """One option as the table writes it: `name`: description (values; bounds; default; the views that use it, when
    only some of the method's views do: `Method.option_views`)."""
    used = ""
    if views:
        names = [f"`{view}`" for view in views]
        used = "used by the " + (names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]) \
            + (" view" if len(names) == 1 else " views") + " only"
    facts = [part for part in (_values(field.annotation), _bounds(field), _default(field), used) if part]
    text = f"`{name}`: {field.description or ''}".rstrip()
    return f"{text} ({'; '.join(facts)})" if facts else text


def views_table() -> str:
    """The Markdown table of every registered method: views, options field, what they show, options."""
    rows = ["| views | options field | what they show | options |", "|---|---|---|---|"]
    for method in REGISTRY:
        views = ", ".join(f"`{view}`" for view in method.views)
        options = method.options.model_fields if method.options is not None else {}
        listed = "<br>".join(option_text(name, field, method.option_views.get(name, ()))
                             for name, field in options.items()) or "none"
        field = f"`{method.name}`" if options else "–"
        rows.append(f"| {views} | {field} | {method.summary} | {listed} |")
    return "\n".join(rows)


def with_table(page: str) -> str:
    """`page` with the text between the markers replaced by `views_table()`. Raises ValueError when the markers are
    missing or out of order."""
    start, end = page.find(START), page.find(END)
    if start < 0 or end < start:
        raise ValueError(f"the page has no '{START}' ... '{END}' markers (in this order) to hold the views table")
    return page[:start + len(START)] + "\n" + views_table() + "\n" + page[end:]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write (or check) the views table of docs/writing.md")
    parser.add_argument("page", type=Path)
    parser.add_argument("--check", action="store_true", help="exit 1 when the page's table differs, write nothing")
    args = parser.parse_args(argv)
    text = args.page.read_text(encoding="utf-8")
    wanted = with_table(text)
    if args.check:
        if wanted != text:
            print(f"{args.page}: the views table differs from the registry; run python -m generator.methods.table "
                  f"{args.page}")
            return 1
        return 0
    args.page.write_text(wanted, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
