"""Queries and keys of the neuron view: softmax(q . k / sqrt(d) + mask), computed here from the captured q and k, is
the model's own attention row, for every adapter family on a tiny random model and for the bundled models; from the
decoded payload it stays within the quantisation bound documented in ARCHITECTURE.md; bad input is a placed error."""

from __future__ import annotations

import gzip
import math

import numpy as np
import pytest
import torch

from generator.bake import Baker
from generator.capture import run
from generator.errors import SpecError
from generator.hooks import hook_name
from generator.methods import Needs
from generator.methods.neuron.options import NeuronOptions, default_selection
from generator.models.adapters import ADAPTERS, reads_queries_keys
from generator.models.loading import load
from generator.models.registry import resolve
from generator.payload import decode_array, loads
from generator.payload.arrays import max_error
from generator.spec import spec_from_data

TEXT = "The cat sat on the mat because it was warm, and the dog slept."
PAIR = ["Where did the cat sit?", "The cat sat on the mat."]
QK = Needs(hooks=("blocks.*.attn.hook_pattern", "blocks.*.attn.hook_q", "blocks.*.attn.hook_k"), adapter=True)


def spec(**fields):
    return spec_from_data({"views": ["neuron"], **fields}, file="test.yml")


# -- tiny random models, one per adapter family; weights large enough that attention is far from uniform ------------

def _configs(vocab: int, wordpiece_vocab: int) -> dict:
    import transformers as t

    small = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                 max_position_embeddings=128, initializer_range=0.4, attn_implementation="eager")
    llama_like = dict(small, vocab_size=vocab, num_key_value_heads=2, bos_token_id=1, eos_token_id=2)
    return {
        "llama": (t.LlamaForCausalLM, t.LlamaConfig(**llama_like)),
        "mistral": (t.MistralForCausalLM, t.MistralConfig(**llama_like)),
        "qwen2": (t.Qwen2ForCausalLM, t.Qwen2Config(**llama_like)),
        "qwen3": (t.Qwen3ForCausalLM, t.Qwen3Config(**llama_like, head_dim=8)),
        "gemma": (t.GemmaForCausalLM, t.GemmaConfig(**llama_like, head_dim=8)),
        "gemma3_text": (t.Gemma3ForCausalLM, t.Gemma3TextConfig(**llama_like, head_dim=8, query_pre_attn_scalar=8)),
        "olmo2": (t.Olmo2ForCausalLM, t.Olmo2Config(**llama_like)),
        "gpt2": (t.GPT2LMHeadModel, t.GPT2Config(n_embd=32, n_layer=2, n_head=4, n_positions=128, vocab_size=vocab,
                                                 initializer_range=0.4, attn_implementation="eager")),
        "gpt_neox": (t.GPTNeoXForCausalLM, t.GPTNeoXConfig(**small, vocab_size=vocab)),
        "bert": (t.BertModel, t.BertConfig(**small, vocab_size=wordpiece_vocab)),
    }


@pytest.fixture(scope="module")
def families(tmp_path_factory, byte_level_tokenizer, wordpiece_tokenizer) -> dict:
    """Loaded tiny models by family (written with save_pretrained, loaded as any local folder)."""
    root = tmp_path_factory.mktemp("neuron-models")
    torch.manual_seed(0)
    out = {}
    for name, (cls, config) in _configs(len(byte_level_tokenizer), len(wordpiece_tokenizer)).items():
        folder = root / name
        cls(config).save_pretrained(folder)
        (wordpiece_tokenizer if name == "bert" else byte_level_tokenizer).save_pretrained(folder)
        out[name] = load(resolve(str(folder)))
    return out


def recompute(capture, layer: int, head: int, scale: float | None = None) -> np.ndarray:
    """softmax(q . k * scale + mask) for one head, from the captured q and k, in float64 (the test's own code)."""
    q = capture.activations[hook_name(layer, "attn.hook_q")].astype(np.float64)
    k = capture.activations[hook_name(layer, "attn.hook_k")].astype(np.float64)
    key_head = head // (q.shape[0] // k.shape[0])
    scores = q[head] @ k[key_head].T * (scale if scale is not None else 1 / math.sqrt(q.shape[-1]))
    if capture.info.causal:
        scores = np.where(np.tril(np.ones_like(scores)) > 0, scores, -np.inf)
    scores -= scores.max(-1, keepdims=True)
    weights = np.exp(scores)
    return weights / weights.sum(-1, keepdims=True)


def assert_rows_match(capture, tolerance=1e-4):
    info = capture.info
    for layer in range(info.n_layers):
        for head in range(info.n_heads):
            np.testing.assert_allclose(recompute(capture, layer, head), capture.attentions[layer, head],
                                       atol=tolerance, err_msg=f"{info.architecture} layer {layer} head {head}")


@pytest.mark.parametrize("family", list(_configs(1, 1)))
def test_softmax_of_captured_queries_and_keys_is_the_attention_row(families, family):
    loaded = families[family]
    fields = {"pair": PAIR} if family == "bert" else {"text": TEXT}
    capture = run(spec(model=loaded.source.name, **fields), loaded, QK)
    info = capture.info
    q0 = capture.activations[hook_name(0, "attn.hook_q")]
    k0 = capture.activations[hook_name(0, "attn.hook_k")]
    assert q0.shape == (info.n_heads, len(capture.ids), q0.shape[-1])
    assert k0.shape == (info.n_kv_heads, len(capture.ids), q0.shape[-1])
    # A uniform row would match any q and k: these rows are far from uniform.
    n = len(capture.ids)
    assert np.abs(capture.attentions[:, :, -1, :] - 1 / n).max() > 0.1
    assert capture.attention_scales == pytest.approx([1 / math.sqrt(q0.shape[-1])] * info.n_layers)
    assert_rows_match(capture)


@pytest.mark.parametrize("family", ["llama", "gpt_neox"])
def test_queries_are_taken_after_the_rotary_embedding(families, family):
    """The same check with q and k before the rotary embedding (the projections' outputs) fails: the capture point
    matters, and the test above would see a wrong one."""
    loaded = families[family]
    capture = run(spec(model=loaded.source.name, text=TEXT), loaded, QK)
    block = ADAPTERS[family].blocks(loaded.model)[1]
    hidden = {}

    def keep_input(_module, args, kwargs):
        hidden["x"] = kwargs.get("hidden_states", args[0] if args else None)
    handle = ADAPTERS[family].attention_module(block).register_forward_pre_hook(keep_input, with_kwargs=True)
    with torch.no_grad():
        loaded.model(torch.tensor([capture.ids]))
    handle.remove()
    attention = ADAPTERS[family].attention_module(block)
    with torch.no_grad():
        if family == "llama":
            q = attention.q_proj(hidden["x"])[0].view(len(capture.ids), 4, 8).transpose(0, 1)
            k = attention.k_proj(hidden["x"])[0].view(len(capture.ids), 2, 8).transpose(0, 1)
        else:
            qkv = attention.query_key_value(hidden["x"])[0].view(len(capture.ids), 4, 3 * 8).transpose(0, 1)
            q, k = qkv[..., :8], qkv[..., 8:16]
    unrotated = type(capture)(**{**capture.__dict__, "activations": {
        hook_name(1, "attn.hook_q"): q.numpy(), hook_name(1, "attn.hook_k"): k.numpy()}})
    assert np.abs(recompute(unrotated, 1, 0) - capture.attentions[1, 0]).max() > 1e-2
    np.testing.assert_allclose(recompute(capture, 1, 0), capture.attentions[1, 0], atol=1e-4)


def test_bundled_models(loaded_bundled):
    """SmolLM2 (Llama, RoPE, 9 query heads on 3 key heads) and MiniLM (BERT, a pair)."""
    for alias, fields in (("smollm2", {"text": "I saw the man with the telescope."}), ("minilm", {"pair": PAIR})):
        loaded = loaded_bundled(alias)
        capture = run(spec(model=alias, **fields), loaded, QK)
        assert_rows_match(capture)
    assert capture.info.n_kv_heads == capture.info.n_heads


# -- the payload section ---------------------------------------------------------------------------------------------

def weight_bound(q: np.ndarray, k: np.ndarray, dq: float, dk: float, scale: float, causal: bool) -> np.ndarray:
    """ARCHITECTURE.md's bound on |softmax from decoded values - softmax from exact values| for each row: with
    |q - q^| <= dq and |k - k^| <= dk per value, every score moves by at most
    eps_i = scale * max_j (sum_d |q^_id| dk + |k^_jd| dq + dq dk), so every weight by at most exp(2 eps_i) - 1."""
    n = q.shape[0]
    per_pair = scale * (np.abs(q).sum(-1)[:, None] * dk + np.abs(k).sum(-1)[None, :] * dq + q.shape[-1] * dq * dk)
    if causal:
        per_pair = np.where(np.tril(np.ones((n, n))) > 0, per_pair, 0)
    return np.expm1(2 * per_pair.max(-1))


@pytest.mark.parametrize("family, fields", [("llama", {"text": TEXT}), ("bert", {"pair": PAIR}),
                                            ("gpt2", {"text": TEXT})])
def test_decoded_payload_stays_within_the_quantisation_bound(families, family, fields):
    loaded = families[family]
    the_spec = spec(model=loaded.source.name, neuron={"layers": [1], "heads": [1, 2]}, **fields)
    capture = run(the_spec, loaded, QK)
    section = the_spec.methods[0].section(the_spec, capture)
    assert section["layers"] == [1] and section["heads"] == [1, 2]
    group = loaded.info.n_heads // loaded.info.n_kv_heads
    assert section["key_heads"] == sorted({1 // group, 2 // group})
    queries, keys = decode_array(section["queries"][0]), decode_array(section["keys"][0])
    dq, dk = max_error(section["queries"][0]), max_error(section["keys"][0])
    exact_q = capture.activations[hook_name(1, "attn.hook_q")]
    assert np.abs(queries - exact_q[[1, 2]]).max() <= dq + 1e-6
    for slot, head in enumerate(section["heads"]):
        q, k = queries[slot], keys[section["key_heads"].index(head // group)]
        scores = q @ k.T * section["scales"][0]
        if section["causal"]:
            scores = np.where(np.tril(np.ones_like(scores)) > 0, scores, -np.inf)
        decoded = np.exp(scores - scores.max(-1, keepdims=True))
        decoded /= decoded.sum(-1, keepdims=True)
        error = np.abs(decoded - capture.attentions[1, head]).max(-1)
        bound = weight_bound(q, k, dq, dk, section["scales"][0], section["causal"])
        assert (error <= bound + 1e-5).all(), (error, bound)
        assert error.max() > 0                      # the quantisation is real, the bound is not vacuous
        assert bound.max() < 0.05


def test_default_selection_follows_the_budget():
    options = NeuronOptions()
    # SmolLM2's shape: 30 layers, 9 query heads on 3 key heads, d_head 64, at 32 tokens: 24,576 values a layer.
    layers, heads = default_selection(options, 30, 9, 3, 32, 64)
    assert heads == list(range(9))
    assert len(layers) == 200_000 // (12 * 32 * 64) == 8
    assert layers[0] == 0 and layers[-1] == 29 and layers == sorted(set(layers))
    assert max(np.diff(layers)) - min(np.diff(layers)) <= 1                    # evenly spaced
    assert default_selection(options, 6, 12, 12, 32, 32) == (list(range(6)), list(range(12)))
    # 1000 tokens: one query head and its key head are 128,000 values, two query heads on one key head 192,000,
    # three 256,000: over the budget of 200,000, so the first layer with heads 0 and 1.
    assert default_selection(options, 30, 9, 3, 1000, 64) == ([0], [0, 1])
    assert default_selection(options, 30, 9, 3, 2000, 64) == ([0], [0])          # at least one head
    assert default_selection(NeuronOptions(layers="2-3", heads=[8]), 30, 9, 3, 32, 64) == ([2, 3], [8])


def test_default_section_is_under_half_a_megabyte_gzipped(loaded_bundled):
    """The default for SmolLM2 at 32 tokens: the payload's neuron section, gzipped as a server sends it."""
    import json
    loaded = loaded_bundled("smollm2")
    text = ("The animal didn't cross the street because it was too tired, so it lay down by the side of the "
            "road and slept until")
    the_spec = spec(model="smollm2", text=text)
    capture = run(the_spec, loaded, QK)
    assert len(capture.ids) >= 24
    section = the_spec.methods[0].section(the_spec, capture)
    size = len(gzip.compress(json.dumps(section).encode()))
    assert size < 500_000, size
    assert len(section["layers"]) >= 6 and section["heads"] == list(range(9))


# -- bad input ---------------------------------------------------------------------------------------------------------

def bake_error(tmp_path, **fields) -> SpecError:
    with pytest.raises(SpecError) as caught:
        Baker(tmp_path / "cache").payload(spec(**fields))
    return caught.value


def test_layer_and_head_outside_the_model(families, tmp_path):
    folder = families["llama"].source.name
    error = bake_error(tmp_path, model=folder, text=TEXT, neuron={"layers": [0, 5]})
    assert error.field == "neuron.layers" and "layer 5" in str(error) and "0-1" in str(error)
    error = bake_error(tmp_path, model=folder, text=TEXT, neuron={"heads": "2-4"})
    assert error.field == "neuron.heads" and "head 4" in str(error) and "0-3" in str(error)


def test_architecture_without_query_key_entry(tmp_path, byte_level_tokenizer):
    """Gemma 2 has an adapter (for factors) but soft-caps its scores, so its entry has no attention path; BLOOM (alibi
    position bias) has no adapter at all. Both errors name the architecture and the one file to extend."""
    from transformers import BloomConfig, BloomForCausalLM
    assert ADAPTERS["gemma2"] is not None and not reads_queries_keys("gemma2")
    folder = tmp_path / "bloom"
    BloomForCausalLM(BloomConfig(hidden_size=16, n_layer=1, n_head=2, vocab_size=len(byte_level_tokenizer))
                     ).save_pretrained(folder)
    byte_level_tokenizer.save_pretrained(folder)
    error = bake_error(tmp_path, model=str(folder), text=TEXT)
    assert "'bloom'" in str(error) and "generator/models/adapters.py" in (error.hint or "")


def test_gemma2_entry_error(tmp_path, byte_level_tokenizer):
    from transformers import Gemma2Config, Gemma2ForCausalLM
    folder = tmp_path / "gemma2"
    Gemma2ForCausalLM(Gemma2Config(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
                                   num_key_value_heads=1, head_dim=8, vocab_size=len(byte_level_tokenizer),
                                   max_position_embeddings=64)).save_pretrained(folder)
    byte_level_tokenizer.save_pretrained(folder)
    error = bake_error(tmp_path, model=str(folder), text=TEXT)
    assert error.field == "views" and "'gemma2'" in str(error)
    assert "generator/models/adapters.py" in (error.hint or "")


def test_option_syntax_errors_are_placed():
    for options, field in (({"layers": "5-2"}, "neuron.layers"), ({"heads": "some"}, "neuron.heads"),
                           ({"heads": [-1]}, "neuron.heads"), ({"rows": 3}, "neuron.rows")):
        with pytest.raises(SpecError) as caught:
            spec(model="smollm2", text=TEXT, neuron=options)
        assert caught.value.field == field, (options, caught.value.field)


def test_bake_writes_the_section_and_is_deterministic(families, tmp_path):
    folder = families["gpt2"].source.name
    the_spec = spec(model=folder, text=TEXT, views=["neuron", "head"])
    first = Baker(tmp_path / "a").payload(the_spec)
    second = Baker(tmp_path / "b").payload(the_spec)
    assert first == second
    payload = loads(first)
    assert set(payload) >= {"neuron", "attention"}
    assert payload["neuron"]["layers"] == [0, 1] and payload["neuron"]["causal"] is True
