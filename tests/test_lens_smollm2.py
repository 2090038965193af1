"""The logit lens on the bundled SmolLM2-135M-Instruct (Q4_1): the last layer is the model's own output, every
layer equals the independent float64 lens of tests/lens_reference.py, the last layer's norm scale reused for every
layer would be caught, and greedy tokens have rank 1."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import lens_reference as ref
from generator.capture import run
from generator.methods import REGISTRY
from generator.methods.lens.section import hidden_rows
from generator.methods.lens.compute import logit_lens
from generator.spec import spec_from_data

pytestmark = pytest.mark.slow

TEXT = "William Shakespeare was born in the year"


@pytest.fixture(scope="module")
def smollm2_lens(loaded_bundled):
    loaded = loaded_bundled("smollm2")
    spec = spec_from_data({"model": "smollm2", "text": TEXT, "generate": 5, "views": ["layers"]}, file="t.yml")
    capture = run(spec, loaded, REGISTRY["lens"].needs)
    result = logit_lens(hidden_rows(capture.activations, capture.readout, capture.info.n_layers), capture.readout,
                        capture.ids, [], 5)
    return loaded, capture, result, ref.residuals(loaded.model, capture.ids)


def test_the_last_layer_is_the_models_own_output(smollm2_lens):
    loaded, capture, result, res = smollm2_lens
    L = capture.info.n_layers
    own = torch.softmax(torch.as_tensor(res.logits).double(), -1).numpy()
    assert np.array_equal(result.top_ids[L, :, 0], own.argmax(-1))
    assert np.abs(result.top_probs[L] - np.take_along_axis(own, result.top_ids[L], -1)).max() < 1e-5
    nxt = own[np.arange(len(capture.ids) - 1), capture.ids[1:]]
    assert np.abs(result.next_probs[L] - nxt).max() < 1e-5
    assert result.top_probs[L, :, 0].max() > 0.5, "peaked enough for the comparison to mean something"


def test_greedy_tokens_have_rank_one_and_the_year_is_found(smollm2_lens):
    loaded, capture, result, _ = smollm2_lens
    L, n_prompt = capture.info.n_layers, capture.n_prompt
    assert np.all(result.next_ranks[L, n_prompt - 1:] == 1)
    assert "".join(t["text"] for t in capture.tokens[n_prompt:]).startswith(" 1")


@pytest.mark.parametrize("layer", [0, 1, 10, 20, 29])
def test_a_layer_equals_the_independent_lens(smollm2_lens, layer):
    loaded, capture, result, res = smollm2_lens
    logp = ref.log_softmax(ref.layer_logits(loaded.model, res, layer))
    assert np.array_equal(result.top_ids[layer, :, 0], logp.argmax(-1))
    got = np.log(result.top_probs[layer])
    assert np.abs(got - np.take_along_axis(logp, result.top_ids[layer], -1)).max() < 1e-3
    N = len(capture.ids)
    for p in range(N - 1):
        low, high = ref.rank_bounds(logp[p], capture.ids[p + 1], 1e-3)
        assert low <= result.next_ranks[layer, p] <= high


def test_reusing_the_last_layers_norm_scale_would_be_caught(smollm2_lens):
    loaded, capture, result, res = smollm2_lens
    for layer in (1, 10, 20):
        right = ref.log_softmax(ref.layer_logits(loaded.model, res, layer))
        wrong = ref.log_softmax(ref.layer_logits(loaded.model, res, layer, reuse_last_scale=True))
        ids = result.top_ids[layer]
        got = np.log(result.top_probs[layer])
        assert np.abs(got - np.take_along_axis(right, ids, -1)).max() < 1e-3
        assert np.abs(got - np.take_along_axis(wrong, ids, -1)).max() > 0.5, f"layer {layer}"
