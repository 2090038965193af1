"""Which positions an edit may change and which tokens may go there: whole words of the text's script.

- A position is editable when its token is a whole word: not special, letters only (after its leading space), and
  neither continued by the next token (which starts with a space, punctuation, a special token, or is absent) nor
  continuing the previous one (it starts with a space, follows a special token or punctuation, or opens the text).
- A candidate is a token of the model's own vocabulary that is a whole word of letters (at least two), in the
  scripts (Unicode character names' first word: LATIN, CYRILLIC, ...) of the text's letters, not special, not part of
  a character, and read back as itself: `vocabulary.encode(text) == [id]` (which leaves out WordPiece's `##`
  continuations and byte-level pieces that only occur inside words). Where the vocabulary spells word starts with a
  leading space (byte-level BPE, SentencePiece), a candidate keeps the form of the token it replaces.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

if TYPE_CHECKING:
    from ...tokens import Vocabulary


def _script(char: str) -> str:
    return unicodedata.name(char, "?").split(" ")[0]


def _word(text: str) -> str | None:
    """The letters of a whole-word token text (one leading space allowed), or None."""
    body = text[1:] if text.startswith(" ") else text
    return body if body and body.isalpha() else None


def scripts(tokens: Sequence[dict[str, Any]]) -> set[str]:
    """The scripts of the letters in the non-special tokens."""
    return {_script(c) for t in tokens if not t.get("special") for c in t["text"] if c.isalpha()}


def editable(tokens: Sequence[dict[str, Any]], following: dict[str, Any] | None = None) -> np.ndarray:
    """Mask [n]: which of these display tokens are whole words an edit may replace. `following`: the token after the
    last one (a causal model's explained output), which must not continue it."""
    n = len(tokens)
    out = np.zeros(n, dtype=bool)
    for i, token in enumerate(tokens):
        if token.get("special") or token.get("partial") or _word(token["text"]) is None:
            continue
        before = tokens[i - 1] if i > 0 else None
        after = tokens[i + 1] if i + 1 < n else following
        starts = (token["text"].startswith(" ") or before is None or before.get("special")
                  or not before["text"][-1:].isalpha() or before.get("segment") != token.get("segment"))
        ends = (after is None or after.get("special") or after["text"].startswith(" ")
                or not after["text"][:1].isalpha() or after.get("segment") != token.get("segment"))
        out[i] = bool(starts and ends)
    return out


@dataclass(frozen=True)
class Candidates:
    """Whole-word candidate tokens: ids [C] and texts, `spaced` [C] (leading space), `spelled_with_space`: whether
    this vocabulary marks word starts with a space at all."""

    ids: np.ndarray
    texts: list[str]
    spaced: np.ndarray
    spelled_with_space: bool

    def for_token(self, text: str) -> np.ndarray:
        """Indices into ids of the candidates that may replace a token spelled `text` (same form)."""
        if not self.spelled_with_space:
            return np.arange(len(self.ids))
        return np.flatnonzero(self.spaced == text.startswith(" "))


def candidates(vocabulary: "Vocabulary", text_scripts: set[str]) -> Candidates:
    """The vocabulary's whole-word tokens in `text_scripts` (module docstring). Reads every token once per
    tokenizer and set of scripts (kept in `Vocabulary.shared`: every bake of a model in one build reuses it)."""
    memo = vocabulary.shared()
    key = ("counterfactuals.candidates", frozenset(text_scripts))
    if key not in memo:
        memo[key] = _candidates(vocabulary, text_scripts)
    return memo[key]


def _candidates(vocabulary: "Vocabulary", text_scripts: set[str]) -> Candidates:
    records = vocabulary.display(range(vocabulary.size))
    ids, texts = [], []
    for i, record in enumerate(records):
        if record["special"] or record["partial"]:
            continue
        word = _word(record["text"])
        if word is None or len(word) < 2 or any(_script(c) not in text_scripts for c in word):
            continue
        ids.append(i)
        texts.append(record["text"])
    back = vocabulary.encode_many(texts)
    keep = [k for k, (i, read) in enumerate(zip(ids, back)) if read == [i]]
    ids, texts = [ids[k] for k in keep], [texts[k] for k in keep]
    spaced = np.array([t.startswith(" ") for t in texts], dtype=bool)
    return Candidates(np.array(ids, dtype=np.int64), texts, spaced, bool(spaced.any()))
