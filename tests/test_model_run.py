"""The run handle (generator.model_run): reading and editing a run by hook name, each checked by another route.

- cached patterns equal the model's own `output_attentions`; cached residual streams equal `output_hidden_states`;
- zeroing head h's hook_z equals a copy of the model whose output-projection columns for h are zero;
- blocking the attention to token j (pattern edit: column zeroed, rows renormalised) equals the model run with key
  j masked out by its own attention mask (softmax with key j at -inf), in every layer and head;
- an edit that returns the activation unchanged changes nothing; patching the residual stream of every position
  from a clean run gives the clean output; batched edit sets equal one run per set;
- a point the adapter cannot give raises MissingHookPoint naming it; a pattern that is only read still comes, as the
  model's own `output_attentions`, with its gradient;
- `ln_final.hook_normalized` is the final norm of the last block's output (the library's last hidden state, and
  what gives the logits); the capture's entries, filled by other routes in one forward, equal the run handle's.
"""

from __future__ import annotations

import copy
import dataclasses

import numpy as np
import pytest
import torch

from conftest import load_tiny, random_ids
from generator.model_run import MissingHookPoint, ModelRun


_load = load_tiny


@pytest.fixture(scope="module")
def runs(tiny_runs):
    return tiny_runs


def _ids(run, n=9, seed=0):
    return random_ids(run, n, seed)


@pytest.mark.parametrize("family", ["gpt2", "llama", "bert"])
def test_cached_patterns_and_residuals_equal_the_models_own_outputs(runs, family):
    run = runs[family]
    ids = _ids(run)
    _, cache = run.run_with_cache(ids, ["blocks.*.attn.hook_pattern", "blocks.*.hook_resid_pre",
                                        "blocks.*.hook_resid_post"])
    with torch.no_grad():
        own = run.model(ids, attention_mask=torch.ones_like(ids), output_attentions=True, output_hidden_states=True)
    n_layers = len(own.attentions)
    for layer in range(n_layers):
        torch.testing.assert_close(cache[f"blocks.{layer}.attn.hook_pattern"], own.attentions[layer],
                                   rtol=0, atol=1e-6)
        torch.testing.assert_close(cache[f"blocks.{layer}.hook_resid_pre"], own.hidden_states[layer],
                                   rtol=0, atol=1e-6)
    # hidden_states[l + 1] is block l's output, except the last, which the library returns after the final norm
    for layer in range(n_layers - 1):
        torch.testing.assert_close(cache[f"blocks.{layer}.hook_resid_post"], own.hidden_states[layer + 1],
                                   rtol=0, atol=1e-6)
    assert cache.stack("blocks.*.attn.hook_pattern").shape[0] == n_layers


@pytest.mark.parametrize("family", ["gpt2", "llama", "bert"])
def test_zeroing_a_heads_z_equals_zeroing_its_output_projection_columns(runs, family):
    run = runs[family]
    ids = _ids(run, seed=1)
    layer, head = 1, 2
    heads = run.info.n_heads

    def knock_out(z, hook):
        z = z.clone()
        z[:, :, head] = 0
        return z
    edited = run.run_with_hooks(ids, [(f"blocks.{layer}.attn.hook_z", knock_out)])

    # another route: a copy of the model with W_O's input columns of that head set to zero
    model = copy.deepcopy(run.model)
    block = run.adapter.blocks(model)[layer]
    projection = block
    for part in run.adapter.attn_out.split("."):
        projection = getattr(projection, part)
    with torch.no_grad():
        weight = projection.weight                     # nn.Linear [out, in]; GPT-2 Conv1D [in, out]
        d_head = (weight.shape[0] if run.adapter.attn_out_conv1d else weight.shape[1]) // heads
        span = slice(head * d_head, (head + 1) * d_head)
        if run.adapter.attn_out_conv1d:
            weight[span, :] = 0
        else:
            weight[:, span] = 0
        out = model(ids, attention_mask=torch.ones_like(ids))
    expected = out.logits if hasattr(out, "logits") else out.last_hidden_state
    torch.testing.assert_close(edited, expected, rtol=1e-5, atol=1e-5)
    assert not torch.allclose(edited, run.run_with_hooks(ids), atol=1e-4), "the knockout changed nothing"


@pytest.mark.parametrize("family", ["gpt2", "llama", "bert"])
def test_blocking_attention_to_a_token_equals_masking_it_out(runs, family):
    run = runs[family]
    ids = _ids(run, seed=2)
    blocked = 3

    def block(pattern, hook):
        pattern = pattern.clone()
        pattern[..., blocked] = 0
        return pattern / pattern.sum(-1, keepdim=True)
    edited = run.run_with_hooks(ids, [("blocks.*.attn.hook_pattern", block)])
    mask = torch.ones_like(ids)
    mask[0, blocked] = 0
    with torch.no_grad():
        out = run.model(ids, attention_mask=mask)
    expected = out.logits if hasattr(out, "logits") else out.last_hidden_state
    torch.testing.assert_close(edited, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("family", ["gpt2", "llama", "bert"])
def test_an_unchanging_edit_changes_nothing(runs, family):
    run = runs[family]
    ids = _ids(run, seed=3)
    plain = run.run_with_hooks(ids)
    same = run.run_with_hooks(ids, [(name, lambda x, hook: x.clone()) for name in run.hook_names()])
    torch.testing.assert_close(same, plain, rtol=0, atol=1e-6)


def test_patching_every_position_from_the_clean_run_gives_the_clean_output(runs):
    run = runs["llama"]
    clean, contrast = _ids(run, seed=4), _ids(run, seed=5)
    clean_out, cache = run.run_with_cache(clean, "blocks.1.hook_resid_pre")
    patched = run.run_with_hooks(contrast, [("blocks.1.hook_resid_pre",
                                             lambda x, hook: cache["blocks.1.hook_resid_pre"])])
    torch.testing.assert_close(patched, clean_out, rtol=0, atol=1e-5)
    assert not torch.allclose(run.run_with_hooks(contrast), clean_out, atol=1e-3)


def test_edit_sets_in_one_batch_equal_one_run_each(runs):
    run = runs["llama"]
    ids = _ids(run, seed=6)

    def zero_head(h):
        def fn(z, hook):
            z = z.clone()
            z[:, :, h] = 0
            return z
        return fn
    sets = [[]] + [[(f"blocks.{layer}.attn.hook_z", zero_head(h))] for layer in range(2) for h in range(4)]
    batched = run.run_edit_sets(ids, sets, batch_size=4, reduce=lambda logits: logits[:, -1])
    single = torch.cat([run.run_with_hooks(ids, edits)[:, -1] for edits in sets])
    assert batched.shape == single.shape == (len(sets), single.shape[-1])
    torch.testing.assert_close(batched, single, rtol=1e-5, atol=1e-5)


def test_gradients_reach_cached_patterns(runs):
    run = runs["llama"]
    ids = _ids(run, seed=7)
    logits, cache = run.run_with_cache(ids, "blocks.*.attn.hook_pattern", grad=True)
    grads = torch.autograd.grad(logits[0, -1].max(), [cache[name] for name in cache])
    assert all(g.shape == cache[name].shape for g, name in zip(grads, cache))
    assert all(float(g.abs().sum()) > 0 for g in grads)


def test_a_point_the_adapter_cannot_give_is_refused_by_name(tiny_models):
    loaded = _load(tiny_models["llama"])
    loaded = dataclasses.replace(loaded, adapter=dataclasses.replace(loaded.adapter, attention=None, attn_out=""))
    run = ModelRun(loaded)
    assert "blocks.0.attn.hook_pattern" not in run.hook_names()
    assert "blocks.0.hook_resid_post" in run.hook_names()
    with pytest.raises(MissingHookPoint, match=r"blocks\.0\.attn\.hook_pattern.*llama"):
        run.run_with_hooks(_ids(run), [("blocks.0.attn.hook_pattern", lambda x, hook: x)])
    with pytest.raises(MissingHookPoint, match=r"blocks\.0\.attn\.hook_q.*llama"):
        run.run_with_cache(_ids(run), "blocks.0.attn.hook_q")
    with pytest.raises(MissingHookPoint, match=r"hook_z.*output projection"):
        run.run_with_hooks(_ids(run), [("blocks.*.attn.hook_z", lambda x, hook: x)])
    with pytest.raises(ValueError, match="not a hook point"):
        run.run_with_hooks(_ids(run), [("blocks.0.attn.hook_nothing", lambda x, hook: x)])


@pytest.mark.parametrize("family", ["gpt2", "llama", "bert"])
def test_a_run_started_at_a_block_from_its_cached_residual_equals_a_full_run(runs, family):
    """`start=(l, resid_pre of l)` skips the blocks below l: with edits at l and above, the same output."""
    run = runs[family]
    ids = _ids(run, seed=8)
    plain, cache = run.run_with_cache(ids, "blocks.*.hook_resid_pre")

    def zero_head(z, hook):
        z = z.clone()
        z[:, :, 1] = 0
        return z
    for layer in range(run.info.n_layers):
        edit = [(f"blocks.{layer}.attn.hook_z", zero_head)]
        full = run.run_with_hooks(ids, edit)
        started = run.run_with_hooks(ids, edit, start=(layer, cache[f"blocks.{layer}.hook_resid_pre"]))
        torch.testing.assert_close(started, full, rtol=1e-5, atol=1e-5)
    # the skip really skips: a residual stream that is not the input's gives another output
    wrong = run.run_with_hooks(ids, start=(1, torch.zeros_like(cache["blocks.1.hook_resid_pre"])))
    assert not torch.allclose(wrong, plain, atol=1e-3)
    # and the blocks compute again afterwards
    torch.testing.assert_close(run.run_with_hooks(ids), plain, rtol=0, atol=1e-6)
    batched = run.run_edit_sets(ids, [[], [(f"blocks.1.attn.hook_z", zero_head)]], batch_size=2,
                                start=(1, cache["blocks.1.hook_resid_pre"]))
    torch.testing.assert_close(batched[1:], run.run_with_hooks(ids, [("blocks.1.attn.hook_z", zero_head)]),
                               rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(batched[:1], run.run_with_hooks(ids), rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="below it"):
        run.run_with_hooks(ids, [("blocks.0.attn.hook_z", zero_head)], start=(1, cache["blocks.1.hook_resid_pre"]))


@pytest.mark.parametrize("family", ["gpt2", "llama", "bert"])
def test_staggered_starts_equal_runs_each_started_at_its_own_block(runs, family):
    """`run_edit_sets(starts=...)`: rows starting at different blocks in one batch give what full runs give, each
    row with its own edit, in the order of the edit sets whatever the order of their starts."""
    run = runs[family]
    ids = _ids(run, seed=9)
    names = [f"blocks.{layer}.hook_resid_pre" for layer in range(run.info.n_layers)]
    _, cache = run.run_with_cache(ids, names)

    def zero_head(head):
        def fn(z, hook):
            z = z.clone()
            z[:, :, head] = 0
            return z
        return fn
    last = run.info.n_layers - 1
    sets = [[(f"blocks.{last}.attn.hook_z", zero_head(0))], [], [("blocks.0.attn.hook_z", zero_head(1))],
            [(f"blocks.{last}.hook_mlp_out", lambda x, hook: x * 0)], [("blocks.1.attn.hook_z", zero_head(2))],
            [("blocks.0.hook_resid_post", lambda x, hook: x * 2)]]
    layers = [last, 1, 0, last, 1, 0]
    resids = {layer: cache[names[layer]] for layer in range(1, run.info.n_layers)}
    for batch_size in (len(sets), 4):
        staggered = run.run_edit_sets(ids, sets, batch_size=batch_size, starts=(layers, resids))
        single = torch.cat([run.run_with_hooks(ids, edits) for edits in sets])
        torch.testing.assert_close(staggered, single, rtol=1e-5, atol=1e-5)
    assert not torch.allclose(single[0], single[1], atol=1e-4), "the edits change nothing: a useless test"
    with pytest.raises(ValueError, match="below it"):
        run.run_edit_sets(ids, [[("blocks.0.attn.hook_z", zero_head(0))]], starts=([1], resids))


def test_a_pattern_only_read_comes_without_an_attention_path_with_its_gradient(tiny_models):
    """Gemma 2's case (no attention path): reading `hook_pattern` gives the model's own weights, in the autograd
    graph: the gradient through the cached tensor equals the one through the model's own `output_attentions`."""
    loaded = _load(tiny_models["llama"])
    plain = ModelRun(loaded)
    run = ModelRun(dataclasses.replace(loaded, adapter=dataclasses.replace(loaded.adapter, attention=None)))
    ids = _ids(run, seed=11)
    embeds = run.model.get_input_embeddings()(ids).detach()
    logits, cache = run.run_with_cache(inputs_embeds=embeds, names_filter="blocks.*.attn.hook_pattern", grad=True)
    patterns = list(cache.values())
    assert list(cache) == ["blocks.0.attn.hook_pattern", "blocks.1.attn.hook_pattern"]
    grads = torch.autograd.grad(logits[0, -1, 7], patterns)
    own = run.model(inputs_embeds=embeds, attention_mask=torch.ones_like(ids), output_attentions=True, use_cache=False)
    expected = torch.autograd.grad(own.logits[0, -1, 7], list(own.attentions))
    for got, want, pattern, weights in zip(grads, expected, patterns, own.attentions):
        torch.testing.assert_close(pattern, weights, rtol=0, atol=0)
        torch.testing.assert_close(got, want, rtol=0, atol=0)
    assert any(g.abs().max() > 0 for g in grads), "the test must not pass on zeros"
    _, intercepted = plain.run_with_cache(inputs_embeds=embeds, names_filter="blocks.*.attn.hook_pattern")
    for name in cache:
        torch.testing.assert_close(intercepted[name], cache[name].detach(), rtol=0, atol=1e-7)


@pytest.mark.parametrize("family", ["gpt2", "llama", "bert"])
def test_the_final_norm_point_is_the_last_hidden_state_and_gives_the_logits(runs, family):
    run = runs[family]
    ids = _ids(run, seed=12)
    main, cache = run.run_with_cache(ids, ["ln_final.hook_normalized", "blocks.*.hook_resid_post"])
    last = cache[f"blocks.{run.info.n_layers - 1}.hook_resid_post"]
    norm = run.adapter.final_norm_module(run.model)
    with torch.no_grad():
        own = run.model(ids, attention_mask=torch.ones_like(ids), output_hidden_states=True)
        expected = norm(last) if norm is not None else last
    torch.testing.assert_close(cache["ln_final.hook_normalized"], expected, rtol=0, atol=1e-6)
    torch.testing.assert_close(cache["ln_final.hook_normalized"], own.hidden_states[-1], rtol=0, atol=1e-6)
    if norm is not None:
        assert (expected - last).abs().max() > 1e-2, "the norm is not the identity here"
        with torch.no_grad():
            logits = run.adapter.unembed_module(run.model)(cache["ln_final.hook_normalized"])
        torch.testing.assert_close(logits, main, rtol=0, atol=1e-5)


POINTS = ["hook_embed", "blocks.*.hook_resid_pre", "blocks.*.attn.hook_q", "blocks.*.attn.hook_k",
          "blocks.*.attn.hook_v", "blocks.*.attn.hook_pattern", "blocks.*.attn.hook_z", "blocks.*.hook_attn_out",
          "blocks.*.mlp.hook_post", "blocks.*.hook_mlp_out", "blocks.*.hook_resid_post", "ln_final.hook_normalized"]


@pytest.mark.parametrize("family", ["gpt2", "llama", "bert"])
def test_the_captures_entries_by_name_equal_the_run_handles(tiny_models, runs, family):
    """The capture fills its one mapping by faster routes (output_attentions, output_hidden_states, the attention
    call, the value module): each entry must mean what the run handle's hook of the same name gives."""
    from generator.capture import run as capture_run
    from generator.methods.registry import Needs
    from generator.spec import spec_from_data

    loaded = _load(tiny_models[family])
    spec = spec_from_data({"model": str(tiny_models[family]), "text": "The cat sat on the mat because it was warm"},
                          file="t.yml")
    capture = capture_run(spec, loaded, Needs(hooks=tuple(POINTS)))
    _, cache = runs[family].run_with_cache(capture.input_ids, POINTS)
    assert set(capture.activations) == set(cache) and len(cache) == 2 + 10 * loaded.info.n_layers
    for name, value in cache.items():
        np.testing.assert_allclose(capture.activations[name], value[0].numpy(), rtol=0, atol=1e-6, err_msg=name)
    assert capture.stack("blocks.*.attn.hook_pattern").shape == (loaded.info.n_layers, loaded.info.n_heads,
                                                                 len(capture.ids), len(capture.ids))
    assert len(capture.attention_scales) == loaded.info.n_layers
