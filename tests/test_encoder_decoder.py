"""Encoder-decoder models (tiny random T5 and BART written with save_pretrained): the text is the source, `generate`
the decoder side; the payload holds the encoder's self-attention, the decoder's self-attention and its
cross-attention, each equal to what transformers returns, with decoder x encoder shapes; what such a model cannot
take is a placed error."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from generator.bake import Baker
from generator.capture import run
from generator.errors import SpecError
from generator.models.loading import load
from generator.models.registry import resolve
from generator.payload import decode_array
from generator.spec import spec_from_data

SOURCE = "The cat sat on the mat because it was warm."


def spec(**fields):
    return spec_from_data(fields, file="test.yml")


@pytest.fixture(scope="module")
def seq2seq(tmp_path_factory, byte_level_tokenizer) -> dict:
    """Folders of a tiny T5 (2 + 2 layers, 4 heads) and a tiny BART (2 encoder layers with 4 heads, 3 decoder layers
    with 2 heads), weights large enough that attention is far from uniform."""
    from transformers import BartConfig, BartForConditionalGeneration, T5Config, T5ForConditionalGeneration

    root = tmp_path_factory.mktemp("seq2seq")
    torch.manual_seed(0)
    vocab = len(byte_level_tokenizer)
    models = {
        # transformers 5.23 builds T5's decoder cache with the encoder's layer count, so both are 2 here
        "t5": T5ForConditionalGeneration(T5Config(
            vocab_size=vocab, d_model=32, d_kv=8, d_ff=64, num_layers=2, num_decoder_layers=2, num_heads=4,
            initializer_factor=8.0, decoder_start_token_id=0, pad_token_id=0, eos_token_id=2,
            attn_implementation="eager")),
        "bart": BartForConditionalGeneration(BartConfig(
            vocab_size=vocab, d_model=32, encoder_layers=2, decoder_layers=3, encoder_attention_heads=4,
            decoder_attention_heads=2, encoder_ffn_dim=64, decoder_ffn_dim=64, max_position_embeddings=128,
            init_std=0.3, pad_token_id=0, bos_token_id=1, eos_token_id=2, decoder_start_token_id=2,
            forced_eos_token_id=None, attn_implementation="eager")),
    }
    folders = {}
    for name, model in models.items():
        model.save_pretrained(root / name)
        byte_level_tokenizer.save_pretrained(root / name)
        folders[name] = root / name
    return folders


def direct(folder, n_new):
    """The same run with transformers alone: greedy decoding by an explicit argmax loop, then one forward pass."""
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForSeq2SeqLM.from_pretrained(folder, attn_implementation="eager").eval()
    source = tokenizer(SOURCE, return_tensors="pt")["input_ids"]
    target = torch.tensor([[model.config.decoder_start_token_id]])
    with torch.no_grad():
        for _ in range(n_new):
            logits = model(source, decoder_input_ids=target).logits[0, -1]
            target = torch.cat([target, logits.argmax().view(1, 1)], dim=1)
            if target[0, -1].item() == model.config.eos_token_id:
                break
        output = model(source, decoder_input_ids=target, output_attentions=True)
    stack = lambda layers: torch.stack([layer[0] for layer in layers]).numpy()  # noqa: E731
    return source[0].tolist(), target[0].tolist(), stack(output.encoder_attentions), \
        stack(output.decoder_attentions), stack(output.cross_attentions)


@pytest.mark.parametrize("name", ["t5", "bart"])
def test_three_kinds_of_attention_equal_the_models_own(seq2seq, name):
    folder = seq2seq[name]
    loaded = load(resolve(str(folder)))
    assert loaded.info.encoder_decoder and not loaded.info.causal
    capture = run(spec(model=str(folder), text=SOURCE, generate=5), loaded)
    source, target, encoder, decoder, cross = direct(folder, 5)
    assert capture.ids == source and capture.target_ids == target
    n, t = len(source), len(target)
    layers, heads = loaded.info.n_decoder_layers, loaded.info.n_decoder_heads
    assert capture.cross_attentions.shape == (layers, heads, t, n)             # decoder queries x encoder keys
    assert capture.decoder_attentions.shape == (layers, heads, t, t)
    assert capture.attentions.shape == (loaded.info.n_layers, loaded.info.n_heads, n, n)
    np.testing.assert_allclose(capture.cross_attentions, cross, atol=1e-6)
    np.testing.assert_allclose(capture.decoder_attentions, decoder, atol=1e-6)
    np.testing.assert_allclose(capture.attentions, encoder, atol=1e-6)
    np.testing.assert_allclose(capture.cross_attentions.sum(-1), 1.0, atol=1e-5)
    assert np.abs(np.triu(capture.decoder_attentions, 1)).max() == 0         # the decoder reads no later token
    assert np.abs(capture.cross_attentions - 1 / n).max() > 0.1, "not uniform: the comparison means something"
    assert [t["generated"] for t in capture.target_tokens] == [False] + [True] * (t - 1)


def test_bart_counts_come_from_the_config(seq2seq):
    info = load(resolve(str(seq2seq["bart"]))).info
    assert (info.n_layers, info.n_heads, info.n_decoder_layers, info.n_decoder_heads) == (2, 4, 3, 2)
    model = info.describe()
    assert model["encoder_decoder"] is True and model["n_decoder_layers"] == 3 and model["n_decoder_heads"] == 2


def test_payload_holds_the_three_parts(seq2seq, tmp_path):
    folder = seq2seq["bart"]
    payload = json.loads(Baker(tmp_path / "cache").payload(spec(model=str(folder), text=SOURCE, generate=4)))
    _, target, encoder, decoder, cross = direct(folder, 4)
    assert len(payload["target_tokens"]) == len(target) and payload["n_prompt"] == len(payload["tokens"])
    for key, expected in (("values", encoder), ("decoder", decoder), ("cross", cross)):
        decoded = decode_array(payload["attention"][key])
        assert decoded.shape == expected.shape
        assert np.abs(decoded - expected).max() <= 1 / 510 + 1e-6


def test_a_decoder_only_payload_is_unchanged(tmp_path, tiny_models):
    payload = json.loads(Baker(tmp_path / "cache").payload(spec(model=str(tiny_models["gpt2"]), text=SOURCE)))
    assert set(payload["attention"]) == {"values"} and "target_tokens" not in payload
    assert "encoder_decoder" not in payload["model"]


def bake_error(tmp_path, **fields) -> SpecError:
    with pytest.raises(SpecError) as caught:
        Baker(tmp_path / "cache").payload(spec(**fields))
    return caught.value


def test_what_an_encoder_decoder_cannot_take(seq2seq, tmp_path):
    folder = str(seq2seq["t5"])
    error = bake_error(tmp_path, model=folder, pair=["Where is the cat?", "On the mat."])
    assert error.field == "pair" and "encoder-decoder" in str(error) and "'text'" in error.hint
    error = bake_error(tmp_path, model=folder, text=SOURCE)
    assert error.field == "generate" and "generate: 8" in error.hint
    for view in ("saliency", "factors", "neuron"):
        error = bake_error(tmp_path, model=folder, text=SOURCE, generate=2, views=["head", view])
        assert error.field == "views" and f"the {view} view does not read encoder-decoder" in str(error)
        assert "head, model" in error.hint


@pytest.mark.parametrize("name", ["t5", "bart"])
def test_facts_read_without_torch_agree_with_the_loaded_model(seq2seq, name):
    """`explorables check` reads config.json as a dict (no attribute map): the sizes still come out right, and the
    rules refuse the same inputs before any model runs."""
    from generator.models.facts import model_facts
    from generator.rules import check_methods, check_model
    source = resolve(str(seq2seq[name]))
    facts = model_facts(source)
    assert facts.info == load(source).info
    assert not facts.can_read_pairs
    with pytest.raises(SpecError) as caught:
        check_model(spec(model=str(seq2seq[name]), text=SOURCE), facts)
    assert caught.value.field == "generate"
    with pytest.raises(SpecError) as caught:
        check_methods(spec(model=str(seq2seq[name]), text=SOURCE, generate=3, views=["neuron"]), facts,
                      has_adapter=False)
    assert caught.value.field == "views" and "encoder-decoder" in str(caught.value)
