"""Long inputs on the head and model views (issue 22): the layered section, its sparse rows, a 2,048-token bake that
never stacks the layers, and the placed error past the new limits.

The sparse rows are checked against the model's own attention (`output_attentions` of a separate forward pass, not
the bake's hooks) and the bounds are those written in generator/payload/sparse_rows.py, recomputed here."""

from __future__ import annotations

import json
import tracemalloc

import numpy as np
import pytest
import torch

from generator.bake import Baker
from generator.errors import SpecError
from generator.methods import REGISTRY, attention
from generator.payload import decode_array
from generator.payload.parts import join, split
from generator.payload.sparse_rows import decode_sparse_rows, encode_sparse_rows
from generator.spec import spec_from_data


def _check_sparse(encoded: dict, model: np.ndarray) -> None:
    """The documented bounds of a sparse-rows layer against the model's float weights [H, N, N]."""
    dense, rest = decode_sparse_rows(encoded)
    model = model.astype(np.float64)
    totals = model.sum(-1)
    kept_mass = np.where(dense > 0, model, 0.0).sum(-1)
    # a kept weight may round to 0 on the grid: count kept positions from the counts instead where that matters
    assert (kept_mass >= 0.99 * totals - 2e-5).all(), "each row keeps at least 0.99 of its mass"
    assert np.allclose(dense.sum(-1) + rest, 1.0, atol=1e-12), "each row's kept values plus its rest are 1"
    bound = rest[..., None] + 1 / 65535 + 1e-7
    assert (np.abs(dense - model) <= bound).all(), "every decoded weight within rest + 1/65535 of the model's"
    assert rest.max() <= 0.01 + 1 / 65535 + 1e-6


def test_sparse_rows_on_skewed_random_rows_keep_their_mass():
    rng = np.random.default_rng(1)
    x = rng.random((3, 40, 70)) ** 12                  # a few large weights a row, like attention to a sink token
    x[0, 5] = 0
    x[0, 5, 7] = 1                                     # a row with all its mass on one key
    x[2, :, 10:] = 0                                   # causal-like: nothing beyond column 10
    x /= x.sum(-1, keepdims=True)
    encoded = encode_sparse_rows(x.astype(np.float32))
    _check_sparse(encoded, x.astype(np.float32))
    dense, _ = decode_sparse_rows(encoded)
    assert (dense[2, :, 10:] == 0).all() and dense[0, 5, 7] == 1.0
    assert encoded["kept"] < x.size / 2, "the skewed rows keep far fewer entries than the matrix holds"


def _long_llama(tmp_path, byte_level_tokenizer, layers=4, heads=4):
    from transformers import LlamaConfig, LlamaForCausalLM
    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=layers,
                                         num_attention_heads=heads, num_key_value_heads=2,
                                         vocab_size=len(byte_level_tokenizer), max_position_embeddings=4096,
                                         bos_token_id=1, eos_token_id=2, attn_implementation="eager"))
    # sharper attention than a random init gives (nearly uniform rows would keep almost every entry)
    with torch.no_grad():
        for layer in model.model.layers:
            layer.self_attn.q_proj.weight.mul_(300)
    model.save_pretrained(tmp_path / "llama")
    byte_level_tokenizer.save_pretrained(tmp_path / "llama")
    return tmp_path / "llama"


def _text_of(tokenizer, n: int) -> str:
    words = " ".join(["alpha", "beta", "gamma", "delta", "river", "stone", "light", "paper"] * (n // 4))
    ids = tokenizer(words, add_special_tokens=False)["input_ids"][:n]
    return tokenizer.decode(ids)


def test_a_2048_token_bake_reads_attention_layer_by_layer(tmp_path, byte_level_tokenizer, monkeypatch):
    """2,048 tokens on a tiny Llama of 4 layers x 4 heads: the whole [L, H, N, N] in float32 would be 268 MB. The
    bake must never ask the model for stacked attentions, must reduce each layer inside the forward pass (before
    the next block runs), and its numpy allocations must stay far below one stack; the payload has one part per
    layer, and each sparse layer keeps the documented bounds against the model's own attention."""
    folder = _long_llama(tmp_path, byte_level_tokenizer)
    text = _text_of(byte_level_tokenizer, 2048)
    spec = spec_from_data({"model": str(folder), "text": text, "views": ["head", "model"], "max_tokens": 2048},
                          file="long.md")

    from generator.models.loading import POOL
    from generator.models.registry import resolve
    loaded = POOL.get(resolve(str(folder)))
    forward, events = loaded.model.forward, []

    def guarded(*args, **kwargs):
        assert not kwargs.get("output_attentions"), "the long bake asked the model for every layer's attention"
        return forward(*args, **kwargs)
    monkeypatch.setattr(loaded.model, "forward", guarded)
    for layer, block in enumerate(loaded.model.model.layers):
        block.register_forward_pre_hook(lambda _m, _a, layer=layer: events.append(("block", layer)))
    reduce = attention._reduce
    monkeypatch.setattr(attention, "_reduce", lambda *a: (events.append(("reduce", None)), reduce(*a))[1])

    tracemalloc.start()
    try:
        payload = Baker(tmp_path / "cache").payload(spec)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    stack_bytes = 4 * 4 * 2048 * 2048 * 4
    assert peak < stack_bytes / 2, f"numpy peak {peak / 1e6:.0f} MB: as much as half of all layers at once"
    # each layer is reduced right after its block ran, before the next block starts
    order = [kind for kind, _ in events]
    assert order.count("reduce") == 4 and order[-8:] == ["block", "reduce"] * 4

    section = json.loads(payload)["attention"]
    assert "values" not in section and len(section["layers"]) == 4 and len(section["lines"]) == 4
    assert decode_array(section["thumbnails"]).shape == (4, 4, 80, 80)
    main, parts = split(payload, REGISTRY.parts(), REGISTRY.detached())
    assert len(parts) == 8 and join(main, parts) == payload, "every layer and its lines become data files"
    assert all("data" not in entry for entry in json.loads(main)["attention"]["layers"])

    ids = torch.tensor([byte_level_tokenizer(text)["input_ids"]])
    with torch.no_grad():
        model_attention = forward(ids, output_attentions=True).attentions
    for layer, encoded in enumerate(section["layers"]):
        model = model_attention[layer][0].float().numpy()
        if encoded.get("layout") == "sparse-rows":
            _check_sparse(encoded, model)
        else:
            assert np.abs(decode_array(encoded) - model).max() <= 1 / 511 + 1e-6
        # the head view's lines: every weight it would draw (0.01 or more), within 1/65535, nothing else
        lines, rest = decode_sparse_rows(section["lines"][layer])
        drawn = model >= 0.01
        assert (np.abs(lines - model)[drawn] <= 1 / 65535 + 1e-7).all()
        assert (lines[~drawn & (model < 0.01 - 2 / 65535)] == 0).all()
        assert np.allclose(lines.sum(-1) + rest, 1.0, atol=1e-12)
    pooled = model_attention[0][0].float().numpy()[1, :26, :26].max()      # pixel (0, 0) of head 1: 2048/80 -> 25.6
    assert abs(decode_array(section["thumbnails"])[0, 1, 0, 0] - pooled) <= 1 / 510


def test_short_texts_keep_one_array(tmp_path, tiny_models):
    spec = spec_from_data({"model": str(tiny_models["llama"]), "text": "One two three four", "views": ["head"]},
                          file="t.md")
    section = json.loads(Baker(tmp_path).payload(spec))["attention"]
    assert set(section) == {"values"}


def test_texts_past_the_new_limits_get_a_placed_error_naming_the_limit_and_why(tmp_path, tiny_models, monkeypatch):
    from generator.cli import check_against_files
    from generator.models.registry import resolve
    monkeypatch.setattr(attention, "MAX_TOKENS", 5)
    text = "One two three four five six seven"
    spec = spec_from_data({"model": str(tiny_models["llama"]), "text": text, "views": ["head", "model"]},
                          file="page.md")
    with pytest.raises(SpecError) as at_bake:
        Baker(tmp_path / "cache").payload(spec)
    with pytest.raises(SpecError) as at_check:
        check_against_files(spec, resolve(str(tiny_models["llama"])))
    for error in (at_bake.value, at_check.value):
        assert error.field == "text" and "head and model views read at most 5 tokens" in error.message
        assert "one layer at a time" in error.message and "measured up to 5 tokens" in error.message
        assert "shorten the text to 5 tokens" in error.hint
    # a model with many heads: the limit is where one layer passes what a page decodes at once
    monkeypatch.setattr(attention, "MAX_TOKENS", 2048)
    monkeypatch.setattr(attention, "MAX_LAYER_WEIGHTS", 4 * 5 * 5)           # 4 heads x 5 x 5
    with pytest.raises(SpecError) as caught:
        check_against_files(spec, resolve(str(tiny_models["llama"])))
    assert "at most 5 tokens" in caught.value.message and "one layer of 4 heads x N x N" in caught.value.message
