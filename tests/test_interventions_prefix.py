"""Patching and attention editing with suffix runs (each edited run computes only the positions from the first one
it changes, `ModelRun.run_edit_sets(from_positions=)`) against the same methods with the shortcut switched off
(full-length runs), and against single full hooked runs written here, on tiny random GPT-2 and Llama."""

from __future__ import annotations

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
def test_patching_cells_started_a_block_later_equal_those_started_at_their_block(runs, family):
    """Restored residual streams and MLP outputs below the last block start at block l + 1 (`late`); the grids
    equal the runs started at block l to float rounding: the same sums, but block l's products (attention output,
    computed in a batch) are replaced by the cached batch-1 ones, so the last bits of the MLP cells may differ."""
    run = runs[family]
    assert run.adapter.sequential_residual
    clean = random_ids(run, 8, seed=21)
    contrast = clean.clone()
    contrast[0, 1] = (contrast[0, 1] + 17) % 400 + 5
    contrast[0, 6] = (contrast[0, 6] + 5) % 400 + 5
    with torch.no_grad():
        moved = torch.softmax(run.model(clean).logits[0, -1], -1) - torch.softmax(run.model(contrast).logits[0, -1], -1)
    target = int(moved.abs().argmax())
    explained = Explained(run, [clean], target)
    counted = []
    handles = [block.register_forward_hook(lambda _m, _a, out: counted.append(
        (out[0] if isinstance(out, tuple) else out).shape[:2].numel())) for block in run.adapter.blocks(run.model)]
    try:
        late = patching(explained, contrast, batch_size=4)
        late_positions = sum(counted)
        counted.clear()
        at_block = patching(explained, contrast, batch_size=4, late=False)
        at_block_positions = sum(counted)
    finally:
        for handle in handles:
            handle.remove()
    # the cut is taken: per direction, each of the 2 kinds' cells (l < L - 1, p >= 1, the first differing token)
    # skips N - p block-positions (more where batches recompute a few positions); the 3 cache runs and the suffix
    # runs' clean run are the same
    n_layers, n = run.info.n_layers, clean.shape[1]
    assert at_block_positions - late_positions >= 2 * 2 * (n_layers - 1) * sum(n - p for p in range(1, n))
    scale = abs(at_block["clean"] - at_block["contrast"])
    assert scale > 0.01 * at_block["clean"], "the contrast changes nothing: a useless test"
    for direction in ("restore", "break"):
        # cells that moved: a grid of the edited run's value everywhere would not pass
        assert np.abs(at_block[direction][[0, 2], :-1] - at_block[direction][0, 0, 0]).max() > 0.1 * scale
        np.testing.assert_allclose(late[direction], at_block[direction], rtol=1e-6, atol=1e-6 * scale)
    # an MLP cell through the block l + 1 input written here: (resid_pre + attn_out) of the contrast run + clean
    # mlp_out, against a single full run with the MLP output replaced
    _, cache = run.run_with_cache(clean, ["blocks.*.hook_mlp_out"])
    layer, position, name = 0, 6, "blocks.0.hook_mlp_out"

    def put(value, hook):
        value = value.clone()
        value[:, position] = cache[name][:, position]
        return value
    expected = _probability(run, contrast, [(name, put)], target)
    assert abs(late["restore"][2, layer, position] - expected) < 1e-5 * expected


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
