"""Similarity saliency of a bi-encoder (tiny BERT in float64, and the bundled all-MiniLM-L6-v2)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from generator.methods.saliency.encoder import similarity_saliency
from generator.methods.saliency.scores import GRADIENT_NORM, GRADIENT_X_INPUT, INTEGRATED_GRADIENTS

IDS_A = torch.tensor([1, 5, 17, 33, 60, 2])
IDS_B = torch.tensor([1, 8, 9, 41, 2])


def tiny_bert():
    from transformers import BertConfig, BertModel
    torch.manual_seed(0)
    config = BertConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                        vocab_size=100, max_position_embeddings=64, attn_implementation="eager")
    return BertModel(config).double().eval()


def independent_similarity(model, ids_a, ids_b) -> float:
    """Sentence embeddings from token ids (not inputs_embeds), mean pooling written out, torch's cosine."""
    with torch.no_grad():
        pooled = []
        for ids in (ids_a, ids_b):
            out = model(input_ids=ids[None], attention_mask=torch.ones(1, len(ids), dtype=torch.long))
            hidden, mask = out.last_hidden_state[0], torch.ones(len(ids), 1, dtype=out.last_hidden_state.dtype)
            pooled.append((hidden * mask).sum(0) / mask.sum())
        return float(torch.nn.functional.cosine_similarity(pooled[0], pooled[1], dim=0))


def captum_attributions(model, ids_a, ids_b, ig_method="gausslegendre"):
    from captum.attr import InputXGradient, IntegratedGradients, Saliency

    def forward(embeds_a, embeds_b):
        pooled = [model(inputs_embeds=e, attention_mask=torch.ones(e.shape[:2], dtype=torch.long))
                  .last_hidden_state.mean(dim=1) for e in (embeds_a, embeds_b)]
        return torch.nn.functional.cosine_similarity(pooled[0], pooled[1], dim=-1)

    table = model.get_input_embeddings()
    inputs = tuple(table(ids).detach()[None].requires_grad_(True) for ids in (ids_a, ids_b))
    zeros = tuple(torch.zeros_like(x) for x in inputs)
    results = {GRADIENT_X_INPUT: InputXGradient(forward).attribute(inputs),
               GRADIENT_NORM: Saliency(forward).attribute(inputs, abs=False),
               INTEGRATED_GRADIENTS: IntegratedGradients(forward).attribute(inputs, baselines=zeros, n_steps=50,
                                                                            method=ig_method)}
    return {name: tuple(t[0].detach().numpy() for t in pair) for name, pair in results.items()}


def joint_scores(raw_a, raw_b):
    norms = np.concatenate([np.linalg.norm(raw_a, axis=-1), np.linalg.norm(raw_b, axis=-1)])
    scores = norms / norms.sum()
    return scores[:len(raw_a)], scores[len(raw_a):]


def assert_close(ours, theirs, rtol=1e-5):
    np.testing.assert_allclose(ours, theirs, rtol=rtol, atol=rtol * np.abs(theirs).max())


def check_against_captum_and_invariants(model, ids_a, ids_b, ig_method="gausslegendre"):
    result = similarity_saliency(model, ids_a, ids_b, ig_method=ig_method, keep_raw=True)
    assert result.similarity == pytest.approx(independent_similarity(model, ids_a, ids_b), abs=1e-6)
    for name, (raw_a, raw_b) in captum_attributions(model, ids_a, ids_b, ig_method).items():
        assert_close(result.raw_a[name], raw_a)
        assert_close(result.raw_b[name], raw_b)
        expected_a, expected_b = joint_scores(raw_a, raw_b)
        assert_close(result.scores_a[name], expected_a)
        assert_close(result.scores_b[name], expected_b)
    for name in result.scores_a:
        a, b = result.scores_a[name], result.scores_b[name]
        assert a.shape == ids_a.shape and b.shape == ids_b.shape and a.dtype == np.float32
        assert np.all(a >= 0) and np.all(b >= 0)
        assert a.sum() + b.sum() == pytest.approx(1.0, abs=1e-6)
    if ig_method == "gausslegendre":  # first-order Riemann rules are ~2 % off at 50 steps here
        assert result.ig_gap < 0.01
        assert result.ig_attribution_sum == pytest.approx(result.similarity - result.ig_baseline_value, rel=0.01)
    total = result.ig_token_attributions_a.sum() + result.ig_token_attributions_b.sum()
    assert total == pytest.approx(result.ig_attribution_sum, rel=1e-5)
    return result


@pytest.mark.parametrize("ig_method", ["gausslegendre", "riemann_right"])
def test_tiny_bert_similarity_matches_independent_computation_and_captum(ig_method):
    check_against_captum_and_invariants(tiny_bert(), IDS_A, IDS_B, ig_method)


def test_similarity_of_a_sentence_with_itself_is_one_and_deterministic():
    model = tiny_bert()
    first = similarity_saliency(model, IDS_A, IDS_A, ig_steps=8)
    second = similarity_saliency(model, IDS_A, IDS_A, ig_steps=8)
    assert first.similarity == pytest.approx(1.0, abs=1e-12)
    for name in first.scores_a:
        assert np.array_equal(first.scores_a[name], second.scores_a[name])
        np.testing.assert_allclose(first.scores_a[name], first.scores_b[name], atol=1e-7)  # symmetric roles


def test_small_forward_budget_gives_the_same_integrated_gradients():
    model = tiny_bert()
    whole = similarity_saliency(model, IDS_A, IDS_B, methods=[INTEGRATED_GRADIENTS], keep_raw=True)
    chunked = similarity_saliency(model, IDS_A, IDS_B, methods=[INTEGRATED_GRADIENTS], keep_raw=True,
                                  max_forward_tokens=7)
    assert_close(chunked.raw_a[INTEGRATED_GRADIENTS], whole.raw_a[INTEGRATED_GRADIENTS], rtol=1e-6)
    assert_close(chunked.raw_b[INTEGRATED_GRADIENTS], whole.raw_b[INTEGRATED_GRADIENTS], rtol=1e-6)
    assert list(whole.scores_a) == [INTEGRATED_GRADIENTS]


@pytest.mark.parametrize("call, message", [
    (lambda m: similarity_saliency(m, torch.tensor([], dtype=torch.long), IDS_B), "input_ids_a is empty"),
    (lambda m: similarity_saliency(m, IDS_A, IDS_B[None]), "input_ids_b must be 1-D"),
    (lambda m: similarity_saliency(m, IDS_A, torch.tensor([1, 400])), "input_ids_b holds ids outside"),
    (lambda m: similarity_saliency(m, IDS_A, IDS_B, ig_steps=600), "ig_steps must be an integer from 2 to 512"),
    (lambda m: similarity_saliency(m, IDS_A, IDS_B, methods=["lime"]), "methods must be a non-empty subset"),
])
def test_bad_input_raises_a_clear_error(call, message):
    with pytest.raises(ValueError, match=message):
        call(tiny_bert())


@pytest.mark.slow
def test_minilm_similarity_matches_independent_computation_and_captum(loaded_bundled):
    loaded = loaded_bundled("minilm")
    tokenizer, model = loaded.tokenizer, loaded.model
    ids_a = tokenizer("A man is playing a guitar.", return_tensors="pt").input_ids[0]
    ids_b = tokenizer("Someone plays an instrument on stage.", return_tensors="pt").input_ids[0]
    assert ids_a[0] == tokenizer.cls_token_id and ids_b[-1] == tokenizer.sep_token_id
    result = check_against_captum_and_invariants(model, ids_a, ids_b)
    assert 0.3 < result.similarity < 1.0  # related sentences
