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
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        what = f"field '{self.field}': {self.message}" if self.field else self.message
        text = f"{where}: {what}"
        if self.hint:
            text += f" ({self.hint})"
        return text

    def located(self, file: str, line_offset: int = 0) -> "SpecError":
        """The same error, placed in an enclosing file (a Markdown page holding the block)."""
        line = None if self.line is None else self.line + line_offset
        return SpecError(self.message, file=file, line=line, field=self.field, hint=self.hint)


class ModelLoadError(ExplorableError):
    """A model could not be loaded; the message says what to install or set."""
