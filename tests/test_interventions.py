"""Interventions (issue 23) on tiny random models, each number checked by another route:

- head knockout (zero ablation) equals a copy of the model whose output-projection columns for that head are zero;
- patching: restoring every layer's residual stream from the clean run gives the clean output; positions before
  the first token that differs patch nothing (the contrast output); restoring the residual stream at the last
  layer and last position gives the clean output (and breaking it there the contrast output);
- attention editing: factor 1 changes nothing; a blocked key equals the masked softmax computed here from q and k,
  and the edited model equals the model run with that key masked out by its own attention mask;
- the same spec and model bake byte-identical payloads; bad input gives placed errors.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import textwrap

import pytest
import torch

from generator.bake import Baker
from generator.errors import SpecError
from generator.methods.interventions.editing import Scope, edit_set, editing, scale_key
from generator.methods.interventions.explained import Explained
from generator.methods.interventions.knockout import knockout
from generator.methods.interventions.patching import patching
from conftest import load_tiny, random_ids
from generator.spec import Catalogue, spec_from_block


_load = load_tiny


@pytest.fixture(scope="module")
def runs(tiny_runs):
    return tiny_runs


def _ids(run, n=8, seed=0):
    return random_ids(run, n, seed)


def _projection(run, model, layer):
    module = run.adapter.blocks(model)[layer]
    for part in run.adapter.attn_out.split("."):
        module = getattr(module, part)
    return module


@pytest.mark.parametrize("family", ["gpt2", "llama"])
def test_zero_knockout_equals_zeroed_output_projection_columns(runs, family):
    run = runs[family]
    ids = _ids(run)
    target = 17
    explained = Explained(run, [ids], target)
    result = knockout(explained, "zero", batch_size=3)
    heads = run.info.n_heads
    for layer in range(run.info.n_layers):
        for head in range(heads):
            model = copy.deepcopy(run.model)
            projection = _projection(run, model, layer)
            with torch.no_grad():
                weight = projection.weight
                d_head = (weight.shape[0] if run.adapter.attn_out_conv1d else weight.shape[1]) // heads
                span = slice(head * d_head, (head + 1) * d_head)
                if run.adapter.attn_out_conv1d:
                    weight[span, :] = 0
                else:
                    weight[:, span] = 0
                logits = model(ids, attention_mask=torch.ones_like(ids)).logits[0, -1].double()
            expected = torch.log_softmax(logits, -1)[target]
            assert abs(result["heads"][layer, head, 0] - float(expected)) < 1e-5
            assert abs(result["heads"][layer, head, 1] - float(expected.exp())) < 1e-5
    with torch.no_grad():
        plain = torch.log_softmax(run.model(ids).logits[0, -1].double(), -1)[target]
    assert abs(result["base"][0] - float(plain)) < 1e-5
    assert abs(result["heads"][..., 0] - result["base"][0]).max() > 1e-4, "no knockout changed anything"


def test_knockout_of_a_pair_measures_the_similarity_of_both_sentences(runs):
    run = runs["bert"]
    a, b = _ids(run, 6, seed=1), _ids(run, 7, seed=2)
    result = knockout(Explained(run, [a, b], None), "zero", batch_size=4)
    layer, head = 1, 2

    def pooled(ids):
        model = copy.deepcopy(run.model)
        projection = _projection(run, model, layer)
        d_head = projection.weight.shape[1] // run.info.n_heads
        with torch.no_grad():
            projection.weight[:, head * d_head:(head + 1) * d_head] = 0
            return model(ids, attention_mask=torch.ones_like(ids)).last_hidden_state[0].mean(0).double()
    u, v = pooled(a), pooled(b)
    expected = float(u @ v / (u.norm() * v.norm()))
    assert result["heads"].shape == (run.info.n_layers, run.info.n_heads, 1)
    assert abs(result["heads"][layer, head, 0] - expected) < 1e-5


def test_patching_restores_the_clean_run_and_nothing_else(runs):
    run = runs["llama"]
    clean = _ids(run, seed=3)
    contrast = clean.clone()
    contrast[0, 4] = (contrast[0, 4] + 7) % 400 + 5          # tokens 0-3 and 5-7 the same, token 4 differs
    target = 23
    explained = Explained(run, [clean], target)
    grids = patching(explained, contrast, batch_size=8)
    with torch.no_grad():
        probs = {name: float(torch.softmax(run.model(ids).logits[0, -1].double(), -1)[target])
                 for name, ids in (("clean", clean), ("contrast", contrast))}
    # a tiny random model spreads its output thin (p ~ 2e-5), so the tolerances are relative to that scale
    tol = 1e-4 * probs["clean"]
    assert abs(grids["clean"] - probs["clean"]) < tol and abs(grids["contrast"] - probs["contrast"]) < tol
    assert abs(probs["clean"] - probs["contrast"]) > 50 * tol, "the contrast changes nothing: a useless test"
    n_layers, n = run.info.n_layers, clean.shape[1]
    # the residual stream at the last layer and last position carries the whole output
    assert abs(grids["restore"][0, n_layers - 1, n - 1] - probs["clean"]) < tol
    assert abs(grids["break"][0, n_layers - 1, n - 1] - probs["contrast"]) < tol
    # before the differing token both runs are identical (causal): patching there patches nothing
    for kind in range(3):
        assert abs(grids["restore"][kind, :, :4] - probs["contrast"]).max() < tol
        assert abs(grids["break"][kind, :, :4] - probs["clean"]).max() < tol
    # and patching the differing token's residual stream in the first layer restores most of the way or more
    assert abs(grids["restore"][0, 0, 4] - probs["contrast"]) > 10 * tol
    # patching every position of every layer's residual stream gives the clean output exactly
    _, cache = run.run_with_cache(clean, "blocks.*.hook_resid_post")
    every = [(name, lambda x, hook, name=name: cache[name]) for name in cache]
    everything = explained.log_probs([every], batch_size=1, ids=contrast)[0].exp()
    with torch.no_grad():
        clean_probs = torch.softmax(run.model(clean).logits[0, -1], -1)
    torch.testing.assert_close(everything, clean_probs, rtol=1e-4, atol=1e-9)


def _masked_softmax_pattern(run, ids, layer, key):
    """The attention weights of `layer` recomputed here from its q and k, with key `key` at -inf."""
    _, cache = run.run_with_cache(ids, [f"blocks.{layer}.attn.hook_q", f"blocks.{layer}.attn.hook_k"])
    q, k = cache[f"blocks.{layer}.attn.hook_q"][0], cache[f"blocks.{layer}.attn.hook_k"][0]   # [H, N, d], [Hkv, N, d]
    k = k.repeat_interleave(q.shape[0] // k.shape[0], dim=0)
    scores = q @ k.transpose(-1, -2) / q.shape[-1] ** 0.5
    n = q.shape[1]
    scores = scores.masked_fill(torch.ones(n, n, dtype=torch.bool).triu(1), float("-inf"))
    scores[..., key] = float("-inf")
    return torch.softmax(scores, dim=-1)


@pytest.mark.parametrize("family", ["gpt2", "llama"])
def test_blocking_equals_the_masked_softmax_and_factor_one_changes_nothing(runs, family):
    run = runs[family]
    ids = _ids(run, seed=4)
    key, layer = 2, 1
    _, cache = run.run_with_cache(ids, f"blocks.{layer}.attn.hook_pattern")
    blocked = scale_key(cache[f"blocks.{layer}.attn.hook_pattern"], key, 0.0)[0]
    expected = _masked_softmax_pattern(run, ids, layer, key)
    torch.testing.assert_close(blocked[:, key + 1:], expected[:, key + 1:], rtol=0, atol=1e-6)
    assert float(blocked[:, :, key].abs().max()) == 0.0
    # factor 1 in every layer: the unedited output
    everywhere = Scope(0, run.info.n_layers - 1)
    torch.testing.assert_close(run.run_with_hooks(ids, edit_set(everywhere, key, 1.0)), run.run_with_hooks(ids),
                               rtol=0, atol=1e-6)
    # blocking in every layer through editing(): the model with that key masked out by its attention mask
    target = 11
    result = editing(Explained(run, [ids], target), [everywhere], [key], [0.0, 2.0], top_k=3, batch_size=2)
    mask = torch.ones_like(ids)
    mask[0, key] = 0
    with torch.no_grad():
        probs = torch.softmax(run.model(ids, attention_mask=mask).logits[0, -1].double(), -1)
    top = probs.topk(3)
    assert result["top"][0, 0, 0].tolist() == top.indices.tolist()
    assert abs(result["probs"][0, 0, 0] - top.values.numpy()).max() < 1e-6
    assert abs(result["target"][0, 0, 0] - float(probs[target])) < 1e-6
    # x2 is the score of the key shifted by ln 2 before the softmax (checked in one layer here)
    doubled = scale_key(cache[f"blocks.{layer}.attn.hook_pattern"], key, 2.0)[0]
    raw = cache[f"blocks.{layer}.attn.hook_pattern"][0].clone()
    raw[..., key] *= 2
    torch.testing.assert_close(doubled, raw / raw.sum(-1, keepdim=True), rtol=0, atol=1e-6)
    # one head alone: the other heads' weights are untouched
    one = scale_key(cache[f"blocks.{layer}.attn.hook_pattern"], key, 0.0, head=1)[0]
    torch.testing.assert_close(one[0], cache[f"blocks.{layer}.attn.hook_pattern"][0, 0], rtol=0, atol=0)
    torch.testing.assert_close(one[1, key + 1:], expected[1, key + 1:], rtol=0, atol=1e-6)


# -- through the bake ------------------------------------------------------------------------------------------------

def _block(body: str):
    return spec_from_block(textwrap.dedent(body), file="docs/page.md", line_offset=10, catalogue=Catalogue({}))


def _bake(tmp_path, body: str, cache="cache") -> bytes:
    return Baker(tmp_path / cache, base_dir=tmp_path).payload(_block(body))


def _error(tmp_path, body: str) -> SpecError:
    with pytest.raises(SpecError) as caught:
        _bake(tmp_path, body)
    return caught.value


@pytest.fixture()
def project(tmp_path, tiny_models):
    for name, folder in tiny_models.items():
        (tmp_path / name).symlink_to(folder)
    return tmp_path


CAUSAL = """
model: llama
text: The cat sat on the
generate: 1
views: [knockout, editing, patching]
interventions: {contrast: The dog sat on the, heads: [[1, 2]], layers: "1-1"}
"""


def test_the_section_is_deterministic_and_complete(project):
    first, second = _bake(project, CAUSAL, "one"), _bake(project, CAUSAL, "two")
    assert first == second
    section = json.loads(first)["interventions"]
    assert section["kind"] == "causal" and section["output"]["source"] == "generated"
    assert len(section["knockout"]["heads"]["prob"]) == 2 and len(section["knockout"]["heads"]["prob"][0]) == 4
    assert [scope["head"] for scope in section["editing"]["scopes"]] == [None, None, 2]
    assert section["patching"]["restore"]["shape"] == [3, 2, len(section["editing"]["keys"])]
    pair = json.loads(_bake(project, "model: bert\npair: [A cat sits., A dog runs.]\nviews: [knockout]\n"))
    assert pair["interventions"]["kind"] == "similarity"
    assert pair["interventions"]["knockout"]["metrics"] == ["similarity"]


def test_a_contrast_of_another_length_names_both_counts_and_tokens(project):
    error = _error(project, CAUSAL.replace("The dog sat on the", "The big dog sat on the"))
    assert error.field == "interventions.contrast"
    assert "6 tokens" in str(error) and "5" in str(error) and "' big'" in str(error) and "' cat'" in str(error)


def test_a_contrast_that_is_the_text_itself_is_a_placed_error_at_bake(project):
    error = _error(project, CAUSAL.replace("The dog sat on the", "The cat sat on the"))
    assert error.field == "interventions.contrast" and "the contrast is the text itself" in str(error)


def test_out_of_range_factors_layers_and_heads_are_placed_errors(project):
    error = _error(project, CAUSAL.replace("layers: \"1-1\"", "factors: [0, 9]"))
    assert "interventions.factors" in str(error) and "8" in str(error)
    error = _error(project, CAUSAL.replace("layers: \"1-1\"", "layers: \"0-5\""))
    assert error.field == "interventions.layers" and "0-1" in str(error)
    error = _error(project, CAUSAL.replace("[[1, 2]]", "[[1, 4]]"))
    assert error.field == "interventions.heads.0" and "heads 0-3" in str(error)
    error = _error(project, "model: llama\ntext: The cat\nviews: [knockout]\n")
    assert error.field == "views" and "generate" in str(error)
    error = _error(project, "model: bert\npair: [A cat., A dog.]\nviews: [editing]\n")
    assert error.field == "views" and "knockout" in str(error)


def test_a_missing_adapter_path_names_it_and_the_views_that_work(project, monkeypatch):
    from generator.models import adapters

    monkeypatch.setitem(adapters.ADAPTERS, "llama", dataclasses.replace(adapters.ADAPTERS["llama"], attn_out=""))
    error = _error(project, CAUSAL)
    assert error.field == "views"
    assert "output projection" in str(error) and "knockout" in str(error) and "views that work" in str(error)
    assert "editing" in str(error).split("views that work")[1]
