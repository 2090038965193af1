"""Neuron factors: the captured values are what the MLP computes, NMF reconstructs them within the recorded error,
two bakes give the same bytes, and every bad input is a spec error naming the field and the valid range."""

from __future__ import annotations

import math
import textwrap

import numpy as np
import pytest
import torch

from generator.bake import Baker
from generator.capture import run
from generator.methods import Needs
from generator.errors import SpecError
from generator.hooks import hook_name
from generator.methods.factors.nmf import factorise, neuron_matrix
from generator.methods.factors.section import section
from generator.models.loading import load
from generator.models.registry import resolve
from generator.payload import decode_array, dumps
from generator.payload.arrays import max_error
from generator.spec import Catalogue, spec_from_block, spec_from_data

TEXT = "The cat sat on the mat, and the dog sat on the log: 1, 2, 3, 4, 5."


# -- tiny models whose activations are large enough for a 1e-5 comparison to mean something ----------------------

@pytest.fixture(scope="module")
def models(tmp_path_factory, byte_level_tokenizer, wordpiece_tokenizer):
    from transformers import (BertConfig, BertModel, GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM,
                              BloomConfig, BloomForCausalLM)

    root = tmp_path_factory.mktemp("factor-models")
    torch.manual_seed(0)
    vocab = len(byte_level_tokenizer)
    # initializer_range 0.5 (not the default 0.02) gives MLP values of order 1, so a tolerance of 1e-5 is strict.
    built = {
        "llama": (LlamaForCausalLM(LlamaConfig(
            hidden_size=32, intermediate_size=64, num_hidden_layers=3, num_attention_heads=4, num_key_value_heads=2,
            vocab_size=vocab, max_position_embeddings=128, initializer_range=0.5, attn_implementation="eager")),
            byte_level_tokenizer),
        "gpt2": (GPT2LMHeadModel(GPT2Config(
            n_embd=32, n_layer=3, n_head=4, n_positions=128, vocab_size=vocab, initializer_range=0.5,
            attn_implementation="eager")), byte_level_tokenizer),
        "bert": (BertModel(BertConfig(
            hidden_size=32, intermediate_size=64, num_hidden_layers=3, num_attention_heads=4,
            vocab_size=len(wordpiece_tokenizer), max_position_embeddings=128, initializer_range=0.5,
            attn_implementation="eager")), wordpiece_tokenizer),
        # An architecture with no adapter entry (BLOOM: alibi position bias).
        "bloom": (BloomForCausalLM(BloomConfig(hidden_size=16, n_layer=1, n_head=2, vocab_size=vocab,
                                               attn_implementation="eager")), byte_level_tokenizer),
    }
    folders = {}
    for name, (model, tokenizer) in built.items():
        folders[name] = root / name
        model.save_pretrained(folders[name])
        tokenizer.save_pretrained(folders[name])
    return folders


@pytest.fixture(scope="module")
def loaded(models):
    return {name: load(resolve(str(folder))) for name, folder in models.items() if name != "bloom"}


def spec(folder, **fields):
    fields.setdefault("text", TEXT)
    fields.setdefault("views", ["factors"])
    return spec_from_data({"model": str(folder), **fields}, file="test.yml")


# -- the hooks capture exactly what the MLP computes -------------------------------------------------------------

def _silu(x):
    return x / (1 + torch.exp(-x))


def _gelu_tanh(x):   # GPT-2's "gelu_new"
    return 0.5 * x * (1 + torch.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))


def _gelu_erf(x):    # BERT's "gelu"
    return 0.5 * x * (1 + torch.erf(x / math.sqrt(2)))


def _mlp_parts(name, model):
    """For each block: the module whose input is the MLP's input, and a manual recomputation of its neuron values."""
    if name == "llama":
        assert model.config.hidden_act == "silu"
        return [(layer.mlp, lambda x, m=layer.mlp: _silu(x @ m.gate_proj.weight.T) * (x @ m.up_proj.weight.T))
                for layer in model.model.layers]
    if name == "gpt2":
        assert model.config.activation_function == "gelu_new"
        # Conv1D stores its weight as [in, out].
        return [(block.mlp, lambda x, m=block.mlp: _gelu_tanh(x @ m.c_fc.weight + m.c_fc.bias))
                for block in model.transformer.h]
    assert model.config.hidden_act == "gelu"
    return [(layer.intermediate, lambda x, m=layer.intermediate: _gelu_erf(x @ m.dense.weight.T + m.dense.bias))
            for layer in model.encoder.layer]


def _check_capture_is_mlp(name, loaded_model, the_spec):
    parts = _mlp_parts(name, loaded_model.model)
    inputs: dict[int, torch.Tensor] = {}
    handles = [module.register_forward_pre_hook(
        lambda _m, args, i=i: inputs.__setitem__(i, args[0][0].detach().clone()))
        for i, (module, _) in enumerate(parts)]
    try:
        capture = run(the_spec, loaded_model, Needs(hooks=("blocks.*.mlp.hook_post",)))
    finally:
        for handle in handles:
            handle.remove()
    assert sorted(capture.activations) == sorted(hook_name(i, "mlp.hook_post") for i in range(len(parts)))
    for i, (_, manual) in enumerate(parts):
        with torch.no_grad():
            expected = manual(inputs[i]).numpy()
        got = capture.activations[hook_name(i, "mlp.hook_post")]
        assert got.shape == (len(capture.ids), expected.shape[1])
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-5)
        # the comparison is not vacuous: values are of order 1, and a different function would be far off
        assert np.abs(expected).max() > 0.3
        assert (got < 0).any() and (got > 0).any()
    return capture


@pytest.mark.parametrize("name", ["llama", "gpt2", "bert"])
def test_hooks_capture_exactly_the_mlp_neuron_values(loaded, name):
    _check_capture_is_mlp(name, loaded[name], spec(loaded[name].source.path))


def test_generated_positions_are_captured_too(loaded):
    the_spec = spec(loaded["llama"].source.path, text="one two", generate=4)
    capture = _check_capture_is_mlp("llama", loaded["llama"], the_spec)
    assert len(capture.ids) == capture.n_prompt + 4
    assert all(value.shape[0] == len(capture.ids) for value in capture.activations.values())


# -- the factorisation --------------------------------------------------------------------------------------------

def test_layers_are_concatenated_in_numeric_order_and_clipped():
    # Ecco sorted layer keys as strings (0, 1, 10, 11, 2, ...); twelve layers would expose that.
    mlp = {hook_name(layer, "mlp.hook_post"): np.full((3, 2), layer - 0.5, dtype=np.float32) for layer in range(12)}
    X = neuron_matrix(mlp, list(range(12)))
    assert X.shape == (3, 24) and X.dtype == np.float32
    np.testing.assert_array_equal(X[0], np.repeat([0.0] + [layer - 0.5 for layer in range(1, 12)], 2))


@pytest.mark.parametrize("name", ["llama", "gpt2", "bert"])
def test_nmf_reconstructs_the_clipped_activations_within_the_recorded_error(loaded, name):
    the_spec = spec(loaded[name].source.path, factors={"counts": [1, 3, 6]})
    capture = run(the_spec, loaded[name], Needs(hooks=("blocks.*.mlp.hook_post",)))
    layers = list(range(3))
    X = np.maximum(np.concatenate([capture.activations[hook_name(i, "mlp.hook_post")] for i in layers], axis=1), 0).astype(np.float64)
    results = factorise(neuron_matrix(capture.activations, layers), [1, 3, 6])
    payload = section(the_spec, capture)
    assert [run_["count"] for run_ in payload["runs"]] == [1, 3, 6]
    assert payload["layers"] == layers and payload["neurons_per_layer"] == X.shape[1] // 3
    for result, stored in zip(results, payload["runs"]):
        W, H = result.activations, result.components
        assert (W >= 0).all() and (H >= 0).all()
        error = np.linalg.norm(X - W @ H) / np.linalg.norm(X)
        assert error == pytest.approx(result.error, rel=1e-6)
        assert stored["error"] == pytest.approx(result.error, abs=5e-5)
        assert 0 < result.error < 1
        np.testing.assert_allclose(np.linalg.norm(H, axis=1), 1.0, rtol=1e-9)
        # factors come largest first
        sizes = np.linalg.norm(W, axis=0)
        assert (np.diff(sizes) <= 1e-9).all()
        # what the page gets: W within its quantization step, and W_q H still within the recorded error
        decoded = decode_array(stored["activations"])
        assert decoded.shape == (len(capture.ids), stored["count"])
        assert (decoded >= 0).all()
        np.testing.assert_allclose(decoded, W, rtol=0, atol=max_error(stored["activations"]) + 1e-6 * W.max())
        assert np.linalg.norm(X - decoded @ H) / np.linalg.norm(X) <= stored["error"] + 1e-3
        rows = np.linalg.norm(X - W @ H, axis=1) / np.linalg.norm(X, axis=1)
        np.testing.assert_allclose(result.position_error, rows, rtol=1e-9)
        np.testing.assert_allclose(decode_array(stored["position_error"]), rows,
                                   atol=max_error(stored["position_error"]) + 1e-9)
        # each listed neuron is the H entry it names, strongest first
        width = payload["neurons_per_layer"]
        for k, neurons in enumerate(stored["top_neurons"]):
            assert 0 < len(neurons) <= 20
            weights = [weight for _, _, weight in neurons]
            assert weights == sorted(weights, reverse=True)
            for layer, index, weight in neurons:
                assert weight == pytest.approx(H[k, layers.index(layer) * width + index], abs=5e-5)
            assert weights[0] == pytest.approx(H[k].max(), abs=5e-5)


def test_a_layer_range_keeps_real_layer_numbers(loaded):
    the_spec = spec(loaded["llama"].source.path, factors={"counts": 2, "layers": "1-2"})
    payload = section(the_spec, run(the_spec, loaded["llama"], Needs(hooks=("blocks.*.mlp.hook_post",))))
    assert payload["layers"] == [1, 2]
    assert {layer for factor in payload["runs"][0]["top_neurons"] for layer, _, _ in factor} <= {1, 2}
    one = spec(loaded["llama"].source.path, factors={"counts": 2, "layers": 2})
    payload = section(one, run(one, loaded["llama"], Needs(hooks=("blocks.*.mlp.hook_post",))))
    assert payload["layers"] == [2]
    assert {layer for factor in payload["runs"][0]["top_neurons"] for layer, _, _ in factor} == {2}


def test_a_matrix_of_known_structure_is_recovered():
    # Two disjoint groups of neurons, each active on its own positions: two factors reconstruct it exactly.
    rng = np.random.default_rng(0)
    W = np.zeros((12, 2))
    W[:6, 0], W[6:, 1] = rng.uniform(1, 2, 6), rng.uniform(1, 2, 6)
    H = np.zeros((2, 40))
    H[0, :20], H[1, 20:] = rng.uniform(0, 1, 20), rng.uniform(0, 1, 20)
    (result,) = factorise((W @ H).astype(np.float32), [2])
    assert result.error < 1e-3
    assert set(result.activations.argmax(axis=1)[:6]) != set(result.activations.argmax(axis=1)[6:])


def test_all_zero_activations_give_empty_factors():
    (result,) = factorise(np.zeros((4, 10), dtype=np.float32), [2])
    assert result.error == 0 and not result.activations.any()


def test_two_bakes_give_byte_identical_sections(loaded):
    the_spec = spec(loaded["llama"].source.path, generate=3, factors={"counts": [2, 5]})
    first = dumps(section(the_spec, run(the_spec, loaded["llama"], Needs(hooks=("blocks.*.mlp.hook_post",)))))
    second = dumps(section(the_spec, run(the_spec, loaded["llama"], Needs(hooks=("blocks.*.mlp.hook_post",)))))
    assert first == second


def test_bake_writes_the_factors_section(tmp_path, models):
    payload = __import__("json").loads(Baker(tmp_path / "cache").payload(spec(models["gpt2"], factors={"counts": 2})))
    assert set(payload) >= {"tokens", "factors"} and "attention" not in payload
    assert payload["factors"]["runs"][0]["activations"]["shape"] == [len(payload["tokens"]), 2]


# -- bad input: each names the field and the valid range ----------------------------------------------------------

def block_spec(folder, factors: str):
    body = f"model: {folder}\ntext: one two three\nviews: [factors]\nfactors:\n{textwrap.indent(factors, '  ')}\n"
    return spec_from_block(body, file="docs/page.md", line_offset=10, catalogue=Catalogue({}))


@pytest.mark.parametrize("counts", ["0", "[2, 0]", "-3"])
def test_a_count_below_one_is_refused_when_read(models, counts):
    with pytest.raises(SpecError) as caught:
        block_spec(models["llama"], f"counts: {counts}")
    error = caught.value
    assert error.field.startswith("factors.counts") and error.file == "docs/page.md" and error.line == 15
    assert "at least 1" in error.message


def test_more_factors_than_tokens_is_refused_at_bake(loaded, models):
    the_spec = block_spec(models["llama"], "counts: [2, 50]")
    capture = run(the_spec, loaded["llama"], Needs(hooks=("blocks.*.mlp.hook_post",)))
    with pytest.raises(SpecError) as caught:
        section(the_spec, capture)
    error = caught.value
    n = len(capture.ids)
    assert (error.field, error.file, error.line) == ("factors.counts", "docs/page.md", 15)
    assert f"only {n} tokens" in error.message and f"from 1 to {n}" in error.hint


@pytest.mark.parametrize("layers", ["3", "'1-7'"])
def test_a_layer_outside_the_model_is_refused_at_bake(loaded, models, layers):
    the_spec = block_spec(models["llama"], f"counts: 2\nlayers: {layers}")
    with pytest.raises(SpecError) as caught:
        section(the_spec, run(the_spec, loaded["llama"], Needs(hooks=("blocks.*.mlp.hook_post",))))
    error = caught.value
    assert (error.field, error.line) == ("factors.layers", 16)
    assert "layers 0-2" in error.message and "from 0 to 2" in error.hint


@pytest.mark.parametrize("layers, message", [("-1", "0 or more"), ("'5-2'", "empty"), ("some", "range")])
def test_malformed_layers_are_refused_when_read(models, layers, message):
    with pytest.raises(SpecError) as caught:
        block_spec(models["llama"], f"counts: 2\nlayers: {layers}")
    assert caught.value.field == "factors.layers" and message in caught.value.message


def test_factors_on_an_architecture_without_adapter_is_a_spec_error(tmp_path, models):
    the_spec = block_spec(models["bloom"], "counts: 2")
    with pytest.raises(SpecError) as caught:
        Baker(tmp_path / "cache").payload(the_spec)
    error = caught.value
    assert error.field == "views" and error.line == 13     # the views that ask for factors (authors8, item 2)
    assert "'bloom'" in error.message and "llama" in error.hint and "adapters.py" in error.hint


# -- a real model ------------------------------------------------------------------------------------------------

@pytest.mark.slow
def test_real_minilm_capture_and_factors(loaded_bundled):
    minilm = loaded_bundled("minilm")
    the_spec = spec_from_data({"model": "minilm", "text": "Paris, Rome, Berlin, Madrid and Lisbon are capitals.",
                               "views": ["factors"], "factors": {"counts": [2, 4]}}, file="t")
    capture = _check_capture_is_mlp("bert", minilm, the_spec)
    payload = section(the_spec, capture)
    assert payload["layers"] == list(range(6)) and payload["neurons_per_layer"] == 1536
    errors = [run_["error"] for run_ in payload["runs"]]
    assert 0 < errors[1] < errors[0] < 1
    assert dumps(payload) == dumps(section(the_spec, run(the_spec, minilm, Needs(hooks=("blocks.*.mlp.hook_post",)))))


@pytest.mark.slow
def test_real_smollm2_budget_case(loaded_bundled):
    """64 tokens x 30 layers x counts [2, 5, 10]: the hooks match a manual MLP, and the payload stays under 100 KB."""
    smollm2 = loaded_bundled("smollm2")
    words = ("It is a truth universally acknowledged, that a single man in possession of a good fortune, must be in "
             "want of a wife. However little known the feelings or views of such a man may be on his first entering "
             "a neighbourhood, this truth is so well fixed in the minds of the surrounding families, that he is "
             "considered the rightful property of some one or other of their daughters.").split(" ")
    count = next(n for n in range(len(words)) if len(smollm2.tokenizer(" ".join(words[:n]))["input_ids"]) >= 64)
    text = " ".join(words[:count])
    the_spec = spec_from_data({"model": "smollm2", "text": text, "views": ["factors"],
                               "factors": {"counts": [2, 5, 10]}}, file="t")
    capture = _check_capture_is_mlp("llama", smollm2, the_spec)
    assert 64 <= len(capture.ids) <= 66
    payload = {"schema_version": 1, "model": smollm2.info.describe(), "tokens": capture.tokens,
               "n_prompt": capture.n_prompt, "factors": section(the_spec, capture)}
    assert len(dumps(payload)) <= 100_000
    assert payload["factors"]["neurons_per_layer"] * len(payload["factors"]["layers"]) == 46_080


def test_more_factors_than_the_rank_still_factorise():
    # Four positions, two distinct rows: rank 2, asked for 4 factors (allowed: 4 <= N).
    X = np.array([[1, 0, 2, 0], [0, 3, 0, 1], [1, 0, 2, 0], [0, 3, 0, 1]], dtype=np.float32)
    (result,) = factorise(X, [4])
    assert np.isfinite(result.activations).all() and result.error < 1e-3
