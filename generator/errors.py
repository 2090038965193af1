"""Errors an author can act on: each names the file, the line, the field and what to do."""

from __future__ import annotations


class ExplorableError(Exception):
    """Base class for every error the generator reports to an author or maintainer."""


class SpecError(ExplorableError):
    def __init__(self, message: str, *, file: str = "<spec>", line: int | None = None,
                 field: str | None = None, hint: str | None = None):
        self.message = message
        self.file = file
        self.line = line
        self.field = field
        self.hint = hint
        super().__init__(self.describe())

    def describe(self) -> str:
        """`file:line: field 'name' (entry k): message (hint)` in plain words: list positions are counted from 1."""
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        message = self.message.rstrip(". ")
        what = f"field {readable_field(self.field)}: {message}" if self.field else message
        text = f"{where}: {what}"
        if self.hint:
            text += f" ({self.hint.rstrip('. ')})"
        return text

    def located(self, file: str, line_offset: int = 0) -> "SpecError":
        """The same error, placed in an enclosing file (a Markdown page holding the block)."""
        line = None if self.line is None else self.line + line_offset
        return SpecError(self.message, file=file, line=line, field=self.field, hint=self.hint)


class ModelLoadError(ExplorableError):
    """A model could not be loaded; the message says what to install or set."""


def readable_field(field: str) -> str:
    """'views.1' -> "'views' (entry 2)"; 'saliency.ig_steps' -> "'saliency.ig_steps'"."""
    names, entries = [], []
    for part in field.split("."):
        if part.isdigit():
            entries.append(str(int(part) + 1))
        else:
            names.append(part)
    text = f"'{'.'.join(names)}'"
    return text + (f" (entry {', '.join(entries)})" if entries else "")
