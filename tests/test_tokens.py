"""Tokens read as text: byte-level pieces merged into characters, partial pieces marked, no BPE artefacts."""

from __future__ import annotations

import pytest

from generator.tokens import display_tokens, tokenizer_style


def dedupe_partials(records):
    """Rebuild the text: a character split over partial tokens is shown on each piece, count it once."""
    out, previous = [], None
    for record in records:
        if record["partial"] and record["text"] == previous:
            continue
        out.append(record["text"])
        previous = record["text"] if record["partial"] else None
    return "".join(out)


def test_cjk_text_splits_into_byte_tokens_but_reads_as_characters(byte_level_tokenizer):
    text = "我爱北京天安门"
    ids = byte_level_tokenizer(text)["input_ids"]
    assert len(ids) == 15, "SmolLM2 splits these 7 characters into 15 byte-level tokens"
    assert "\ufffd" in "".join(byte_level_tokenizer.decode([i]) for i in ids), "each piece alone is mojibake"
    records = display_tokens(byte_level_tokenizer, ids)
    assert all("\ufffd" not in r["text"] for r in records)
    assert all(r["text"] in text for r in records)
    assert any(r["partial"] for r in records)
    assert dedupe_partials(records) == text


def test_spaces_and_newlines_are_real_characters(byte_level_tokenizer):
    text = "Hello world\n  indented — em dash 🙂"
    ids = byte_level_tokenizer(text)["input_ids"]
    records = display_tokens(byte_level_tokenizer, ids)
    joined = dedupe_partials(records)
    assert joined == text
    assert not any(marker in r["text"] for r in records for marker in ("Ġ", "Ċ", "â"))


def test_wordpiece_has_no_hash_prefixes_and_flags_special_tokens(wordpiece_tokenizer):
    encoded = wordpiece_tokenizer("Tokenization works", "second sentence")
    records = display_tokens(wordpiece_tokenizer, encoded["input_ids"], segments=encoded["token_type_ids"])
    assert tokenizer_style(wordpiece_tokenizer) == "wordpiece"
    assert not any(r["text"].startswith("##") for r in records)
    assert [r["text"] for r in records if r["special"]] == ["[CLS]", "[SEP]", "[SEP]"]
    assert "".join(r["text"] for r in records if not r["special"] and r["segment"] == 0) == "tokenization works"
    assert {r["segment"] for r in records} == {0, 1}


@pytest.mark.parametrize("text", ["She played the guitar.", "(It's well-known, isn't it?) Yes: 50% [sure]!"])
def test_wordpiece_punctuation_reads_as_written(wordpiece_tokenizer, text):
    """WordPiece splits punctuation off and forgets spacing; the display puts it back (uncased model: lower case)."""
    ids = wordpiece_tokenizer(text, add_special_tokens=False)["input_ids"]
    assert len(ids) > len(text.split()), "the punctuation is split into tokens of its own"
    assert "".join(r["text"] for r in display_tokens(wordpiece_tokenizer, ids)) == text.lower()


def test_generated_tokens_are_marked(byte_level_tokenizer):
    ids = byte_level_tokenizer("a b c d")["input_ids"]
    records = display_tokens(byte_level_tokenizer, ids, n_prompt=2)
    assert [r["generated"] for r in records] == [False, False] + [True] * (len(ids) - 2)


@pytest.mark.parametrize("text", ["<script>alert(1)</script>", "a & b < c"])
def test_markup_stays_text(byte_level_tokenizer, text):
    records = display_tokens(byte_level_tokenizer, byte_level_tokenizer(text)["input_ids"])
    assert dedupe_partials(records) == text
