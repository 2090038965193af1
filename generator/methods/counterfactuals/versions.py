"""Versions of the input side by side: tokens grouped into words, and a word-level diff against the original
(difflib.SequenceMatcher over the words' texts, without their leading spaces): opcodes in word indices
(`equal`, `replace`, `insert`, `delete`) from which a view aligns the two texts and marks the changed words.
"""

from __future__ import annotations

from difflib import SequenceMatcher
from typing import Any, Sequence


def words(tokens: Sequence[dict[str, Any]]) -> list[list[int]]:
    """[start, end) token ranges of the words: a word starts at a token that starts with a space or a line break,
    a special token, the token after one, or where a letter or digit follows something else (and the reverse)."""
    out: list[list[int]] = []
    for i, token in enumerate(tokens):
        text = token["text"]
        before = tokens[i - 1] if i else None
        new = (before is None or token.get("special") or before.get("special") or text[:1].isspace()
               or before["text"][-1:].isspace() or (text[:1].isalnum() != before["text"][-1:].isalnum())
               or token.get("segment") != before.get("segment"))
        if new or not out:
            out.append([i, i + 1])
        else:
            out[-1][1] = i + 1
    return out


def word_texts(tokens: Sequence[dict[str, Any]], spans: list[list[int]]) -> list[str]:
    return ["".join(tokens[i]["text"] for i in range(a, b)).strip() for a, b in spans]


def align(original: Sequence[dict[str, Any]], version: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """{"words": the version's word spans, "ops": [[tag, i1, i2, j1, j2], ...] (original words i1:i2 against the
    version's j1:j2), "changed": [token indices of the version in a changed word]}."""
    a_spans, b_spans = words(original), words(version)
    matcher = SequenceMatcher(None, word_texts(original, a_spans), word_texts(version, b_spans), autojunk=False)
    ops = [[tag, i1, i2, j1, j2] for tag, i1, i2, j1, j2 in matcher.get_opcodes()]
    changed = sorted({t for tag, _, _, j1, j2 in ops if tag != "equal" for a, b in b_spans[j1:j2] for t in range(a, b)})
    return {"words": b_spans, "ops": ops, "changed": changed}


def text_of(tokens: Sequence[dict[str, Any]]) -> str:
    """The text a list of display tokens spells (special tokens left out)."""
    return "".join(t["text"] for t in tokens if not t.get("special")).strip()
