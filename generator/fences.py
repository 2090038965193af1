"""Finding ```explorable blocks in Markdown text, with their lines, without rendering anything.

Shared by the Markdown extension (which renders them), the MkDocs plugin (which bakes them all up front) and the CLI
(which checks and bakes them without Markdown). Blocks shown as examples inside another code fence stay code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import yaml

from .errors import SpecError

_OPEN = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*\{?\.?explorable\}?[ \t]*$")
_ANY_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>.*?)[ \t]*$")
_NAME = re.compile(r"^\{?[ \t]*\.?(?P<name>[^\s{}.`~]+)")
NAME = "explorable"


@dataclass
class Block:
    start: int          # 0-based index of the opening fence line
    end: int            # 0-based index of the closing fence line (or last line if unclosed)
    indent: str
    body: str
    closed: bool
    fence: str = "```"  # the opening fence's characters (``` or ~~~, three or more)
    next_block: int | None = None   # unclosed: 0-based index of the next block's opening fence, which ends this one
    misnamed: str | None = None     # a code block whose info string is a near miss of 'explorable' (`near_miss`):
                                    # the info string as written; it is an error, never a figure nor code

    @property
    def body_line(self) -> int:
        """1-based line number of the first body line, relative to the text searched."""
        return self.start + 2

    def problem(self, file: str, line_offset: int = 0) -> SpecError | None:
        """What keeps this block from being read, placed at its opening fence: a misnamed fence
        (`misnamed_error`), or a block that is never closed (`unclosed_error`); None for a readable block."""
        if self.misnamed is not None:
            return self.misnamed_error(file, line_offset)
        if not self.closed:
            return self.unclosed_error(file, line_offset)
        return None

    def misnamed_error(self, file: str, line_offset: int = 0) -> SpecError:
        """The error of a code block whose name is a near miss of 'explorable' (a capital, a plural, a typo, or
        something after the name): Markdown would show its YAML as code and no check would see it."""
        written = self.misnamed or ""
        if _name(written) == NAME:
            return SpecError(f"the opening line of this explorable block holds more than its name ('{written}'), so "
                             "the page would show its YAML as code, not the figure", file=file,
                             line=self.start + 1 + line_offset,
                             hint=f"write the opening line as {self.fence}{NAME} alone; a title or caption goes "
                                  "inside the block ('title: ...', 'caption: ...')")
        return SpecError(f"this code block is named '{written}', not '{NAME}', so the page would show its YAML as "
                         f"code, not the figure: did you mean {self.fence}{NAME}?", file=file,
                         line=self.start + 1 + line_offset,
                         hint=f"write the opening line as {self.fence}{NAME} (in lower case, singular)")

    def unclosed_error(self, file: str, line_offset: int = 0) -> SpecError:
        """The error of a block that is never closed, placed at its opening fence (`line_offset`: lines above the
        text searched, such as front matter)."""
        if self.next_block is not None:
            return SpecError(f"the explorable block is never closed: the next block opens at line "
                             f"{self.next_block + 1 + line_offset} before a closing line, so lines "
                             f"{self.start + 2 + line_offset}-{self.next_block + line_offset} are taken as this "
                             "block and not shown on the page", file=file, line=self.start + 1 + line_offset,
                             hint=f"end it with a line of {self.fence} before the text that follows it")
        return SpecError("the explorable block is never closed, so every line after it is taken as this block and "
                         "not shown on the page", file=file, line=self.start + 1 + line_offset,
                         hint=f"end it with a line of {self.fence}")


def _name(info: str) -> str:
    """The name of a fence's info string: its first word, without the braces and dot of '{.name}'."""
    match = _NAME.match(info)
    return match.group("name") if match else ""


def _distance(a: str, b: str) -> int:
    """Levenshtein's edit distance: the fewest insertions, deletions and substitutions of one character that turn
    `a` into `b` (Levenshtein 1966), by the usual dynamic programme over prefixes, one row at a time."""
    row = list(range(len(b) + 1))
    for i, char in enumerate(a, 1):
        previous, row[0] = row[0], i
        for j, other in enumerate(b, 1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + (char != other))
    return row[-1]


def near_miss(info: str) -> bool:
    """Whether a fence's info string was most likely meant as 'explorable' and is not read as one: its name is
    'explorable' in other letter case, or within two edits of it (a plural, a typo, two letters swapped), or it is
    'explorable' with more after it. Other code blocks (yaml, python, text, ...) are far from it."""
    name = _name(info)
    if not name:
        return False
    if name == NAME:
        return bool(info.strip()) and not _OPEN.match(f"```{info}")
    return name.lower() == NAME or _distance(name.lower(), NAME) <= 2


def find_blocks(lines: list[str]) -> list[Block]:
    """Every explorable block of `lines`, in order, and every code block whose name is a near miss of 'explorable'
    (`near_miss`: `misnamed` set; it runs to its closing fence, as code would). An unclosed one has `closed` False
    and runs to the end, or to the line before the next block's opening fence (a closing fence has no info string,
    so without this the next block's opening line would sit inside it and its closing line would close the
    first)."""
    blocks = []
    index = 0
    while index < len(lines):
        match = _OPEN.match(lines[index])
        if not match:
            other = _ANY_FENCE.match(lines[index])
            end = _skip_code_fence(lines, index)
            if other and near_miss(other.group("info")) and not (other.group("fence")[0] == "`"
                                                                 and "`" in other.group("info")):   # inline code
                closed = end - 1 < len(lines)
                body = "\n".join(lines[index + 1:end - 1 if closed else len(lines)])
                blocks.append(Block(index, min(end - 1, len(lines) - 1), other.group("indent"), body, closed=closed,
                                    fence=other.group("fence"), misnamed=other.group("info")))
            index = end
            continue
        indent, fence = match.group("indent"), match.group("fence")
        closing = re.compile(rf"^{re.escape(indent)}{re.escape(fence[0])}{{{len(fence)},}}[ \t]*$")
        end = index + 1
        while end < len(lines) and not closing.match(lines[end]) and not _OPEN.match(lines[end]):
            end += 1
        interrupted = end < len(lines) and not closing.match(lines[end])   # the next block opens first
        body = "\n".join(line[len(indent):] if line.startswith(indent) else line.lstrip()
                         for line in lines[index + 1:end])
        if interrupted:
            blocks.append(Block(index, end - 1, indent, body, closed=False, fence=fence, next_block=end))
            index = end
            continue
        blocks.append(Block(index, min(end, len(lines) - 1), indent, body, closed=end < len(lines), fence=fence))
        index = end + 1
    return blocks


def _skip_code_fence(lines: list[str], index: int) -> int:
    """Index after a code fence opened at `index` (so examples of blocks inside code stay code), else index + 1."""
    other = _ANY_FENCE.match(lines[index])
    if not other:
        return index + 1
    fence = other.group("fence")
    closing = re.compile(rf"^[ \t]*{re.escape(fence[0])}{{{len(fence)},}}[ \t]*$")
    end = index + 1
    while end < len(lines) and not closing.match(lines[end]):
        end += 1
    return end + 1


_YAML_FRONT = re.compile(r"^-{3}[ \t]*\n(.*?\n)(?:\.{3}|-{3})[ \t]*\n", re.DOTALL)
_META_LINE = re.compile(r"^[ ]{0,3}[A-Za-z0-9_-]+:\s*.*")
_META_MORE = re.compile(r"^([ ]{4}|\t)")


def front_matter_lines(text: str) -> int:
    """How many lines MkDocs strips before handing the page to Markdown (`mkdocs.utils.meta.get_data`, whose rules
    these are): YAML front matter between `---` lines that reads as a mapping, or else MultiMarkdown-style
    `Key: value` lines up to the first blank line; and in both cases the blank lines after it."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = text.split("\n")
    front = _YAML_FRONT.match(text)
    if front:
        try:
            data = yaml.safe_load(front.group(1))
        except yaml.YAMLError:
            return 0                          # MkDocs keeps the page whole
        if not isinstance(data, dict):
            return 0
        count = front.group(0).count("\n")
    else:
        count, key = 0, False
        while count < len(lines):
            line = lines[count]
            if line.strip() == "":
                count += 1
                break
            if _META_LINE.match(line):
                key = True
            elif not (key and _META_MORE.match(line)):
                break
            count += 1
    while count < len(lines) - 1 and lines[count] == "":
        count += 1
    return count


def page_blocks(text: str) -> tuple[int, list[Block]]:
    """(front matter lines, closed and unclosed blocks of the page body) for a Markdown page's full text."""
    offset = front_matter_lines(text)
    return offset, find_blocks(text.splitlines()[offset:])
