"""The page's WordPiece tokenizer (assets/js/live-wordpiece.js) gives the ids and display tokens of the model's
Python tokenizer on tests/live/strings.json: accents, CJK, emoji, zero-width and control characters, long words,
numbers. The Python tokenizer (Hugging Face tokenizers) writes the expected ids here; node runs the JS side."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from generator.live.export import tokenizer_settings
from generator.models.registry import resolve
from generator.tokens import display_tokens

REPO = Path(__file__).resolve().parent.parent
STRINGS = REPO / "tests" / "live" / "strings.json"


@pytest.fixture(scope="module")
def tokenizer():
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(resolve("minilm").path)


def test_strings_are_many_and_varied():
    strings = json.loads(STRINGS.read_text(encoding="utf-8"))
    assert len(strings) >= 200 and len(set(strings)) == len(strings)
    joined = "".join(strings)
    for needle in ("\u200b", "\u00e9", "\u65e5", "\U0001F600", "\u0007", "9" * 0 + "1,000,000"):
        assert needle in joined
    assert any(len(s) > 100 for s in strings)


def test_js_tokenizer_equals_python(tokenizer, tmp_path):
    if shutil.which("node") is None:
        pytest.fail("node is not installed; scripts/setup --test expects Node 20+")
    settings = tokenizer_settings(tokenizer)
    vocab = settings.pop("vocab")
    assert vocab == tokenizer.convert_ids_to_tokens(list(range(len(vocab))))
    cases = []
    strings = json.loads(STRINGS.read_text(encoding="utf-8"))
    for text in strings:
        encoded = tokenizer(text)
        ids = encoded["input_ids"]
        cases.append({"text": text, "ids": ids, "segments": encoded["token_type_ids"],
                      "tokens": display_tokens(tokenizer, ids, source=text)})
    for first, second in zip(strings[::7], strings[3::7]):      # sentence pairs: [CLS] A [SEP] B [SEP]
        encoded = tokenizer(first, second)
        ids, segments = encoded["input_ids"], encoded["token_type_ids"]
        cases.append({"text": first, "pair": second, "ids": ids, "segments": segments,
                      "tokens": display_tokens(tokenizer, ids, segments=segments, source=(first, second))})
    assert sum(tokenizer.unk_token_id in case["ids"] for case in cases) >= 10    # unknown tokens are exercised
    path = tmp_path / "cases.json"
    path.write_text(json.dumps({"settings": settings, "vocab": vocab, "cases": cases}), encoding="utf-8")
    run = subprocess.run(["node", "--test", str(REPO / "tests" / "js" / "live-wordpiece.test.mjs")], cwd=REPO,
                         env={**os.environ, "LIVE_TOKENIZER_CASES": str(path)}, capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    assert "# skipped 0" in run.stdout and "# pass 6" in run.stdout, run.stdout[-1500:]
