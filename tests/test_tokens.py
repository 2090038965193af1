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


# -- characters without a glyph --------------------------------------------------------------------------------

def test_zero_width_and_format_characters_are_named(byte_level_tokenizer):
    """The reported input: tokens made only of zero-width characters showed nothing. Each such token now lists
    its characters by code point and Unicode name (checked against unicodedata by hand-written expectations)."""
    text = "pass\u200bword, a\u200c\u200db"
    records = display_tokens(byte_level_tokenizer, byte_level_tokenizer(text)["input_ids"], source=text)
    assert dedupe_partials(records) == text, "the text itself stays the real characters"
    named = {name for r in records for name in r.get("invisible", [])}
    assert named == {"U+200B ZERO WIDTH SPACE", "U+200C ZERO WIDTH NON-JOINER", "U+200D ZERO WIDTH JOINER"}
    for record in records:
        if record["text"].strip("\u200b\u200c\u200d") == "":
            assert record.get("invisible"), f"token {record} has no visible label and no names"
        else:
            assert "invisible" not in record or record["text"] != record["text"].strip("\u200b\u200c\u200d")


@pytest.mark.parametrize("text, names", [
    ("x\u2009y", ["U+2009 THIN SPACE"]),
    ("\u00a0", ["U+00A0 NO-BREAK SPACE"]),
    ("a\u2028b", ["U+2028 LINE SEPARATOR"]),
    ("\ufeffa", ["U+FEFF ZERO WIDTH NO-BREAK SPACE"]),
    ("soft\u00adhyphen", ["U+00AD SOFT HYPHEN"]),
    ("\u0301", ["U+0301 COMBINING ACUTE ACCENT"]),
    ("e\u0301", []),                      # an accent on a letter is visible
    (" a\tb\nc", []),                     # space, tab and newline have their own glyphs in the widgets
    ("\x07", ["U+0007 (control character)"]),
    ("\ue000", ["U+E000 (private use)"]),
])
def test_invisible_characters_by_category(text, names):
    from generator.tokens import invisible_characters
    assert invisible_characters(text) == names


# -- unknown tokens ----------------------------------------------------------------------------------------------

def test_unknown_token_is_real_input_labelled_by_its_source_text(wordpiece_tokenizer):
    """The reported input: MiniLM reads the emoji as [UNK], which was styled and hidden like [CLS]/[SEP]."""
    pair = ["I love pizza 🍕", "Pizza is my favourite food"]
    encoded = wordpiece_tokenizer(*pair)
    assert wordpiece_tokenizer.unk_token_id in encoded["input_ids"]
    records = display_tokens(wordpiece_tokenizer, encoded["input_ids"], segments=encoded["token_type_ids"],
                             source=pair)
    unknown = [r for r in records if r.get("unknown")]
    assert [r["text"].strip() for r in unknown] == ["🍕"]
    assert not unknown[0]["special"] and unknown[0]["segment"] == 0
    assert [r["text"] for r in records if r["special"]] == ["[CLS]", "[SEP]", "[SEP]"]


def test_every_unknown_token_gets_its_own_characters(wordpiece_tokenizer):
    """Several unknown words in one text, in the second sentence of a pair too; a literal "[UNK]" typed by the
    author is the tokenizer's special token, not an unknown character."""
    pair = ["snow ☃ and 😀😀 here", "café ☕ [UNK] end"]
    encoded = wordpiece_tokenizer(*pair)
    records = display_tokens(wordpiece_tokenizer, encoded["input_ids"], segments=encoded["token_type_ids"],
                             source=pair)
    assert [(r["text"].strip(), r["segment"]) for r in records if r.get("unknown")] == [
        ("☃", 0), ("😀😀", 0), ("☕", 1)]
    assert [r["text"] for r in records if r["special"]] == ["[CLS]", "[SEP]", "[UNK]", "[SEP]"]


def test_unknown_token_without_source_is_still_not_special(wordpiece_tokenizer):
    ids = wordpiece_tokenizer("pizza 🍕")["input_ids"]
    records = display_tokens(wordpiece_tokenizer, ids)
    unknown = [r for r in records if r.get("unknown")]
    assert len(unknown) == 1 and not unknown[0]["special"] and unknown[0]["text"].strip() == "[UNK]"


def _tiny_fast_tokenizer(model, pre_tokenizer, decoder):
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast
    backend = Tokenizer(model)
    backend.pre_tokenizer = pre_tokenizer
    backend.decoder = decoder
    return PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="<unk>")


def test_unknown_tokens_of_a_sentencepiece_style_tokenizer():
    """A Metaspace (SentencePiece-style) tokenizer with an unknown token and no byte fallback."""
    from tokenizers import decoders, models, pre_tokenizers
    vocab = {"<unk>": 0, "a": 1, "b": 2, "ab": 3, "▁": 4, "▁ab": 5, "▁ba": 6}
    tokenizer = _tiny_fast_tokenizer(models.WordLevel(vocab, unk_token="<unk>"), pre_tokenizers.Metaspace(),
                                     decoders.Metaspace())
    text = "ab 🍕 ba"
    ids = tokenizer(text)["input_ids"]
    assert 0 in ids
    records = display_tokens(tokenizer, ids, source=text)
    assert [r["text"].strip() for r in records if r.get("unknown")] == ["🍕"]
    assert not any(r["special"] for r in records)


def test_unknown_bytes_of_a_byte_level_tokenizer_read_as_one_character():
    """A byte-level BPE whose vocabulary lacks the emoji's bytes gives one unknown token per byte; together they
    show the emoji, each marked as carrying part of it (as known byte pieces are)."""
    from tokenizers import decoders, models, pre_tokenizers
    vocab = {"<unk>": 0, "a": 1, "b": 2, "ab": 3, "Ġ": 4, "Ġb": 5, "Ġba": 6, "ba": 7}
    merges = [("a", "b"), ("b", "a"), ("Ġ", "b"), ("Ġb", "a")]
    tokenizer = _tiny_fast_tokenizer(models.BPE(vocab, merges, unk_token="<unk>"),
                                     pre_tokenizers.ByteLevel(add_prefix_space=False), decoders.ByteLevel())
    text = "ab 🍕 ba"
    ids = tokenizer(text)["input_ids"]
    assert ids.count(0) == len("🍕".encode())
    records = display_tokens(tokenizer, ids, source=text)
    unknown = [r for r in records if r.get("unknown")]
    assert len(unknown) == 4 and all(r["text"] == "🍕" and r["partial"] and not r["special"] for r in unknown)
    assert dedupe_partials(records) == text
