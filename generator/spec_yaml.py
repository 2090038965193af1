"""YAML loading that remembers the line of every field, so errors can point at it."""

from __future__ import annotations

from typing import Any

import yaml

from .errors import SpecError


class _Loader(yaml.SafeLoader):
    pass


def load_with_lines(text: str, file: str, repeated: list[SpecError] | None = None) -> tuple[Any, dict[tuple, int]]:
    """Parse YAML; return the data and a map from key paths (tuples) to 1-based line numbers.

    Raises SpecError on a syntax error, and on a key given twice in one mapping unless `repeated` is a list: then
    each such key's error is appended to it (its `field` starts with the key path) and the last value is kept."""
    try:
        node = yaml.compose(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise SpecError(f"YAML syntax error: {problem}", file=file, line=line,
                        hint="check indentation and quote text that contains ':' or '#'") from None
    if node is None:
        return None, {}
    lines: dict[tuple, int] = {}
    _walk(node, (), lines, file, repeated)
    data = yaml.load(text, Loader=_Loader)
    return data, lines


def _walk(node: yaml.Node, path: tuple, lines: dict[tuple, int], file: str, repeated: list | None) -> None:
    """Record the line of every key path under `node`. A key given twice in one mapping (YAML loaders keep the last
    one silently) raises SpecError, or is appended to `repeated` when that is a list."""
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            key, line = key_node.value, key_node.start_mark.line + 1
            if key in seen:
                gap = line - seen[key]
                where = "on the same line" if gap == 0 else f"{gap} line{'s' if gap > 1 else ''} after the first"
                error = SpecError(f"'{key}' is given a second time here, {where}",
                                  file=file, line=line, field=".".join(map(str, path + (key,))),
                                  hint="keep one of the two: YAML would silently use this last one")
                if repeated is None:
                    raise error
                repeated.append(error)
            seen[key] = line
            lines[path + (key,)] = line
            _walk(value_node, path + (key,), lines, file, repeated)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _walk(item, path + (index,), lines, file, repeated)


def line_for(lines: dict[tuple, int], loc: tuple) -> int | None:
    """The line of the deepest known prefix of loc."""
    for cut in range(len(loc), -1, -1):
        if tuple(loc[:cut]) in lines:
            return lines[tuple(loc[:cut])]
    return None
