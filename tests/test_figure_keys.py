"""The caption's key to the dashed underline of partial tokens (issue 21, point 9): written when a token of the block,
or of a section's own sentences, holds only part of a character's bytes, and only then."""

from __future__ import annotations

from generator.widget_html import partial_key


def token(text: str, partial: bool = False) -> dict:
    return {"text": text, "special": False, "partial": partial, "segment": 0, "generated": False}


def test_the_key_is_written_only_for_blocks_with_partial_tokens():
    assert partial_key({"tokens": [token("I"), token(" love")]}) == ""
    key = partial_key({"tokens": [token("I"), token(" 🍕", True), token("🍕", True)]})
    assert 'class="explorable-part"' in key and 'class="xp-partial"' in key and "bytes" in key
    # a pair's sentences, read on their own, come in a section
    pair = {"tokens": [token("[CLS]")], "explanations": {"tokens_a": [token("a")], "tokens_b": [token("🍕", True)]}}
    assert partial_key(pair) == key
    assert partial_key({"tokens": [], "explanations": {"tokens_a": None}, "saliency": []}) == ""
