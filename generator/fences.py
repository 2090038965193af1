"""Finding ```explorable blocks in Markdown text, with their lines, without rendering anything.

Shared by the Markdown extension (which renders them), the MkDocs plugin (which bakes them all up front) and the CLI
(which checks and bakes them without Markdown). Blocks shown as examples inside another code fence stay code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_OPEN = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*\{?\.?explorable\}?[ \t]*$")
_ANY_FENCE = re.compile(r"^[ \t]*(?P<fence>`{3,}|~{3,})")


@dataclass
class Block:
    start: int          # 0-based index of the opening fence line
    end: int            # 0-based index of the closing fence line (or last line if unclosed)
    indent: str
    body: str
    closed: bool

    @property
    def body_line(self) -> int:
        """1-based line number of the first body line, relative to the text searched."""
        return self.start + 2


def find_blocks(lines: list[str]) -> list[Block]:
    """Every explorable block of `lines`, in order (an unclosed one runs to the end and has `closed` False)."""
    blocks = []
    index = 0
    while index < len(lines):
        match = _OPEN.match(lines[index])
        if not match:
            index = _skip_code_fence(lines, index)
            continue
        indent, fence = match.group("indent"), match.group("fence")
        closing = re.compile(rf"^{re.escape(indent)}{re.escape(fence[0])}{{{len(fence)},}}[ \t]*$")
        end = index + 1
        while end < len(lines) and not closing.match(lines[end]):
            end += 1
        body = "\n".join(line[len(indent):] if line.startswith(indent) else line.lstrip()
                         for line in lines[index + 1:end])
        blocks.append(Block(index, min(end, len(lines) - 1), indent, body, closed=end < len(lines)))
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


def front_matter_lines(text: str) -> int:
    """How many lines MkDocs strips as YAML front matter before handing the page to Markdown."""
    lines = text.splitlines()
    if not lines or lines[0].strip() != "---":
        return 0
    for index, line in enumerate(lines[1:], 1):
        if line.strip() in ("---", "..."):
            return index + 1
    return 0


def page_blocks(text: str) -> tuple[int, list[Block]]:
    """(front matter lines, closed and unclosed blocks of the page body) for a Markdown page's full text."""
    offset = front_matter_lines(text)
    return offset, find_blocks(text.splitlines()[offset:])
