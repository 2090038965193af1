"""Patching and attention editing with suffix runs (each edited run computes only the positions from the first one
it changes, `ModelRun.run_edit_sets(from_positions=)`) against the same methods with the shortcut switched off
(full-length runs), and against single full hooked runs written here, on tiny random GPT-2 and Llama."""

from __future__ import annotations

import copy
import dataclasses
import threading

import numpy as np
import pytest
import torch

from conftest import random_ids
from generator.methods.interventions.editing import Scope, editing
from generator.methods.interventions.explained import Explained
from generator.methods.interventions.patching import patching
from generator.model_run import ModelRun


@pytest.fixture(scope="module")
def runs(tiny_runs):
    return tiny_runs


def _off(monkeypatch):
    monkeypatch.setattr(ModelRun, "suffix_refusal", lambda self, positions: "switched off by the test")


def _probability(run, ids, hooks, target):
    return float(torch.softmax(run.run_with_hooks(ids, hooks)[0, -1].double(), -1)[target])


@pytest.mark.parametrize("family", ["gpt2", "llama"])
def test_patching_grids_with_suffix_runs_equal_the_full_runs(runs, family, monkeypatch):
    run = runs[family]
    clean = random_ids(run, 8, seed=12)
    contrast = clean.clone()
    contrast[0, 2] = (contrast[0, 2] + 11) % 400 + 5
    contrast[0, 5] = (contrast[0, 5] + 3) % 400 + 5
    with torch.no_grad():       # the token whose probability the contrast moves most
        moved = torch.softmax(run.model(clean).logits[0, -1], -1) - torch.softmax(run.model(contrast).logits[0, -1], -1)
    target = int(moved.abs().argmax())
    explained = Explained(run, [clean], target)
    assert explained.suffix()
    short = patching(explained, contrast, batch_size=4)
    with monkeypatch.context() as patch:
        _off(patch)
        assert not explained.suffix()
        full = patching(explained, contrast, batch_size=4)
    scale = abs(full["clean"] - full["contrast"])
    assert scale > 0.01 * full["clean"], "the contrast changes nothing: a useless test"
    for direction in ("restore", "break"):
        np.testing.assert_allclose(short[direction], full[direction], rtol=1e-4, atol=1e-4 * scale)
    # some cells, each by a single full run of the whole text written here
    _, cache = run.run_with_cache(clean, ["blocks.*.hook_mlp_out", "blocks.*.hook_resid_post"])
    for kind, point in ((0, "hook_resid_post"), (2, "hook_mlp_out")):
        for layer in range(run.info.n_layers):
            for position in (2, 5, 7):
                name = f"blocks.{layer}.{point}"

                def put(value, hook, name=name, position=position):
                    value = value.clone()
                    value[:, position] = cache[name][:, position]
                    return value
                expected = _probability(run, contrast, [(name, put)], target)
                assert abs(short["restore"][kind, layer, position] - expected) < 1e-4 * expected


@pytest.mark.parametrize("family", ["gpt2", "llama"])
def test_patching_cuts_equal_the_uncut_grids(runs, family):
    """Each exact cut of patching against the grids without it: restored residual streams, MLP and attention outputs
    started at block l + 1 (`late`) and the last block computed for the last query only (`last_query`). Equal to
    float rounding (1e-6 relative): the same sums, but some products are computed with other matrix shapes (the
    cached batch-1 attention output for block l's MLP cells, block l's MLP on the N positions of one layer for its
    attention cells; the last query's attention and MLP alone), which may change the last bits. Each cut is checked
    to be taken: fewer MLP positions computed (an MLP's output rows x positions, counted by a forward hook; the MLP
    is most of a block)."""
    run = runs[family]
    assert run.adapter.sequential_residual and run.last_query_refusal() is None
    clean = random_ids(run, 8, seed=21)
    contrast = clean.clone()
    contrast[0, 1] = (contrast[0, 1] + 17) % 400 + 5
    contrast[0, 6] = (contrast[0, 6] + 5) % 400 + 5
    with torch.no_grad():
        moved = torch.softmax(run.model(clean).logits[0, -1], -1) - torch.softmax(run.model(contrast).logits[0, -1], -1)
    target = int(moved.abs().argmax())
    explained = Explained(run, [clean], target)
    counted, last_block = [], []
    blocks = run.adapter.blocks(run.model)
    handles = [run.adapter.mlp_module(block).register_forward_hook(
        lambda _m, _a, out: counted.append(out.shape[:2].numel())) for block in blocks]
    handles.append(run.adapter.mlp_module(blocks[-1]).register_forward_hook(
        lambda _m, _a, out: last_block.append(tuple(out.shape[:2]))))
    grids, positions, single = {}, {}, {}
    run.streams = 1         # the hooks count this model's runs: no second thread on a copy
    try:
        for late in (False, True):
            for last_query in (False, True):
                counted.clear()
                last_block.clear()
                grids[late, last_query] = patching(explained, contrast, batch_size=4, late=late,
                                                   last_query=last_query)
                positions[late, last_query] = sum(counted)
                # rows whose last-block MLP computed one position
                single[late, last_query] = sum(rows for rows, n_positions in last_block if n_positions == 1)
    finally:
        run.streams = 2
        for handle in handles:
            handle.remove()
    uncut = grids[False, False]
    scale = abs(uncut["clean"] - uncut["contrast"])
    assert scale > 0.01 * uncut["clean"], "the contrast changes nothing: a useless test"
    for cuts, grid in grids.items():
        for direction in ("restore", "break"):
            # cells that moved: a grid of the edited run's value everywhere would not pass
            assert np.abs(grid[direction][[0, 2], :-1] - grid[direction][0, 0, 0]).max() > 0.1 * scale
            np.testing.assert_allclose(grid[direction], uncut[direction], rtol=1e-6, atol=1e-6 * scale,
                                       err_msg=f"late, last_query = {cuts}, {direction}")
    n_layers, n = run.info.n_layers, clean.shape[1]
    # late: per direction, each of the 3 kinds' cells (l < L - 1, p from 1, the first differing token) skips at
    # least N - p positions (more where a batch recomputes a few positions before p); the attention cells' MLP
    # branch computes N positions per layer and direction
    saved = 2 * 3 * (n_layers - 1) * sum(n - p for p in range(1, n)) - 2 * (n_layers - 1) * n
    assert positions[False, False] - positions[True, False] >= saved
    # last_query: the runs of the 3 kinds' cells below the last block (p from 1, both directions) compute its MLP
    # at one position (late or not: every run goes through the last block); without it only runs batched from
    # the last position do
    below = 2 * 3 * (n_layers - 1) * (n - 1)
    for late in (False, True):
        assert single[late, True] >= below > single[late, False]
        assert positions[late, True] < positions[late, False]
    # an MLP and an attention cell (started at block 1 with the input computed in patching), against single full
    # runs with the MLP or attention output replaced
    _, cache = run.run_with_cache(clean, ["blocks.*.hook_mlp_out", "blocks.*.hook_attn_out"])
    for kind, point in ((1, "hook_attn_out"), (2, "hook_mlp_out")):
        layer, position, name = 0, 6, f"blocks.0.{point}"

        def put(value, hook, name=name, position=position):
            value = value.clone()
            value[:, position] = cache[name][:, position]
            return value
        expected = _probability(run, contrast, [(name, put)], target)
        assert abs(grids[True, True]["restore"][kind, layer, position] - expected) < 1e-5 * expected


def test_batches_in_two_threads_equal_one_thread_bit_for_bit(runs):
    """`ModelRun._batches`: at 2 torch threads the batches of edited runs go to two threads at one torch thread
    each, the second on a copy of the model (`ModelRun.twin`). Patching's grids (suffix runs, staggered starts,
    the last query alone) then equal those of one thread, one batch after the other, bit for bit; and those at 2
    threads one after the other (`streams` 1) to float rounding. Each thread ran one model at one torch thread,
    both threads ran, the copy is a copy, and the caller's thread count is given back."""
    from generator.bake import fixed_threads

    run = runs["llama"]
    clean = random_ids(run, 8, seed=33)
    contrast = clean.clone()
    contrast[0, 2] = (contrast[0, 2] + 13) % 400 + 5
    with torch.no_grad():
        moved = torch.softmax(run.model(clean).logits[0, -1], -1) - torch.softmax(run.model(contrast).logits[0, -1], -1)
    target = int(moved.abs().argmax())
    explained = Explained(run, [clean], target)
    twin = run.twin()
    assert twin.model is run.twin().model and twin.model is not run.model
    for (name, mine), (_, its) in zip(run.model.named_parameters(), twin.model.named_parameters()):
        assert mine is not its and torch.equal(mine, its), name
    seen = []            # (model, thread, torch threads) of each first block's call

    def spy(which):
        # the thread object, not its ident: a pool's ended thread may hand its ident to the next pool's
        return lambda _module, _args: seen.append((which, threading.current_thread(), torch.get_num_threads()))
    handles = [handle.adapter.blocks(handle.model)[0].register_forward_pre_hook(spy(which))
               for which, handle in (("run", run), ("twin", twin))]
    try:
        with fixed_threads(2):
            seen.clear()
            both = patching(explained, contrast, batch_size=4)
            at_once = list(seen)
            assert torch.get_num_threads() == 2
            run.streams = 1
            try:
                seen.clear()
                serial = patching(explained, contrast, batch_size=4)
                after = list(seen)
            finally:
                run.streams = 2
        with fixed_threads(1):
            one = patching(explained, contrast, batch_size=4)
    finally:
        for handle in handles:
            handle.remove()
    scale = abs(serial["clean"] - serial["contrast"])
    assert scale > 0.01 * serial["clean"], "the contrast changes nothing: a useless test"
    for direction in ("restore", "break"):
        assert np.abs(both[direction] - both[direction][0, 0, 0]).max() > 0.1 * scale
        assert np.array_equal(both[direction], one[direction]), direction
        np.testing.assert_allclose(both[direction], serial[direction], rtol=1e-6, atol=1e-6 * scale)
    edited = [entry for entry in at_once if entry[1] is not threading.current_thread()]   # the caches: the caller
    assert {which for which, _, _ in edited} == {"run", "twin"}
    assert {threads for _, _, threads in edited} == {1}
    models_of = {thread: {name for name, other, _ in edited if other == thread} for _, thread, _ in edited}
    assert all(len(models) == 1 for models in models_of.values())      # a thread keeps to its own model
    assert {which for which, _, _ in after} == {"run"} and {threads for _, _, threads in after} == {2}


def test_last_query_refuses_an_edit_of_the_last_block_and_other_families(runs):
    run = runs["llama"]
    ids = random_ids(run, 6, seed=2)
    last = run.info.n_layers - 1
    with pytest.raises(ValueError, match=f"hooks blocks.{last}.hook_mlp_out: with last_query"):
        run.run_edit_sets(ids, [[(f"blocks.{last}.hook_mlp_out", lambda x, hook: x)]], logits_to_keep=1,
                          from_positions=[2], last_query=True)
    with pytest.raises(ValueError, match="logits_to_keep must be 1"):
        run.run_edit_sets(ids, [[]], logits_to_keep=2, from_positions=[2], last_query=True)
    with pytest.raises(ValueError, match="needs from_positions"):
        run.run_edit_sets(ids, [[]], logits_to_keep=1, last_query=True)
    # the input of the last block may be edited: the same logits as without the cut
    def scale(value, hook):
        value = value.clone()
        value[:, 3:] *= 1.5
        return value
    edit = [(f"blocks.{last}.hook_resid_pre", scale)]
    cut = run.run_edit_sets(ids, [edit], logits_to_keep=1, from_positions=[3], last_query=True)
    whole = run.run_edit_sets(ids, [edit], logits_to_keep=1, from_positions=[3])
    torch.testing.assert_close(cut, whole, rtol=1e-5, atol=1e-6)
    assert not torch.equal(whole, run.run_edit_sets(ids, [[]], logits_to_keep=1, from_positions=[3]))
    # a family whose blocks do not add their branches in turn (GPT-NeoX's parallel branches, OLMo 2's normed ones)
    other = copy.copy(run)
    other.adapter = dataclasses.replace(run.adapter, sequential_residual=False)
    with pytest.raises(ValueError, match="does not say that a block adds its attention and MLP outputs"):
        other.run_edit_sets(ids, [[]], logits_to_keep=1, from_positions=[2], last_query=True)


@pytest.mark.parametrize("family", ["gpt2", "llama"])
def test_attention_editing_with_suffix_runs_equals_the_full_runs(runs, family, monkeypatch):
    run = runs[family]
    ids = random_ids(run, 8, seed=13)
    explained = Explained(run, [ids], 40)
    last = run.info.n_layers - 1
    scopes = [Scope(0, last), Scope(1, last), Scope(0, 0, head=1)]
    keys, factors = [0, 3, 7], [0.0, 0.5, 4.0]
    short = editing(explained, scopes, keys, factors, top_k=3, batch_size=4)
    with monkeypatch.context() as patch:
        _off(patch)
        full = editing(explained, scopes, keys, factors, top_k=3, batch_size=4)
    np.testing.assert_array_equal(short["top"], full["top"])
    np.testing.assert_allclose(short["probs"], full["probs"], rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(short["target"], full["target"], rtol=1e-4, atol=1e-9)
    assert np.abs(full["target"] - full["base_target"]).max() > 1e-3 * full["base_target"], \
        "the edits change nothing: a useless test"
