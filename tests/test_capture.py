"""The captured attention is the model's: equal to a direct transformers call and to an independent recomputation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from generator.capture import run
from generator.models.loading import load
from generator.models.registry import resolve
from generator.spec import spec_from_data


def spec(**fields):
    return spec_from_data(fields, file="test")


def direct_attention(folder, text, pair=None):
    from transformers import AutoModel, AutoModelForCausalLM, AutoTokenizer
    tokenizer = AutoTokenizer.from_pretrained(folder)
    causal = pair is None and "bert" not in str(folder)
    model = (AutoModelForCausalLM if causal else AutoModel).from_pretrained(folder, attn_implementation="eager")
    encoded = tokenizer(*(pair or [text]), return_tensors="pt")
    with torch.no_grad():
        output = model(**encoded, output_attentions=True)
    return torch.stack([a[0] for a in output.attentions]).numpy(), model, encoded


@pytest.mark.parametrize("name, fields", [
    ("gpt2", {"text": "The cat sat on the mat."}),
    ("llama", {"text": "The cat sat on the mat."}),
    ("bert", {"pair": ["Where is the cat?", "The cat is on the mat."]}),
])
def test_attention_equals_direct_transformers_call(tiny_models, name, fields):
    folder = tiny_models[name]
    loaded = load(resolve(str(folder)))
    capture = run(spec(model=str(folder), **fields), loaded)
    expected, _, encoded = direct_attention(folder, fields.get("text"), fields.get("pair"))
    assert capture.ids == encoded["input_ids"][0].tolist()
    np.testing.assert_allclose(capture.attentions, expected, atol=1e-6)
    np.testing.assert_allclose(capture.attentions.sum(-1), 1.0, atol=1e-5)
    if name == "bert":
        segments = [token["segment"] for token in capture.tokens]
        assert segments == encoded["token_type_ids"][0].tolist()
        assert 1 in segments


def test_gpt2_attention_equals_softmax_of_scaled_scores(tiny_models):
    """Independent recomputation: softmax(q·k/√d) with a causal mask, from the layer-0 weights."""
    folder = tiny_models["gpt2"]
    loaded = load(resolve(str(folder)))
    capture = run(spec(model=str(folder), text="one two three four"), loaded)
    model = loaded.model.transformer
    ids = torch.tensor([capture.ids])
    with torch.no_grad():
        x = model.wte(ids) + model.wpe(torch.arange(ids.shape[1]))[None]
        h = model.h[0].ln_1(x)
        q, k, _ = model.h[0].attn.c_attn(h).split(32, dim=-1)
        heads, d = 4, 8
        q = q.view(1, -1, heads, d).transpose(1, 2)
        k = k.view(1, -1, heads, d).transpose(1, 2)
        scores = q @ k.transpose(-1, -2) / d ** 0.5
        n = ids.shape[1]
        scores = scores.masked_fill(torch.triu(torch.ones(n, n, dtype=torch.bool), 1), float("-inf"))
        expected = scores.softmax(-1)[0].numpy()
    np.testing.assert_allclose(capture.attentions[0], expected, atol=1e-5)


def test_generation_is_greedy_and_marked(tiny_models):
    folder = tiny_models["llama"]
    loaded = load(resolve(str(folder)))
    capture = run(spec(model=str(folder), text="The cat", generate=4), loaded)
    assert len(capture.ids) == capture.n_prompt + 4
    ids = torch.tensor([capture.ids[:capture.n_prompt]])
    with torch.no_grad():
        for step in range(4):
            nxt = loaded.model(ids).logits[0, -1].argmax().item()
            assert nxt == capture.ids[capture.n_prompt + step]
            ids = torch.cat([ids, torch.tensor([[nxt]])], dim=1)
    assert [t["generated"] for t in capture.tokens] == [False] * capture.n_prompt + [True] * 4


@pytest.mark.slow
def test_smollm2_attention_matches_transformers_and_has_all_query_heads(loaded_bundled):
    loaded = loaded_bundled("smollm2")
    text = "The animal didn't cross the street because it was too tired."
    capture = run(spec(model="smollm2", text=text), loaded)
    encoded = loaded.tokenizer(text, return_tensors="pt")
    with torch.no_grad():
        output = loaded.model(**encoded, output_attentions=True)
    expected = torch.stack([a[0] for a in output.attentions]).numpy()
    assert capture.attentions.shape == (30, 9, encoded["input_ids"].shape[1], encoded["input_ids"].shape[1])
    np.testing.assert_allclose(capture.attentions, expected, atol=1e-6)
    upper = np.triu(np.ones(capture.attentions.shape[-2:], dtype=bool), 1)
    assert np.all(capture.attentions[..., upper] == 0), "a causal model attends only backwards"
    assert loaded.info.describe()["n_kv_heads"] == 3


@pytest.mark.slow
def test_minilm_attention_matches_transformers(loaded_bundled):
    loaded = loaded_bundled("minilm")
    pair = ["Where did the cat sleep?", "On the windowsill."]
    capture = run(spec(model="minilm", pair=pair), loaded)
    encoded = loaded.tokenizer(*pair, return_tensors="pt")
    with torch.no_grad():
        output = loaded.model(**encoded, output_attentions=True)
    expected = torch.stack([a[0] for a in output.attentions]).numpy()
    np.testing.assert_allclose(capture.attentions, expected, atol=1e-6)
    assert capture.tokens[0]["special"] and capture.tokens[0]["text"] == "[CLS]"
