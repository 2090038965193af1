"""The "saliency" payload section, baked end to end from tiny models: its arrays decode to shares that are
non-negative, causal and sum to 1, equal the saliency methods' own numbers within the quantization bound, bake
byte-identically twice, and every spec that cannot be scored fails on the field the author must change."""

from __future__ import annotations

import json
import textwrap

import numpy as np
import pytest

from generator.bake import Baker
from generator.errors import SpecError
from generator.methods.saliency.causal import causal_saliency
from generator.methods.saliency.encoder import similarity_saliency
from generator.methods.saliency.scores import METHODS
from generator.models.loading import POOL
from generator.models.registry import resolve
from generator.payload import decode_array
from generator.payload.arrays import max_error
from generator.spec import Catalogue, spec_from_block


def block(body: str):
    return spec_from_block(textwrap.dedent(body), file="docs/page.md", line_offset=10, catalogue=Catalogue({}))


def bake(tmp_path, body: str) -> dict:
    return json.loads(Baker(tmp_path / "cache", base_dir=tmp_path).payload(block(body)))


def bake_error(tmp_path, body: str) -> SpecError:
    with pytest.raises(SpecError) as caught:
        Baker(tmp_path / "cache", base_dir=tmp_path).payload(block(body))
    return caught.value


@pytest.fixture(scope="module")
def causal_payload(tmp_path_factory, tiny_models):
    body = f"model: {tiny_models['llama']}\ntext: The cat sat on the mat because it\ngenerate: 4\nviews: [saliency]\n"
    return bake(tmp_path_factory.mktemp("causal"), body), body


def test_causal_rows_are_shares_of_earlier_positions(causal_payload):
    payload, _ = causal_payload
    section, n_prompt, n = payload["saliency"], payload["n_prompt"], len(payload["tokens"])
    assert section["kind"] == "causal" and section["target"] == "logit" and section["ig_steps"] == 50
    assert "attention" not in payload, "views: [saliency] does not bake attention"
    assert sorted(section["methods"]) == sorted(METHODS)
    for encoded in section["methods"].values():
        assert encoded["dtype"] == "uint16" and encoded["shape"] == [n - n_prompt, n]
        rows, bound = decode_array(encoded), max_error(encoded)
        assert rows.min() >= 0
        for g, row in enumerate(rows):
            p = n_prompt + g
            assert np.all(row[p:] == 0), "a token's score never involves itself or later tokens"
            assert abs(row[:p].sum() - 1) <= p * bound + 1e-12
    for key in ("target_values", "ig_baseline_values", "ig_attribution_sums", "ig_gap"):
        assert len(section[key]) == n - n_prompt


def test_causal_section_equals_the_methods_within_quantization(causal_payload):
    from generator.capture import run
    from generator.methods import Needs
    payload, body = causal_payload
    section = payload["saliency"]
    loaded = POOL.get(resolve(payload["model"]["name"]))
    capture = run(block(body), loaded, Needs())
    assert capture.tokens == payload["tokens"]
    expected = causal_saliency(loaded.model, capture.input_ids[0], capture.n_prompt)
    for name, encoded in section["methods"].items():
        assert np.abs(decode_array(encoded) - expected.scores[name]).max() <= max_error(encoded) + 1e-6
    assert section["target_values"] == pytest.approx(expected.target_values.tolist(), rel=1e-5)
    assert section["ig_baseline_values"] == pytest.approx(expected.ig_baseline_values.tolist(), rel=1e-5, abs=1e-7)
    assert section["ig_gap"] == pytest.approx(expected.ig_gap.tolist(), rel=1e-4)


def test_probability_target_is_recorded(tmp_path, tiny_models):
    payload = bake(tmp_path, f"model: {tiny_models['gpt2']}\ntext: One two three\ngenerate: 2\n"
                             "saliency: {target: probability, ig_steps: 8}\n")
    section = payload["saliency"]
    assert section["target"] == "probability" and section["ig_steps"] == 8
    assert all(0 < value < 1 for value in section["target_values"])
    assert payload["saliency"]["methods"]["gradient_x_input"]["shape"] == [2, payload["n_prompt"] + 2]


def test_bakes_are_byte_identical(tmp_path, tiny_models):
    body = f"model: {tiny_models['llama']}\ntext: Again and again\ngenerate: 3\nviews: [saliency, head]\n"
    first = Baker(tmp_path / "one", base_dir=tmp_path).payload(block(body))
    second = Baker(tmp_path / "two", base_dir=tmp_path).payload(block(body))
    assert first == second
    body = f"model: {tiny_models['bert']}\npair: [A cat sat., A dog lay.]\nviews: [saliency]\n"
    assert Baker(tmp_path / "three", base_dir=tmp_path).payload(block(body)) == \
        Baker(tmp_path / "four", base_dir=tmp_path).payload(block(body))


def test_similarity_section_scores_both_sentences_read_separately(tmp_path, tiny_models):
    pair = ["A man plays a guitar.", "Someone makes music."]
    payload = bake(tmp_path, f"model: {tiny_models['bert']}\npair: {json.dumps(pair)}\nviews: [saliency]\n")
    section = payload["saliency"]
    assert section["kind"] == "similarity"
    tokens_a, tokens_b = section["tokens_a"], section["tokens_b"]
    assert [t["text"] for t in tokens_a][0] == "[CLS]" and [t["text"] for t in tokens_b][0] == "[CLS]"
    assert "".join(t["text"] for t in tokens_a[1:-1]) == "a man plays a guitar."  # lowercased word pieces, punctuation attached
    assert {t["segment"] for t in tokens_a} == {0} and {t["segment"] for t in tokens_b} == {1}
    loaded = POOL.get(resolve(str(tiny_models["bert"])))
    ids = [loaded.tokenizer(s, return_tensors="pt")["input_ids"][0] for s in pair]
    expected = similarity_saliency(loaded.model, *ids)
    assert section["similarity"] == pytest.approx(expected.similarity, abs=1e-5)
    for name, encoded in section["methods"].items():
        scores = decode_array(encoded)
        assert encoded["shape"] == [len(tokens_a) + len(tokens_b)]
        assert scores.min() >= 0 and abs(scores.sum() - 1) <= scores.size * max_error(encoded) + 1e-12
        joint = np.concatenate([expected.scores_a[name], expected.scores_b[name]])
        assert np.abs(scores - joint).max() <= max_error(encoded) + 1e-6
    assert section["ig_gap"] == pytest.approx(expected.ig_gap, rel=1e-3, abs=1e-9)


# -- bad input: each error names the field to change -------------------------------------------------------------

def test_causal_saliency_without_generate_names_views(tmp_path, tiny_models):
    error = bake_error(tmp_path, f"model: {tiny_models['gpt2']}\ntext: Nothing generated\nviews: [saliency]\n")
    assert error.field == "views" and error.line == 13
    assert "generates none" in error.message and "generate: 5" in error.hint
    error = bake_error(tmp_path, f"model: {tiny_models['gpt2']}\ntext: Nothing generated\nsaliency: {{ig_steps: 4}}\n")
    assert error.field == "saliency" and error.line == 13


def test_encoder_saliency_needs_a_pair(tmp_path, tiny_models):
    error = bake_error(tmp_path, f"model: {tiny_models['bert']}\ntext: Only one sentence.\nviews: [saliency]\n")
    assert error.field == "text" and error.line == 12
    assert "two sentences" in error.message and "pair:" in error.hint


def test_encoder_saliency_refuses_a_target(tmp_path, tiny_models):
    error = bake_error(tmp_path, f"model: {tiny_models['bert']}\npair: [a, b]\nsaliency:\n  target: probability\n")
    assert error.field == "saliency.target" and error.line == 14 and "cosine similarity" in error.message


@pytest.mark.parametrize("steps, words", [(1, "the least allowed is 2"), (513, "the most allowed is 512"),
                                          ("many", "a whole number")])
def test_ig_steps_out_of_range_reads_well(steps, words):
    with pytest.raises(SpecError) as caught:
        block(f"model: smollm2\ntext: a\ngenerate: 2\nsaliency:\n  ig_steps: {steps}\n")
    error = caught.value
    assert error.field == "saliency.ig_steps" and error.line == 15 and words in error.message
    assert error.hint == "integration steps of integrated gradients: a whole number from 2 to 512, default 50"


def test_an_overflowing_gradient_is_reported_on_the_saliency_field(tmp_path, tiny_models, monkeypatch):
    import generator.methods.saliency.causal as causal

    def overflow(*args, **kwargs):
        raise FloatingPointError("integrated gradients: the gradient is not finite at alpha = 1e-06")
    monkeypatch.setattr(causal, "causal_saliency", overflow)
    error = bake_error(tmp_path, f"model: {tiny_models['gpt2']}\ntext: Overflow\ngenerate: 1\nviews: [saliency]\n")
    assert error.field == "saliency" and "not finite" in error.message and "ig_steps" in error.hint
