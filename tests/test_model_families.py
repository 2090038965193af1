"""Blocks that used to stop a whole build with a traceback (issue 22): a GPT-NeoX model's LM head under its
transformers 5 name, explanations on a family whose adapter does not say where its value vectors are, and any other
failure of a bake, which must become the block's own error box while the rest of the page builds."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from generator.bake import Baker
from generator.errors import SpecError
from generator.payload import decode_array
from generator.spec import spec_from_data

TEXT = "One two three four five six"


@pytest.fixture(scope="module")
def neox(tmp_path_factory, byte_level_tokenizer) -> Path:
    """A tiny random GPT-NeoX (Pythia's family), saved as from the hub."""
    import torch
    from transformers import GPTNeoXConfig, GPTNeoXForCausalLM

    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("neox") / "gpt_neox"
    GPTNeoXForCausalLM(GPTNeoXConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                                     vocab_size=len(byte_level_tokenizer), max_position_embeddings=128,
                                     bos_token_id=1, eos_token_id=2, attn_implementation="eager")).save_pretrained(folder)
    byte_level_tokenizer.save_pretrained(folder)
    return folder


def bake(tmp_path, **fields) -> dict:
    import json
    spec = spec_from_data({"text": TEXT, **fields}, file="page.md")
    return json.loads(Baker(tmp_path / "cache").payload(spec))


def test_gpt_neox_ranks_bake_and_the_last_row_is_the_models_own_softmax(neox, tmp_path):
    """transformers 5 names the head `lm_head` (4.x: `embed_out`): the lens finds it under either name."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    payload = bake(tmp_path, model=str(neox), generate=2, views=["ranks"])
    lens = payload["lens"]
    top_probs = decode_array(lens["top_probs"])                       # [L + 1, N, k]
    model = AutoModelForCausalLM.from_pretrained(neox, attn_implementation="eager").eval()
    ids = torch.tensor([lens["token_ids"]])
    with torch.no_grad():
        expected = torch.softmax(model(ids).logits[0].double(), -1).topk(lens["top_k"]).values.numpy()
    assert top_probs.shape[0] == 3
    np.testing.assert_allclose(top_probs[-1], expected, atol=2e-5)


def test_explanations_without_value_vectors_bake_the_methods_that_need_none(neox, tmp_path, monkeypatch):
    from generator.models import adapters
    from generator.models.loading import POOL
    from generator.models.registry import resolve

    without = replace(adapters.ADAPTERS["gpt_neox"], values="")
    monkeypatch.setitem(adapters.ADAPTERS, "gpt_neox", without)          # what the rules read
    monkeypatch.setattr(POOL.get(resolve(str(neox))), "adapter", without)   # what the loaded model carries
    payload = bake(tmp_path, model=str(neox), generate=2, views=["explanations"],
                   explanations={"methods": ["rollout", "flow", "grad_rollout"]})
    shares = decode_array(payload["explanations"]["shares"])          # [M, T, N]
    assert shares.shape[:2] == (3, 2)
    np.testing.assert_allclose(shares.sum(-1), 1.0, atol=3 * shares.shape[-1] / 65535)

    with pytest.raises(SpecError) as caught:
        bake(tmp_path / "b", model=str(neox), generate=2, views=["explanations"],
             explanations={"methods": ["rollout", "value_weighted"]})
    error = caught.value
    assert error.field == "explanations.methods"
    assert "explanations" in error.message and "gpt_neox" in error.message and "value_weighted" in error.message
    assert "views that work on gpt_neox: head, model" in error.hint
    with pytest.raises(SpecError) as caught:    # the default methods include value_weighted: placed at 'views'
        bake(tmp_path / "c", model=str(neox), generate=2, views=["explanations"])
    assert caught.value.field == "views" and "explanations" in caught.value.hint


def test_gpt_neox_value_vectors_are_the_ones_its_attention_weighs(neox, tmp_path):
    """GPT-NeoX's fused query_key_value holds each head's q, k, v side by side: the values the capture takes from it
    are the `value` tensor the model hands its eager attention function."""
    import torch
    from transformers.models.gpt_neox import modeling_gpt_neox

    from generator.capture import run
    from generator.hooks import hook_name
    from generator.methods import Needs
    from generator.models.loading import POOL
    from generator.models.registry import resolve

    seen = []
    original = modeling_gpt_neox.eager_attention_forward

    def spy(module, query, key, value, *args, **kwargs):
        seen.append(value[0].detach().clone())
        return original(module, query, key, value, *args, **kwargs)
    spec = spec_from_data({"model": str(neox), "text": TEXT}, file="t.yml")
    loaded = POOL.get(resolve(str(neox)))
    modeling_gpt_neox.eager_attention_forward = spy
    try:
        capture = run(spec, loaded, Needs(hooks=("blocks.*.attn.hook_v", "blocks.*.attn.W_O")))
    finally:
        modeling_gpt_neox.eager_attention_forward = original
    assert len(seen) == 2
    for layer, value in enumerate(seen):
        np.testing.assert_allclose(capture.activations[hook_name(layer, "attn.hook_v")], value.numpy(), atol=1e-6)
    assert capture.weights[f"blocks.0.attn.W_O"].shape == (4, 8, 32)
    assert torch.equal(torch.tensor(capture.weights["blocks.1.attn.W_O"]).reshape(32, 32).T,
                       loaded.model.gpt_neox.layers[1].attention.dense.weight.detach())


def test_any_failure_of_a_bake_is_a_placed_error_and_the_rest_of_the_page_builds(neox, tmp_path, monkeypatch):
    import markdown

    from generator.markdown_ext import ExplorablesExtension
    from generator.methods import attention

    real = attention.encode_weights

    def failing(weights):
        if weights.shape[-1] == 3:         # the block with a three-token text fails inside the library
            raise RuntimeError("shape mismatch deep inside a library")
        return real(weights)
    monkeypatch.setattr(attention, "encode_weights", failing)
    with pytest.raises(SpecError) as caught:
        bake(tmp_path, model=str(neox), text="One two three", views=["head"])
    assert caught.value.field == "views" and "RuntimeError: shape mismatch" in caught.value.message
    assert "support table" in caught.value.hint

    page = (f"```explorable\nmodel: {neox}\ntext: One two three\nviews: [head]\n```\n\nBetween.\n\n"
            f"```explorable\nmodel: {neox}\ntext: {TEXT}\nviews: [head]\n```\n")
    html = markdown.markdown(page, extensions=[ExplorablesExtension(cache_dir=str(tmp_path / "md"))])
    assert html.count("explorable--error") == 1 and "RuntimeError: shape mismatch" in html
    assert "Between." in html and html.count("<explorable-head-view") == 1


def test_a_text_too_long_for_the_attention_views_says_their_limit_and_why(neox, tmp_path, monkeypatch):
    """The head and model views read a long text one layer at a time, measured up to MAX_TOKENS: past it the block
    is refused before the model runs, at bake and by `explorables check` alike, naming the longest text they read
    on this model."""
    from generator.cli import check_against_files
    from generator.methods import attention
    from generator.models.registry import resolve

    monkeypatch.setattr(attention, "MAX_TOKENS", 5)
    text = "One two three four five six seven"
    spec = spec_from_data({"model": str(neox), "text": text, "views": ["head", "model"]}, file="page.md")
    with pytest.raises(SpecError) as at_bake:
        Baker(tmp_path / "cache").payload(spec)
    with pytest.raises(SpecError) as at_check:
        check_against_files(spec, resolve(str(neox)))
    for error in (at_bake.value, at_check.value):
        assert error.field == "text" and "head and model views read at most 5 tokens" in error.message
        assert "one layer at a time" in error.message and "shorten the text to 5 tokens" in error.hint
    short = spec_from_data({"model": str(neox), "text": "One two three", "views": ["head"]}, file="page.md")
    assert Baker(tmp_path / "cache2").payload(short)
