"""YAML loading that remembers the line of every field, so errors can point at it."""

from __future__ import annotations

import json
import re
import unicodedata
from typing import Any

import yaml

from .errors import SpecError, quoted


def load_with_lines(text: str, file: str, repeated: list[SpecError] | None = None) -> tuple[Any, dict[tuple, int]]:
    """Parse YAML; return the data and a map from key paths (tuples) to 1-based line numbers.

    Raises SpecError on a syntax error, and on a key given twice in one mapping unless `repeated` is a list: then
    each such key's error is appended to it (its `field` starts with the key path) and the last value is kept.
    Lines indented with another space than ' ' (a pasted non-breaking space) are errors too (`_odd_spaces`)."""
    spaces = _odd_spaces(text, file)
    if spaces:
        raise SpecError.combine(spaces)
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark, problem = getattr(exc, "problem_mark", None), _problem_of(exc)
        line = mark.line + 1 if mark is not None else None
        if mark is not None and "'\\t'" in problem:
            raise _tab_error(text, file, mark.line, mark.column) from None
        colon = _full_width_colon(text, file, mark.line) if mark is not None else None
        if colon is None and mark is not None and problem == "mapping values are not allowed here":
            colon = _colon_in_value(text, file, mark.line)
        if colon is not None:
            raise colon from None
        context, start = getattr(exc, "context", None), getattr(exc, "context_mark", None)
        unclosed = _unclosed_flow(text, file, context, start, problem, mark)
        if unclosed is not None:
            raise unclosed from None
        if context and start is not None and start.line + 1 != line:
            # relative, as a block's error is moved to its page's lines afterwards (`SpecError.located`)
            gap = line - (start.line + 1)
            problem = f"{problem} ({context} that starts {_lines_away(gap)})"
        elif context:
            problem = f"{context}: {problem}"
        raise SpecError(f"YAML syntax error: {problem}", file=file, line=line,
                        hint="check indentation and quote text that contains ':' or '#'") from None
    if node is None:
        return None, {}
    colon = _full_width_value(node, text, file)
    if colon is not None:
        raise colon
    lines: dict[tuple, int] = {}
    _walk(node, (), lines, file, repeated, set())
    try:
        data = yaml.SafeLoader("").construct_document(node)    # the node read above: the text is parsed once
    except (yaml.YAMLError, ValueError, TypeError, OverflowError) as exc:
        raise _tag_error(node, text, file, exc) from None
    return data, lines


def _tag_error(node: yaml.Node, text: str, file: str, exc: Exception) -> SpecError:
    """The error of a value with a YAML tag that the safe loader cannot make (`!foo bar`, `!!int abc`, `!!float x`),
    which PyYAML raises without a line for a value its constructor refuses: placed on the tag's line, found as the
    first tagged value (its node starts with '!') that cannot be made alone when `exc` has no mark."""
    mark = getattr(exc, "problem_mark", None)
    if mark is None:
        for found in _nodes(node):
            if text.startswith("!", found.start_mark.index):
                try:
                    yaml.SafeLoader("").construct_document(found)
                except (yaml.YAMLError, ValueError, TypeError, OverflowError):
                    mark = found.start_mark
                    break
    line = mark.line if mark is not None else None
    tag = text[mark.index:].split(maxsplit=1)[0] if mark is not None and text.startswith("!", mark.index) else None
    reason = _problem_of(exc) if isinstance(exc, yaml.YAMLError) else str(exc)
    return SpecError(f"YAML cannot read the value tagged {tag or 'here'}: {reason}", file=file,
                     line=None if line is None else line + 1,
                     field=None if line is None else _key_at(text, file, line, entries=True),
                     hint=f"delete {repr(tag) if tag else 'the tag'}: explorables take plain values; quote a text "
                          "that would read as a number or as true/false")


def _nodes(node: yaml.Node, seen: set | None = None):
    """`node` and every value under it (not a mapping's keys), in document order, each node once (an alias may
    repeat one, or hold the node around it: `_walk` reports that)."""
    seen = set() if seen is None else seen
    if id(node) in seen:
        return
    seen.add(id(node))
    yield node
    children = ([value for _, value in node.value] if isinstance(node, yaml.MappingNode) else
                node.value if isinstance(node, yaml.SequenceNode) else [])
    for child in children:
        yield from _nodes(child, seen)


# PyYAML's context words for a flow collection it was reading: its opening and closing brackets, what authors call it
_FLOW = {"while parsing a flow sequence": ("[", "]", "list"), "while parsing a flow mapping": ("{", "}", "mapping")}


def _lines_away(gap: int) -> str:
    """Where a line `gap` lines before another is, seen from that one: 'on the line above', '3 lines above';
    'below' for a negative gap."""
    count = abs(gap)
    where = "above" if gap > 0 else "below"
    return f"on the line {where}" if count == 1 else f"{count} lines {where}"


def _unclosed_flow(text: str, file: str, context: str | None, start, problem: str, mark) -> SpecError | None:
    """The error of a flow list `[a, b` (or mapping `{a: 1`) that PyYAML reports where it gave up reading it,
    which is the next field's ':' or the end of the block, lines below: placed on the line where the list opens,
    which is the line that lacks its ']'. PyYAML's words are "expected ',' or ']', but got ..." with the opening
    bracket as the context mark (`yaml.parser.Parser.parse_flow_sequence_entry`). A problem on the opening line
    itself, before the end of the text, is two entries without a ',' between them (`["a" "b"]`): said as such, at
    that line; at the end of the text (the list opens on the last line of a block, whose body ends without a line
    break) it is the missing bracket. The field is the key on that line when the text reads with the closing bracket
    added at the line's end (within a curated file's entry, as the schema's errors name it). None for other
    errors."""
    if context not in _FLOW or start is None or mark is None:
        return None
    opening, closing, kind = _FLOW[context]
    if not problem.startswith(f"expected ',' or '{closing}'"):
        return None
    rows = text.splitlines()
    row = rows[start.line] if start.line < len(rows) else ""
    at_end = not text[mark.index:].strip()     # PyYAML reached the end of the text (a block's body has no last '\n')
    if mark.line == start.line and not at_end:
        return SpecError(f"YAML syntax error: a ',' is missing between two entries of this {kind}", file=file,
                         line=start.line + 1,
                         hint=f"separate the entries with ', ' and quote an entry that holds ',' or '{closing}'")
    fixed = "\n".join(rows[:start.line] + [row.rstrip() + closing] + rows[start.line + 1:]) + "\n"
    try:
        node = yaml.compose(fixed, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        node = None
    reads = node is not None
    field = _entry_field(_path_of(node, (start.line, start.column), ()) or ()) if reads else None
    gap = mark.line - start.line
    reached = ("the end of the text" if gap == 0 else "its last line" if at_end or mark.line >= len(rows) else
               "the line below" if gap == 1 else f"{gap} lines below")
    return SpecError(f"YAML syntax error: missing '{closing}': the {kind} opened with '{opening}' on this line is not "
                     f"closed (YAML read on to {reached} looking for it)", file=file, line=start.line + 1, field=field,
                     hint=(f"add '{closing}' at the end of this line" if reads
                           else f"add '{closing}' after the {kind}'s last entry"))


def _path_of(node: yaml.Node | None, at: tuple[int, int], path: tuple) -> tuple | None:
    """The key path of the value that starts at 0-based (line, column) `at` under `node`, or None."""
    if node is None:
        return None
    if (node.start_mark.line, node.start_mark.column) == at and path:
        return path
    children = (node.value if isinstance(node, yaml.MappingNode) else
                enumerate(node.value) if isinstance(node, yaml.SequenceNode) else ())
    for key, child in children:
        found = _path_of(child, at, path + ((key.value if isinstance(key, yaml.Node) else key),))
        if found is not None:
            return found
    return None


# A key (or a list's '-') after the indentation: the start of a line whose indentation matters to YAML
_KEY_START = re.compile(r"(-\s|[^\s:#'\"\[{][^:#]*:(\s|$))")
# A key ended by a full-width colon '：' (U+FF1A) at the start of a line, after the indentation or a list's '-'
_FULL_WIDTH_KEY = re.compile(r"^\s*(-\s+)?(?P<key>[^\s:#'\"\[{][^:#：]*?)\s*：")


def _space_name(char: str) -> str:
    """'a non-breaking space (U+00A0)', 'an ideographic space (U+3000)': a space character in words (its Unicode
    name, lowercased, 'no-break' said as 'non-breaking')."""
    name = unicodedata.name(char, "space").lower().replace("no-break", "non-breaking")
    return f"{'an' if name[0] in 'aeiou' else 'a'} {name} (U+{ord(char):04X})"


def _odd_space(char: str) -> bool:
    """A character that looks like a space and is not one to YAML: a Unicode space other than ' ' (category Zs, such
    as U+00A0), or the zero-width no-break space U+FEFF."""
    return char not in " \t" and (unicodedata.category(char) == "Zs" or char == "\ufeff")


def _odd_spaces(text: str, file: str) -> list[SpecError]:
    """An error for each line whose indentation holds a space YAML does not read as one (`_odd_space`: most often a
    non-breaking space U+00A0 pasted from a web page or a word processor), before a key or a list's '-': YAML takes
    it as part of the key ('  ig_steps' becomes an unknown field) instead of indentation (YAML 1.2, section 6.1:
    indentation is spaces only). Each names the character and the field (the key read with ordinary spaces)."""
    rows = text.splitlines()
    indents = [row[:len(row) - len(row.lstrip())] for row in rows]
    fixed = "\n".join("".join(" " if _odd_space(char) else char for char in indent) + row[len(indent):]
                      for indent, row in zip(indents, rows))
    found = []
    for index, (indent, row) in enumerate(zip(indents, rows)):
        odd = [char for char in indent if _odd_space(char)]
        if odd and _KEY_START.match(row[len(indent):]):
            found.append(SpecError(f"this line is indented with {_space_name(odd[0])}, which YAML reads as part of "
                                   "the name after it, not as indentation", file=file, line=index + 1,
                                   field=_key_at(fixed, file, index),
                                   hint="indent with ordinary spaces: delete the indentation and type it again; text "
                                        "pasted from a web page or a document often carries such spaces"))
    return found


def _full_width_colon(text: str, file: str, error_line: int) -> SpecError | None:
    """The error of a key written with a full-width colon '：' (U+FF1A, as a Chinese or Japanese keyboard types it)
    instead of ':', which YAML reads as part of a plain text, so that its error comes at the next line ("mapping
    values are not allowed here") or later: placed on the nearest such line at or above 0-based `error_line` (a
    '：' inside a quoted or later value is left alone), None when there is none."""
    rows = text.splitlines()
    for index in range(min(error_line, len(rows) - 1), -1, -1):
        match = _FULL_WIDTH_KEY.match(rows[index])
        if match is None:
            continue
        key = match.group("key")
        fixed = "\n".join(rows[:index] + [rows[index].replace("：", ": ", 1)] + rows[index + 1:])
        return SpecError(f"'{key}' is followed by a full-width colon '：' (U+FF1A), which YAML does not read as ':'",
                         file=file, line=index + 1, field=_key_at(fixed, file, index) or key,
                         hint=f"type an ordinary ':' and a space after '{key}'")
    return None


def _problem_of(exc: yaml.YAMLError) -> str:
    """PyYAML's words for what it met (its `problem`), or the whole message."""
    return getattr(exc, "problem", None) or str(exc)


# 'key: value' on one line, with a plain (unquoted, not a flow collection, block scalar, anchor, alias or tag) value
_KEY_VALUE = re.compile(r"^(?P<lead>\s*(?:-\s+)?)(?P<key>[^\s:#'\"\[{][^:#]*?):[ \t]+"
                        r"(?P<value>[^\s'\"\[{|>&*!].*?)\s*$")


def _colon_in_value(text: str, file: str, error_line: int) -> SpecError | None:
    """The error of an unquoted value holding ': ' (`text: Note: something`), which PyYAML refuses at that ':'
    ("mapping values are not allowed here"): YAML reads ': ' as the start of a mapping inside the value. Placed on the
    line, naming the key whose value it is, with the value quoted in the hint; only when the text reads once that
    value is quoted (else None: the generic syntax error stays)."""
    rows = text.splitlines()
    if error_line >= len(rows):
        return None
    match = _KEY_VALUE.match(rows[error_line])
    if match is None or ": " not in match.group("value") + " ":
        return None
    key, value = match.group("key"), match.group("value")
    quoted = json.dumps(value, ensure_ascii=False)          # a JSON string is a YAML double-quoted one
    fixed = "\n".join(rows[:error_line] + [f"{match.group('lead')}{key}: {quoted}"] + rows[error_line + 1:])
    field = _key_at(fixed, file, error_line)
    if field is None:
        return None
    return SpecError("this value holds ': ', which YAML reads as the start of another field, not as text", file=file,
                     line=error_line + 1, field=field, hint=f"quote the value: {key}: {quoted}")


def _full_width_value(node: yaml.Node, text: str, file: str) -> SpecError | None:
    """`_full_width_colon`'s error where the YAML reads: a key written with '：' under another key reads as that key's
    text ('lens:' then '  top_k： 3' is lens = "top_k： 3"). Found as a plain text value that starts a line (not
    after a key's ':' nor a list's '-') and reads as 'name： ...'; None when there is none."""
    rows = text.splitlines()
    for found in _plain_scalars(node):
        row = rows[found.start_mark.line] if found.start_mark.line < len(rows) else ""
        starts_line = not row[:found.start_mark.column].strip()
        if starts_line and _FULL_WIDTH_KEY.match(row):
            return _full_width_colon(text, file, found.start_mark.line)
    return None


def _plain_scalars(node: yaml.Node):
    """Every unquoted scalar value under `node` (`_nodes`)."""
    return [found for found in _nodes(node) if isinstance(found, yaml.ScalarNode) and found.style is None]


def _key_at(text: str, file: str, line: int, entries: bool = False) -> str | None:
    """The field (dotted key path) of the deepest key on 0-based `line` of `text` (with `entries`, also of a list
    entry there: 'views.0'), when the text reads; else None. Within a curated file's entry it is named as the
    schema's errors name it (`_entry_field`)."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        lines: dict[tuple, int] = {}
        _walk(node, (), lines, file, [], set())
    except (yaml.YAMLError, SpecError):
        return None
    paths = [path for path, at in lines.items()
             if at == line + 1 and path and (entries or isinstance(path[-1], str))]
    return _entry_field(max(paths, key=len)) if paths else None


def _entry_field(path: tuple) -> str | None:
    """`_field` of a key path read from a whole file, without the index of the curated file's entry that holds it
    (a curated entry is named by its line, as the schema's errors name it: 'saliency.ig_steps', not
    '0.saliency.ig_steps')."""
    start = 0
    while start < len(path) and isinstance(path[start], int):
        start += 1
    return _field(tuple(path[start:]))


def _tab_error(text: str, file: str, line: int, column: int) -> SpecError:
    """The error of a tab that PyYAML refuses at 0-based `line` and `column` of `text`: YAML indents with spaces
    only (YAML 1.2, section 6.1), and PyYAML also refuses a tab between a key's ':' (or a list's '-') and its value.
    The field is the key on that line, found by reading the text with its tabs expanded, when that reads."""
    rows = text.splitlines()
    row = rows[line] if line < len(rows) else ""
    field = _key_at(text.expandtabs(4), file, line, entries=True)
    if not row[:column].strip():
        return SpecError("YAML does not allow tabs for indentation; use spaces", file=file, line=line + 1,
                         field=field, hint="indent this line with spaces only, as deep as the lines of its level")
    return SpecError("YAML does not allow a tab here; use a space", file=file, line=line + 1, field=field,
                     hint=f"replace the tab after {quoted(row[:column].strip())} with a space")


def _walk(node: yaml.Node, path: tuple, lines: dict[tuple, int], file: str, repeated: list | None,
          inside: set) -> None:
    """Record the line of every key path under `node`. A key given twice in one mapping (YAML loaders keep the last
    one silently) raises SpecError, or is appended to `repeated` when that is a list. Raises SpecError on a key that
    is not a plain value and on an alias (`*name`) that refers to a node holding it (`inside`: the nodes around)."""
    lines.setdefault(path, node.start_mark.line + 1)
    if id(node) in inside:
        raise SpecError("this YAML alias refers to a value that holds it, so the value would never end",
                        file=file, line=node.start_mark.line + 1, field=_field(path),
                        hint="write the value out instead of the alias")
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            key, line = key_node.value, key_node.start_mark.line + 1
            if not isinstance(key_node, yaml.ScalarNode):
                raise SpecError("a key must be a plain name, not a list or a mapping", file=file, line=line,
                                field=_field(path),
                                hint="write 'name: value'; a line starting with '?' makes a complex key")
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
            _walk(value_node, path + (key,), lines, file, repeated, inside | {id(node)})
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _walk(item, path + (index,), lines, file, repeated, inside | {id(node)})


def _field(path: tuple) -> str | None:
    """The dotted field of a key path, or None for the top of a document or of a list entry."""
    return ".".join(map(str, path)) if any(isinstance(part, str) for part in path) else None


def line_for(lines: dict[tuple, int], loc: tuple) -> int | None:
    """The line of the deepest known prefix of loc."""
    for cut in range(len(loc), -1, -1):
        if tuple(loc[:cut]) in lines:
            return lines[tuple(loc[:cut])]
    return None
