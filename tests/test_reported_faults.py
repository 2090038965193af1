"""Faults found by trying the site as new readers, authors and maintainers would (issue "What readers, authors and
maintainers hit"): each test failed before its fix."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from generator.errors import SpecError
from generator.spec import spec_from_data
from test_site_build import block, build, make_site, payloads

TEXT = "The keys to the cabinet"


@pytest.fixture(scope="module")
def early_stopper(tiny_models, tmp_path_factory) -> tuple[Path, int]:
    """The tiny Llama, saved again with its end token set to the token it greedily writes after TEXT, so that any
    `generate: N` stops after one token."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = tiny_models["llama"]
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder, attn_implementation="eager").eval()
    with torch.no_grad():
        first = int(model(**tokenizer(TEXT, return_tensors="pt")).logits[0, -1].argmax())
    model.config.eos_token_id = model.generation_config.eos_token_id = first
    target = tmp_path_factory.mktemp("early-stop") / "llama"
    model.save_pretrained(target)
    tokenizer.save_pretrained(target)
    return target, first


def test_generation_that_stops_early_is_said_in_the_log_and_on_the_page(tmp_path, early_stopper):
    folder, first = early_stopper
    config = make_site(tmp_path, {"index.md": "# Stop\n\n" + block(folder, f"text: {TEXT}\ngenerate: 6")})
    result = build(config)
    assert result.returncode == 0, result.stderr
    page = (tmp_path / "site" / "index.html").read_text()
    [payload] = payloads(page)
    assert payload["generation"]["requested"] == 6 and payload["generation"]["generated"] == 1
    assert payload["generation"]["stop_token"] == payload["tokens"][-1]["text"]
    assert "stopped after 1 of the 6 tokens" in page
    assert re.search(r"docs/index\.md:\d+: the model stopped after 1 of 6 tokens", result.stderr + result.stdout)


def test_a_payload_written_as_a_file_still_names_its_model(tmp_path, tiny_models):
    config = make_site(tmp_path, {"index.md": block(tiny_models["llama"], "text: One two three.")}, embed_limit=100)
    assert build(config).returncode == 0
    page = (tmp_path / "site" / "index.html").read_text()
    assert 'data-src="' in page and not payloads(page)
    assert '<span class="explorable-model">Model: llama.</span>' in page


def test_the_build_log_keeps_to_our_lines_and_names_blocks_by_page_and_line(tmp_path, tiny_models):
    config = make_site(tmp_path, {"index.md": "# Log\n\n" + block(tiny_models["gpt2"], "text: A quiet log.")})
    result = build(config)
    assert result.returncode == 0, result.stderr
    log = result.stderr + result.stdout
    assert "Loading weights" not in log and "it/s]" not in log, log[-2000:]
    assert re.search(r"baking docs/index\.md:4 on ", log), log[-2000:]      # the block's first line


@pytest.mark.parametrize("data, words", [
    ({"generate": "five"}, "whole number"),
    ({"views": ["head", "sideways"]}, "unknown view 'sideways'"),
    ({"saliency": {"ig_steps": 1}}, "too small"),
    ({"generate": 3.5}, "whole number"),
])
def test_schema_errors_read_in_plain_words(data, words):
    with pytest.raises(SpecError) as caught:
        spec_from_data({"model": "smollm2", "text": "x", **data}, file="docs/a.md")
    text = caught.value.describe()
    assert words in text
    assert "Input should" not in text and "unable to parse" not in text
    assert not re.search(r"'\w+\.\d+'", text), text        # no 'views.1'
    assert ".." not in text and ". (" not in text


def test_a_list_entry_is_named_by_its_position_from_one():
    with pytest.raises(SpecError) as caught:
        spec_from_data({"model": "smollm2", "text": "x", "views": ["head", "sideways"]}, file="docs/a.md")
    assert "field 'views' (entry 2)" in caught.value.describe()


def bake_error(tmp_path, body: str) -> SpecError:
    from generator.bake import Baker
    spec = spec_from_data(json.loads(body), file="docs/a.md", lines={("text",): 3})
    with pytest.raises(SpecError) as caught:
        Baker(tmp_path / "cache", base_dir=tmp_path).payload(spec)
    return caught.value


def test_the_too_long_hint_names_the_binding_limit(tmp_path, tiny_models):
    model = json.dumps(str(tiny_models["gpt2"]))           # n_positions 128
    long_text = " ".join(["word"] * 200)
    by_model = bake_error(tmp_path, f'{{"model": {model}, "text": "{long_text}", "max_tokens": 1000}}')
    assert "reads at most 128 positions" in by_model.message and "cannot help" in by_model.hint
    by_option = bake_error(tmp_path, f'{{"model": {model}, "text": "{long_text}", "max_tokens": 50}}')
    assert "set by 'max_tokens'" in by_option.message and "raise 'max_tokens' (up to 128" in by_option.hint
