"""The explanation methods against independent computations: rollout against a numpy product written here, flow
against networkx's maximum flow, the attention-gradient methods against gradients obtained by another route (a
perturbation injected into the attention weights by this module's own attention function), value-weighted attention
against the block's real attention output, gradient x input against the saliency method, Spearman against ranks
correlated by hand."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
import torch

from generator.capture import run
from generator.methods.explanations.attention_gradients import (causal_attention_gradients,
                                                                 similarity_attention_gradients)
from generator.methods.explanations.attention_maps import raw_attention, residual_attention, rollout_layers
from generator.methods.explanations.faithfulness import spearman
from generator.methods.explanations.flow import flow_rows
from generator.methods.explanations.value_weighted import transformed_values, value_weighted_norms
from generator.methods.registry import Needs
from generator.model_run import ModelRun
from generator.models.loading import load
from generator.models.registry import resolve
from generator.spec import spec_from_data


def random_attention(rng, layers, heads, n, causal):
    weights = rng.random((layers, heads, n, n)) ** 3
    if causal:
        weights = np.tril(weights)
    return weights / weights.sum(-1, keepdims=True)


# -- rollout and flow ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("causal", [True, False])
def test_rollout_equals_a_product_of_residual_averaged_matrices(causal):
    rng = np.random.default_rng(3)
    attentions = random_attention(rng, 5, 3, 7, causal)
    expected = []
    product = np.eye(7)
    for layer in range(5):
        averaged = sum(attentions[layer, h] for h in range(3)) / 3
        augmented = averaged + np.eye(7)
        augmented = augmented / augmented.sum(axis=1)[:, None]
        product = augmented @ product
        expected.append(product.copy())
    got = rollout_layers(attentions)
    np.testing.assert_allclose(got, np.array(expected), atol=1e-6)
    np.testing.assert_allclose(got[-1].sum(-1), 1.0, atol=1e-12)
    np.testing.assert_allclose(raw_attention(attentions), attentions[-1].mean(0), atol=1e-12)
    if causal:
        assert np.all(np.triu(got[-1], 1) == 0)


def networkx_flows(augmented, source_layer, source, causal):
    """The authors' formulation: a DiGraph of float capacities, Edmonds-Karp from (layer, i) to each (0, j)."""
    layers, n, _ = augmented.shape
    graph = nx.DiGraph()
    for layer in range(1, layers + 1):
        for k in range(n):
            for j in range(n):
                if (not causal or j <= k) and augmented[layer - 1, k, j] > 0:
                    graph.add_edge((layer, k), (layer - 1, j), capacity=float(augmented[layer - 1, k, j]))
    flows = np.array([nx.maximum_flow_value(graph, (source_layer, source), (0, j),
                                            flow_func=nx.algorithms.flow.edmonds_karp)
                      if (0, j) in graph and (not causal or j <= source) else 0.0 for j in range(n)])
    return flows / flows.sum()


@pytest.mark.parametrize("causal", [True, False])
def test_flow_equals_networkx_maximum_flow(causal):
    rng = np.random.default_rng(11)
    attentions = random_attention(rng, 4, 2, 6, causal)
    augmented = residual_attention(attentions)
    positions = [5, 3, 0] if causal else [0, 2, 5]
    shares, maps = flow_rows(augmented, positions, causal=causal, layers=True)
    for row, position in enumerate(positions):
        np.testing.assert_allclose(shares[row], networkx_flows(augmented, 4, position, causal), atol=1e-6)
        for layer in (1, 2, 3):
            np.testing.assert_allclose(maps[row, layer - 1], networkx_flows(augmented[:layer], layer, position, causal),
                                       atol=1e-6)
        np.testing.assert_allclose(maps[row, -1], shares[row], atol=0)
    np.testing.assert_allclose(shares.sum(-1), 1.0, atol=1e-12)


def test_flow_refuses_capacities_outside_the_unit_interval_and_bad_positions():
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        flow_rows(np.full((2, 3, 3), 1.5), [0], causal=True)
    with pytest.raises(ValueError, match="positions must lie in 0..2"):
        flow_rows(np.full((2, 3, 3), 1 / 3), [3], causal=False)


# -- gradients of the target with respect to the attention weights, by another route -----------------------------

ATTENTION_MODULES = {"llama": "transformers.models.llama.modeling_llama",
                     "gpt2": "transformers.models.gpt2.modeling_gpt2",
                     "bert": "transformers.models.bert.modeling_bert"}


class InjectedAttention:
    """This module's own eager attention (softmax(q k^T scale + mask) v, key/value heads repeated for grouped-query
    attention) with a perturbation delta_l added to the weights of the l-th attention call: d f / d delta_l at
    delta = 0 is d f / d A_l, without asking the library for its attention tensors."""

    def __init__(self, deltas):
        self.deltas, self.weights, self.calls = deltas, [], 0

    def __call__(self, module, query, key, value, attention_mask, scaling=None, dropout=0.0, **kwargs):
        groups = query.shape[1] // key.shape[1]
        key, value = key.repeat_interleave(groups, dim=1), value.repeat_interleave(groups, dim=1)
        scale = query.shape[-1] ** -0.5 if scaling is None else scaling
        scores = query @ key.transpose(-1, -2) * scale
        if attention_mask is not None:
            scores = scores + attention_mask
        weights = scores.softmax(-1)
        self.weights.append(weights.detach()[0])
        delta = self.deltas[self.calls % len(self.deltas)]
        self.calls += 1
        return ((weights + delta) @ value).transpose(1, 2).contiguous(), weights


def injected_gradients(monkeypatch, name, model, forward, n_calls, heads, sizes):
    """(d f / d A per attention call [H, n, n], A per call) with f = forward()."""
    deltas = [torch.zeros((1, heads, n, n), requires_grad=True) for n in sizes]
    attention = InjectedAttention(deltas)
    monkeypatch.setattr(f"{ATTENTION_MODULES[name]}.eager_attention_forward", attention)
    f = forward()
    assert attention.calls == n_calls
    grads = torch.autograd.grad(f, deltas)
    monkeypatch.undo()
    return [g[0].double().numpy() for g in grads], [w.double().numpy() for w in attention.weights]


def chefer_by_hand(weights, grads):
    """R = I; R += mean_h((A ⊙ dA)^+) R for each layer in order; returns R - I and the per-layer key sums."""
    n = weights[0].shape[-1]
    relevance = np.eye(n)
    per_key = []
    for a, g in zip(weights, grads):
        positive = np.maximum(a * g, 0)
        relevance = relevance + positive.mean(axis=0) @ relevance
        per_key.append(positive.sum(axis=(0, 1)))
    return relevance - np.eye(n), np.array(per_key)


@pytest.mark.parametrize("name", ["llama", "gpt2"])
@pytest.mark.parametrize("target", ["logit", "probability"])
def test_causal_attention_gradients_match_injected_perturbations(tiny_models, monkeypatch, name, target):
    loaded = load(resolve(str(tiny_models[name])))
    model = loaded.model
    torch.manual_seed(1)
    ids = torch.randint(3, 500, (9,))
    n_prompt = 6
    got = causal_attention_gradients(ModelRun(loaded), ids, n_prompt, target)
    layers, heads = loaded.info.n_layers, loaded.info.n_heads
    for g in range(ids.shape[0] - n_prompt):
        p = n_prompt + g

        def forward():
            logits = model(ids[None]).logits[0, p - 1].double()
            return logits[ids[p]] if target == "logit" else logits.softmax(-1)[ids[p]]
        grads, weights = injected_gradients(monkeypatch, name, model, forward, layers, heads, [9] * layers)
        relevance, per_key = chefer_by_hand(weights, grads)
        np.testing.assert_allclose(got.relevance[g], relevance, rtol=1e-4, atol=1e-9)
        np.testing.assert_allclose(got.attention_x_gradient[g], per_key, rtol=1e-4, atol=1e-9)
        assert np.abs(relevance[p - 1]).sum() > 0, "the test must not pass on zeros"


def test_similarity_attention_gradients_match_injected_perturbations(tiny_models, monkeypatch):
    loaded = load(resolve(str(tiny_models["bert"])))
    model = loaded.model
    ids_a = torch.tensor([101, 1037, 2158, 3248, 102])
    ids_b = torch.tensor([101, 2619, 3084, 2189, 1012, 102])
    got_a, got_b = similarity_attention_gradients(ModelRun(loaded), ids_a, ids_b)
    layers, heads = loaded.info.n_layers, loaded.info.n_heads

    def forward():
        u = model(ids_a[None]).last_hidden_state[0].mean(0).double()
        v = model(ids_b[None]).last_hidden_state[0].mean(0).double()
        return u @ v / (u.norm() * v.norm())
    grads, weights = injected_gradients(monkeypatch, "bert", model, forward, 2 * layers, heads,
                                        [5] * layers + [6] * layers)
    for got, part in ((got_a, slice(0, layers)), (got_b, slice(layers, 2 * layers))):
        relevance, per_key = chefer_by_hand(weights[part], grads[part])
        np.testing.assert_allclose(got.relevance[0], relevance, rtol=1e-4, atol=1e-10)
        np.testing.assert_allclose(got.attention_x_gradient[0], per_key, rtol=1e-4, atol=1e-10)
    assert float(got_a.values[0]) == pytest.approx(float(forward().detach()), abs=1e-6)


def test_gradient_x_input_equals_the_saliency_method(tiny_models):
    from generator.methods.saliency.causal import causal_saliency
    from generator.methods.saliency.scores import causal_mask, normalise

    loaded = load(resolve(str(tiny_models["llama"])))
    ids = torch.randint(3, 500, (10,), generator=torch.Generator().manual_seed(2))
    got = causal_attention_gradients(ModelRun(loaded), ids, 6).gradient_x_input
    expected = causal_saliency(loaded.model, ids, 6, methods=("gradient_x_input",)).scores["gradient_x_input"]
    np.testing.assert_allclose(normalise(got, causal_mask(6, 10)), expected, atol=1e-6)


# -- value-weighted attention --------------------------------------------------------------------------------------

OUTPUT_PROJECTIONS = {"llama": lambda block: block.self_attn.o_proj, "gpt2": lambda block: block.attn.c_proj,
                      "bert": lambda block: block.attention.output.dense}


@pytest.mark.parametrize("name", ["llama", "gpt2", "bert"])
def test_value_weighted_contributions_add_up_to_the_attention_output(tiny_models, name):
    """sum_j sum_h alpha_ij f^h(x_j) + b_O must be the output projection's output at query i (hooked here), and the
    norms must equal an explicit loop over heads, from the captured values and W_O."""
    folder = tiny_models[name]
    loaded = load(resolve(str(folder)))
    fields = {"pair": ["A man plays.", "Music is made."]} if name == "bert" else {"text": "The cat sat on the mat."}
    spec = spec_from_data({"model": str(folder), **fields}, file="t")
    outputs = []
    block = loaded.adapter.blocks(loaded.model)[-1]
    handle = OUTPUT_PROJECTIONS[name](block).register_forward_hook(lambda m, a, out: outputs.append(out[0].detach()))
    try:
        capture = run(spec, loaded, Needs(hooks=("blocks.*.attn.hook_pattern", "blocks.*.attn.hook_v",
                                                 "blocks.*.attn.W_O")))
    finally:
        handle.remove()
    last = loaded.info.n_layers - 1
    values = capture.activations[f"blocks.{last}.attn.hook_v"]
    w_o = capture.weights[f"blocks.{last}.attn.W_O"]
    attention = capture.attentions[last]
    heads, n = attention.shape[0], attention.shape[-1]
    assert values.shape[:2] == (loaded.info.n_kv_heads, n) and w_o.shape[0] == heads
    projection = OUTPUT_PROJECTIONS[name](block)
    bias = projection.bias.detach().double().numpy() if projection.bias is not None else 0.0
    transformed = transformed_values(values, w_o)                         # [H, N, D]
    total = np.einsum("hij,hjd->id", attention.astype(np.float64), transformed) + bias
    np.testing.assert_allclose(total, outputs[0].double().numpy(), atol=1e-5)
    group = heads // loaded.info.n_kv_heads
    explicit = np.zeros((n, n))
    for i in range(n):
        for j in range(n):
            vector = sum(attention[h, i, j] * (values[h // group, j].astype(np.float64) @ w_o[h]) for h in range(heads))
            explicit[i, j] = np.linalg.norm(vector)
    np.testing.assert_allclose(value_weighted_norms(attention, values, w_o), explicit, rtol=1e-5, atol=1e-9)


def test_value_weighted_attention_refuses_mismatched_shapes():
    with pytest.raises(ValueError, match="do not fit"):
        value_weighted_norms(np.ones((2, 3, 3)), np.ones((1, 4, 5)), np.ones((2, 5, 7)))
    with pytest.raises(ValueError, match="evenly"):
        transformed_values(np.ones((2, 3, 5)), np.ones((3, 5, 7)))


# -- agreement ---------------------------------------------------------------------------------------------------------

def test_spearman_matches_ranks_correlated_by_hand():
    from scipy.stats import rankdata

    rng = np.random.default_rng(5)
    shares = rng.random((4, 9))
    shares[2, :3] = shares[2, 0]                      # ties
    shares[3] = 0.25                                   # constant: undefined
    got = spearman(shares)
    for a in range(3):
        for b in range(3):
            ra, rb = rankdata(shares[a]), rankdata(shares[b])
            ra, rb = ra - ra.mean(), rb - rb.mean()
            assert got[a, b] == pytest.approx(ra @ rb / np.sqrt((ra @ ra) * (rb @ rb)), abs=1e-12)
    assert np.isnan(got[3]).all() and np.isnan(got[:, 3]).all()
