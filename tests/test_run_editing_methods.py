"""The two explanation methods that edit a model run by hook name, each checked against an independent computation:
a GPT-2 forward written out here (float64) in which the edit is made directly, not through hooks.

- attention attribution (Hao et al. 2021): A_l ⊙ integral_0^1 dF(alpha A_l)/dA_l d alpha per layer, with Gauss-Legendre
  nodes from numpy, one backward per output; relevance of key j = sum over layers, heads, queries of the positive part;
- value zeroing (Mohebbi et al. 2023): 1 - cos(x_i, x_i without j's values at layer l), causal rows, normalised,
  rolled out without identity.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from generator.methods.explanations.attention_attribution import causal_attention_attribution
from generator.methods.explanations.value_zeroing import value_zeroing
from generator.model_run import ModelRun
from generator.models.loading import load
from generator.models.registry import resolve

IDS = torch.tensor([5, 17, 3, 40, 9, 22, 11])
N_PROMPT = 4


@pytest.fixture(scope="module")
def gpt2(tiny_models):
    loaded = load(resolve(str(tiny_models["gpt2"])))
    loaded.model.double().eval()
    return loaded


def manual_forward(model, ids, *, layer=None, alpha=None, zero=None):
    """GPT-2 written out: (logits [N, V], block outputs [L] x [N, D], patterns [L] x [H, N, N], the scaled pattern
    of `layer` as a leaf). alpha scales layer `layer`'s attention weights (after the softmax); zero: a token whose
    value vectors are set to 0 at layer `layer`."""
    transformer = model.transformer
    n = ids.shape[0]
    h = transformer.wte(ids) + transformer.wpe(torch.arange(n))
    outputs, patterns, leaf = [], [], None
    for index, block in enumerate(transformer.h):
        attn = block.attn
        heads, width = attn.num_heads, attn.head_dim
        q, k, v = attn.c_attn(block.ln_1(h)).split(attn.split_size, dim=-1)
        q, k, v = (t.reshape(n, heads, width).transpose(0, 1) for t in (q, k, v))
        scores = q @ k.transpose(-1, -2) / math.sqrt(width)
        scores = scores.masked_fill(torch.triu(torch.ones(n, n, dtype=torch.bool), 1), float("-inf"))
        pattern = torch.softmax(scores, dim=-1)
        patterns.append(pattern.detach())
        if index == layer and zero is not None:
            v = v.clone()
            v[:, zero] = 0
        if index == layer and alpha is not None:
            leaf = (alpha * pattern.detach()).requires_grad_(True)
            pattern = leaf
        z = (pattern @ v).transpose(0, 1).reshape(n, heads * width)
        h = h + attn.c_proj(z)
        h = h + block.mlp.c_proj(block.mlp.act(block.mlp.c_fc(block.ln_2(h))))
        outputs.append(h)
    return model.lm_head(transformer.ln_f(h)), outputs, patterns, leaf


def test_the_written_out_forward_is_the_model(gpt2):
    with torch.no_grad():
        logits, _, _, _ = manual_forward(gpt2.model, IDS)
        np.testing.assert_allclose(logits.numpy(), gpt2.model(IDS[None]).logits[0].numpy(), rtol=1e-10, atol=1e-10)


def test_attention_attribution_equals_integrated_gradients_written_out(gpt2):
    steps = 6
    nodes, weights = np.polynomial.legendre.leggauss(steps)
    nodes, weights = (nodes + 1) / 2, weights / 2
    n, n_layers = IDS.shape[0], gpt2.info.n_layers
    expected = np.zeros((n - N_PROMPT, n))
    for layer in range(n_layers):
        for g, position in enumerate(range(N_PROMPT, n)):
            integral = 0
            for alpha, weight in zip(nodes, weights):
                logits, _, patterns, leaf = manual_forward(gpt2.model, IDS, layer=layer, alpha=float(alpha))
                (grad,) = torch.autograd.grad(logits[position - 1, IDS[position]], leaf)
                integral = integral + weight * grad
            attribution = patterns[layer] * integral                       # [H, N, N]
            expected[g] += attribution.clamp_min(0).sum(dim=(0, 1)).numpy()
    got = causal_attention_attribution(ModelRun(gpt2), IDS, N_PROMPT, "logit", steps=steps)
    assert got.shape == expected.shape and expected.max() > 0
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-12)
    for g in range(got.shape[0]):          # output g is read at position N_PROMPT + g - 1: later keys give nothing
        assert (got[g, N_PROMPT + g:] == 0).all()


def test_attention_attribution_is_complete_per_layer(gpt2):
    """Sum of one layer's attributions = F(A) - F(0 A) (Gauss-Legendre is near exact on this smooth path)."""
    run = ModelRun(gpt2)
    position = IDS.shape[0] - 1
    full = manual_forward(gpt2.model, IDS)[0][position - 1, IDS[position]].item()
    nodes, weights = np.polynomial.legendre.leggauss(24)
    total = 0.0
    for alpha, weight in zip((nodes + 1) / 2, weights / 2):
        logits, _, patterns, leaf = manual_forward(gpt2.model, IDS, layer=1, alpha=float(alpha))
        (grad,) = torch.autograd.grad(logits[position - 1, IDS[position]], leaf)
        total += weight * float((patterns[1] * grad).sum())
    zeroed = manual_forward(gpt2.model, IDS, layer=1, alpha=0.0)[0][position - 1, IDS[position]].item()
    assert total == pytest.approx(full - zeroed, rel=1e-6)
    assert run.hook_names().count("blocks.1.attn.hook_pattern") == 1


def test_value_zeroing_equals_the_written_out_edit(gpt2):
    n, n_layers = IDS.shape[0], gpt2.info.n_layers
    with torch.no_grad():
        _, original, _, _ = manual_forward(gpt2.model, IDS)
        maps = np.zeros((n_layers, n, n))
        for layer in range(n_layers):
            for j in range(n):
                _, edited, _, _ = manual_forward(gpt2.model, IDS, layer=layer, zero=j)
                for i in range(j, n):            # causal: j > i cannot change position i
                    u, w = original[layer][i].numpy(), edited[layer][i].numpy()
                    maps[layer, i, j] = max(0.0, 1 - u @ w / (np.linalg.norm(u) * np.linalg.norm(w)))
            maps[layer] /= maps[layer].sum(axis=1, keepdims=True)
    expected = np.eye(n)
    for layer in range(n_layers):
        expected = maps[layer] @ expected
    got = value_zeroing(ModelRun(gpt2), IDS, causal=True)
    assert np.triu(expected, 1).max() == 0 and expected.min() >= 0
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-12)
    np.testing.assert_allclose(got.sum(axis=1), 1.0, rtol=1e-12)


def test_every_explanations_method_has_its_label_in_the_view():
    import re
    from pathlib import Path

    from generator.methods.explanations.options import METHODS

    labels = (Path(__file__).resolve().parent.parent / "generator/assets/js/explanations.js").read_text()
    for key in METHODS:
        assert re.search(rf"^\s+{key}: \[", labels, re.M), key
    assert re.search(r'attention_x_gradient: \["Grad-SAM"', labels)
