"""Errors an author can act on: each names the file, the line, the field and what to do."""

from __future__ import annotations

import re

# Characters of an author's text that a page must draw as a mark (⟨202E⟩) rather than pass on: the explicit bidi
# controls (embeddings and overrides LRE RLE PDF LRO RLO, isolates LRI RLI FSI PDI), which reorder the text around
# them; the line and paragraph separators U+2028 / U+2029, which break a line where the author sees none; and the C0
# and C1 controls other than tab, line feed and carriage return (NUL among them: HTML turns it into U+FFFD, a
# terminal shows nothing). The implicit bidi marks (LRM U+200E, RLM U+200F, ALM U+061C) are kept: they set the
# direction of neutral characters beside them, which right-to-left text may need, and cannot reverse letters.
# generator/widget_html.py draws them (`author_text`); tokens.js draws the same characters of a token's text.
MARKED = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
# The escapes repr() writes for them (an even run of backslashes before: not an escaped backslash's tail)
_ESCAPED = re.compile(r"(?<!\\)((?:\\\\)*)\\(x[0-9a-f]{2}|u[0-9a-f]{4})")


def quoted(value: object) -> str:
    """`repr(value)` for a message that quotes an author's value, except that the characters of `MARKED` are kept as
    they are, not escaped ('\\u202e'): a message and the field it names then show them alike, each drawn as a mark
    where the error is shown (`widget_html.author_text` in an error box). Other escapes (a newline, a quote, a
    backslash) are repr's."""
    text = repr(value)
    if not isinstance(value, str):
        return text

    def back(found: re.Match) -> str:
        char = chr(int(found.group(2)[1:], 16))
        return found.group(1) + char if MARKED.fullmatch(char) else found.group()

    return _ESCAPED.sub(back, text)


def marked(text: str) -> str:
    """`text` with each character of `MARKED` written as its mark, ⟨202E⟩ (where no markup may go: a terminal line,
    a log line, an HTML <title>; `widget_html.author_text` draws the same marks as HTML with the name as a tooltip)."""
    return MARKED.sub(lambda found: f"⟨{ord(found.group()):04X}⟩", text)


class ExplorableError(Exception):
    """Base class for every error the generator reports to an author or maintainer."""


class SpecError(ExplorableError):
    # The spec a block makes with its refused values left out, and the key paths left out ((spec, paths)), when the
    # schema refused values that can be left out (`spec.spec_from_data`); `explorables check` runs the model's rules
    # on it. None elsewhere (an error that is not the schema's, or a copy made by `located` or `combine`).
    partial = None

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

    @property
    def errors(self) -> list["SpecError"]:
        """Each error this one reports: itself (`SpecErrors` holds several)."""
        return [self]

    @staticmethod
    def combine(errors: list["SpecError"]) -> "SpecError":
        """One error to raise for `errors` (at least one): the error itself when there is one, else a `SpecErrors`
        holding them all in reading order (`SpecErrors.order`)."""
        flat = [one for error in errors for one in error.errors]
        if not flat:
            raise ValueError("combine needs at least one error")
        return flat[0] if len(flat) == 1 else SpecErrors(flat)


class SpecErrors(SpecError):
    """Every error of one block (or one curated entry), reported together so that an author fixes them in one go.

    It reads as its first error (`message`, `file`, `line`, `field`, `hint`: code that handles one error still works);
    `errors` lists them all, ordered by file and line (`order`), each once; `describe()` gives one line each."""

    def __init__(self, errors: list[SpecError]):
        unique: dict[str, SpecError] = {}
        for one in (one for error in errors for one in error.errors):
            unique.setdefault(one.describe(), one)      # the first of equal errors
        self._errors = sorted(unique.values(), key=self.order)
        first = self._errors[0]
        super().__init__(first.message, file=first.file, line=first.line, field=first.field, hint=first.hint)

    @staticmethod
    def order(error: SpecError) -> tuple:
        """Reading order: by file, then line (an error without a line last); errors on one line keep the order they
        were found in (the schema's field order, then the rules' order)."""
        return (error.file, error.line is None, error.line or 0)

    @property
    def errors(self) -> list[SpecError]:
        return list(self._errors)

    def describe(self) -> str:
        return "\n".join(error.describe() for error in self._errors)

    def located(self, file: str, line_offset: int = 0) -> "SpecErrors":
        return SpecErrors([error.located(file, line_offset) for error in self._errors])


def each(error: ExplorableError) -> list[ExplorableError]:
    """The errors to report one by one for `error`: those of a `SpecErrors`, else the error itself."""
    return list(error.errors) if isinstance(error, SpecError) else [error]


class ModelLoadError(ExplorableError):
    """A model could not be loaded; the message says what to install or set."""


class ModelUnavailable(ModelLoadError):
    """A hub model that is not in the local Hugging Face cache and that the hub did not give: it has no such model
    (or revision, or config.json), the model is gated, or the hub cannot be reached (or HF_HUB_OFFLINE is set).
    Loading it would fail the same way, after transformers' retries (about 25 s without a network), so the bake
    stops at this error too (`precheck.check_against_files`)."""


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
