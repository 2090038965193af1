"""Edited runs that compute only the positions from the first edited one (`ModelRun.run_edit_sets(from_positions=)`),
each checked against full edited runs of the whole input (`run_with_hooks`, no shortcut, no skipped block):

- GPT-2 (learned positions), Llama (RoPE, grouped-query attention), GPT-NeoX (partial rotary, fused q/k/v) and OPT
  (learned positions with an offset): the last position's logits equal a full run's to 1e-5 for an edit of the
  residual stream, the MLP output, an attention pattern row and an attention column, at every layer and at
  positions 0, 1, a middle one and the last;
- the suffix run really computes fewer positions (a block sees N - p of them) and really reads the cached keys and
  values (other cached keys give another output);
- refusals: an encoder, an edit that changes a position before p, a missing logits_to_keep, a sliding window
  shorter than the input.
"""

from __future__ import annotations

import pytest
import torch

from conftest import load_tiny, random_ids
from generator.model_run import ModelRun
from generator.models.adapters import attention_window

N = 9


@pytest.fixture(scope="module")
def runs(tiny_runs, tmp_path_factory, byte_level_tokenizer):
    """The session's tiny GPT-2 and Llama, and tiny random GPT-NeoX and OPT saved with save_pretrained."""
    from transformers import GPTNeoXConfig, GPTNeoXForCausalLM, OPTConfig, OPTForCausalLM
    root = tmp_path_factory.mktemp("prefix-models")
    torch.manual_seed(3)
    vocab = len(byte_level_tokenizer)
    extra = {
        "gpt_neox": GPTNeoXForCausalLM(GPTNeoXConfig(
            hidden_size=32, intermediate_size=64, num_hidden_layers=3, num_attention_heads=4, vocab_size=vocab,
            max_position_embeddings=128, rotary_pct=0.5, bos_token_id=1, eos_token_id=2,
            attn_implementation="eager")),
        "opt": OPTForCausalLM(OPTConfig(
            hidden_size=32, ffn_dim=64, num_hidden_layers=3, num_attention_heads=4, vocab_size=vocab,
            max_position_embeddings=128, word_embed_proj_dim=32, bos_token_id=1, eos_token_id=2,
            pad_token_id=0, attn_implementation="eager")),
    }
    out = {"gpt2": tiny_runs["gpt2"], "llama": tiny_runs["llama"], "bert": tiny_runs["bert"]}
    for name, model in extra.items():
        folder = root / name
        model.save_pretrained(folder)
        byte_level_tokenizer.save_pretrained(folder)
        out[name] = ModelRun(load_tiny(folder))
    return out


def _put(position, source):
    def fn(value, hook):
        value = value.clone()
        value[:, position] = source[:, position]
        return value
    return fn


def _permute_row(row):
    """Attention row `row` of every head reversed over the keys it sees (a counterfactual-attention edit)."""
    def fn(pattern, hook):
        out = pattern.clone()
        out[:, :, row, :row + 1] = pattern[:, :, row, :row + 1].flip(-1)
        return out
    return fn


def _scale_column(key, factor):
    """Attention to `key` multiplied by factor in the rows that see it, those rows renormalised."""
    def fn(pattern, hook):
        out = pattern.clone()
        rows = out[:, :, key:]
        rows[..., key] *= factor
        out[:, :, key:] = rows / rows.sum(-1, keepdim=True)
        return out
    return fn


def _cases(run, ids):
    """(layer, first changed position, edit set) for every layer and positions 0, 1, middle, last."""
    n_layers = run.info.n_layers
    donor = random_ids(run, N, seed=11)
    _, cache = run.run_with_cache(donor, ["blocks.*.hook_resid_post", "blocks.*.hook_mlp_out"])
    cases = []
    for layer in range(n_layers):
        for position in (0, 1, N // 2, N - 1):
            cases.append((layer, position, [(f"blocks.{layer}.hook_resid_post",
                                             _put(position, cache[f"blocks.{layer}.hook_resid_post"]))]))
            cases.append((layer, position, [(f"blocks.{layer}.hook_mlp_out",
                                             _put(position, cache[f"blocks.{layer}.hook_mlp_out"]))]))
            cases.append((layer, position, [(f"blocks.{layer}.attn.hook_pattern", _scale_column(position, 3.0))]))
        cases.append((layer, N - 1, [(f"blocks.{l}.attn.hook_pattern", _permute_row(N - 1))
                                     for l in range(layer, n_layers)]))
    return cases


@pytest.mark.parametrize("family", ["gpt2", "llama", "gpt_neox", "opt"])
def test_suffix_runs_equal_full_edited_runs(runs, family):
    run = runs[family]
    ids = random_ids(run, N, seed=4)
    names = [f"blocks.{layer}.hook_resid_pre" for layer in range(run.info.n_layers)]
    _, cache = run.run_with_cache(ids, names)
    resids = {layer: cache[name] for layer, name in enumerate(names)}
    cases = _cases(run, ids)
    full = torch.cat([run.run_with_hooks(ids, edits)[:, -1] for _layer, _p, edits in cases])
    plain = run.run_with_hooks(ids)[:, -1]
    changed = (full - plain).abs().amax(-1)
    last = run.info.n_layers - 1
    # an edit of the last block at an earlier position cannot reach the last position; every other one does
    reaching = torch.tensor([layer < last or p == N - 1 for layer, p, _e in cases])
    assert bool((changed[reaching] > 1e-4).all()), "the edits change nothing: a useless test"
    for batch_size in (len(cases), 3):
        short = run.run_edit_sets(ids, [edits for _l, _p, edits in cases], batch_size=batch_size, logits_to_keep=1,
                                  starts=([layer for layer, _p, _e in cases], resids),
                                  from_positions=[p for _l, p, _e in cases])[:, -1]
        torch.testing.assert_close(short, full, rtol=0, atol=1e-5)
    # with one start for all, and with none (every row from the embedding)
    sets = [edits for layer, _p, edits in cases if layer == 0]
    froms = [p for layer, p, _e in cases if layer == 0]
    expected = torch.stack([row for (layer, _p, _e), row in zip(cases, full) if layer == 0])
    torch.testing.assert_close(run.run_edit_sets(ids, sets, logits_to_keep=1, from_positions=froms)[:, -1],
                               expected, rtol=0, atol=1e-5)
    top = [(edits, p) for layer, p, edits in cases if layer == last]
    torch.testing.assert_close(
        run.run_edit_sets(ids, [e for e, _p in top], logits_to_keep=1, start=(last, resids[last]),
                          from_positions=[p for _e, p in top])[:, -1],
        torch.stack([row for (layer, _p, _e), row in zip(cases, full) if layer == last]), rtol=0, atol=1e-5)


@pytest.mark.parametrize("family", ["gpt2", "llama"])
def test_a_suffix_run_computes_only_the_suffix_and_reads_the_cached_keys(runs, family, monkeypatch):
    run = runs[family]
    ids = random_ids(run, N, seed=5)
    seen = []
    block = run.adapter.blocks(run.model)[0]
    handle = block.register_forward_pre_hook(
        lambda _m, args, kwargs: seen.append((args[0] if args else kwargs["hidden_states"]).shape[1]),
        with_kwargs=True)
    try:
        run.run_edit_sets(ids, [[]], logits_to_keep=1, from_positions=[N - 3])
    finally:
        handle.remove()
    assert seen[-1] == 3
    # other cached keys and values (another input's) give another output: the suffix reads them
    clean = run.run_edit_sets(ids, [[]], logits_to_keep=1, from_positions=[N - 1])
    torch.testing.assert_close(clean, run.run_with_hooks(ids)[:, -1:], rtol=0, atol=1e-5)
    other = random_ids(run, N, seed=6)
    other[0, -1] = ids[0, -1]
    _, cache = run.run_with_cache(other, ["blocks.*.attn.hook_k", "blocks.*.attn.hook_v"])
    original = run.run_with_cache

    def swapped(input_ids, names_filter=None, *args, **kwargs):
        logits, found = original(other if input_ids.shape == ids.shape else input_ids, names_filter, *args,
                                 **kwargs)
        return logits, found
    monkeypatch.setattr(run, "run_with_cache", swapped)
    wrong = run.run_edit_sets(ids, [[]], logits_to_keep=1, from_positions=[N - 1])
    assert not torch.allclose(wrong, clean, atol=1e-4)


def test_the_shortcut_is_refused_where_it_does_not_hold(runs, monkeypatch):
    bert = runs["bert"]
    with pytest.raises(ValueError, match="encoder"):
        bert.run_edit_sets(random_ids(bert, N), [[]], logits_to_keep=1, from_positions=[N - 1])
    run = runs["llama"]
    ids = random_ids(run, N, seed=7)
    with pytest.raises(ValueError, match="changes positions before 4"):
        run.run_edit_sets(ids, [[("blocks.0.hook_resid_post", lambda x, hook: x * 2)]], logits_to_keep=1,
                          from_positions=[4])
    with pytest.raises(ValueError, match="changes positions before 4"):
        run.run_edit_sets(ids, [[("blocks.1.attn.hook_pattern", _scale_column(2, 0.0))]], logits_to_keep=1,
                          from_positions=[4])
    with pytest.raises(ValueError, match="logits_to_keep"):
        run.run_edit_sets(ids, [[]], from_positions=[4])
    with pytest.raises(ValueError, match="positions 0-8"):
        run.run_edit_sets(ids, [[]], logits_to_keep=1, from_positions=[N])
    assert run.suffix_refusal(N) is None
    monkeypatch.setattr(run.model.config, "sliding_window", 4, raising=False)
    assert "sliding window of 4" in run.suffix_refusal(N)
    assert run.suffix_refusal(4) is None
    with pytest.raises(ValueError, match="sliding window"):
        run.run_edit_sets(ids, [[]], logits_to_keep=1, from_positions=[4])


def test_attention_window_reads_the_families_configs():
    from transformers import Gemma3TextConfig, LlamaConfig, MistralConfig, Qwen2Config
    assert attention_window(MistralConfig(sliding_window=64)) == 64
    assert attention_window(Gemma3TextConfig(sliding_window=32)) == 32
    assert attention_window(Qwen2Config(sliding_window=32, use_sliding_window=False)) is None
    assert attention_window(LlamaConfig()) is None
