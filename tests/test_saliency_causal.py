"""Causal generation saliency on tiny Llama (GQA) and GPT-2 models, in float64: Captum agreement, invariants,
batched vs loop, determinism, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from captum_causal import assert_close, captum_attributions, captum_forward, normalised_by_hand
from generator.attribution.integrated import causal_integrated_gradients
from generator.methods.saliency.causal import causal_gradients, causal_saliency
from generator.methods.saliency.scores import GRADIENT_NORM, GRADIENT_X_INPUT, INTEGRATED_GRADIENTS
from saliency_reference import causal_saliency_reference

N_PROMPT, N_GENERATED = 6, 4


def tiny_llama():
    from transformers import LlamaConfig, LlamaForCausalLM
    torch.manual_seed(0)
    # rms_norm_eps 1e-2 (above the embeddings' mean square, ~4e-4) keeps the zero-baseline path smooth. With a
    # small epsilon the path from zero embeddings crosses the regime where RMSNorm amplifies tiny inputs and IG
    # does not converge; test_saliency_smollm2.py covers that case on the real model.
    config = LlamaConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                         num_key_value_heads=2, vocab_size=100, rms_norm_eps=1e-2, bos_token_id=0, eos_token_id=0,
                         pad_token_id=0, attn_implementation="eager")
    return LlamaForCausalLM(config).double().eval()


def tiny_gpt2():
    from transformers import GPT2Config, GPT2LMHeadModel
    torch.manual_seed(0)
    config = GPT2Config(n_embd=32, n_layer=2, n_head=4, n_positions=64, vocab_size=100, bos_token_id=0,
                        eos_token_id=0, attn_implementation="eager")
    return GPT2LMHeadModel(config).double().eval()


def greedy(model, prompt: torch.Tensor, n_new: int) -> torch.Tensor:
    ids = prompt
    with torch.no_grad():
        for _ in range(n_new):
            next_id = model(input_ids=ids[None]).logits[0, -1].argmax()
            ids = torch.cat([ids, next_id[None]])
    return ids


@pytest.fixture(scope="module", params=["llama", "gpt2"])
def case(request):
    model = {"llama": tiny_llama, "gpt2": tiny_gpt2}[request.param]()
    prompt = torch.randint(1, 100, (N_PROMPT,), generator=torch.Generator().manual_seed(1))
    return model, greedy(model, prompt, N_GENERATED)


@pytest.mark.parametrize("target", ["logit", "probability"])
@pytest.mark.parametrize("ig_method", ["gausslegendre", "riemann_middle"])
def test_matches_captum(case, target, ig_method):
    model, ids = case
    expected = captum_attributions(model, ids, N_PROMPT, target, ig_method=ig_method)
    result = causal_saliency(model, ids, N_PROMPT, target, ig_method=ig_method, keep_raw=True)
    for name, raw in expected.items():
        assert_close(result.raw[name], raw)
        assert_close(result.scores[name], normalised_by_hand(raw, N_PROMPT))
    # the float64 tensors before the float32 result, much tighter
    grads, x, _ = causal_gradients(model, ids, N_PROMPT, target)
    assert_close((grads * x).numpy(), expected[GRADIENT_X_INPUT], rtol=1e-10)
    ig = causal_integrated_gradients(model, ids, N_PROMPT, target, method=ig_method)
    # Captum rounds Riemann nodes to float32 (relative 1e-8), hence not 1e-10 here
    assert_close(ig.attributions.numpy(), expected[INTEGRATED_GRADIENTS], rtol=1e-6)


def test_trapezoid_is_captums_riemann_trapezoid_without_its_shrink_factor(case):
    from captum.attr import IntegratedGradients
    model, ids = case
    p = N_PROMPT
    x = model.get_input_embeddings()(ids).detach()[None]
    captum_ig = IntegratedGradients(captum_forward(model, p, int(ids[p]), "logit")).attribute(
        x, baselines=torch.zeros_like(x), n_steps=50, method="riemann_trapezoid")[0].detach().numpy()
    ours = causal_integrated_gradients(model, ids, N_PROMPT, "logit", method="trapezoid").attributions[0].numpy()
    assert_close(ours * 49 / 50, captum_ig, rtol=1e-6)  # Captum rounds its nodes to float32


@pytest.mark.parametrize("target", ["logit", "probability"])
def test_invariants_and_completeness(case, target):
    model, ids = case
    result = causal_saliency(model, ids, N_PROMPT, target, keep_raw=True)
    n_tokens = ids.shape[0]
    assert result.n_generated == N_GENERATED and result.positions.tolist() == list(range(N_PROMPT, n_tokens))
    for name, scores in result.scores.items():
        assert scores.shape == (N_GENERATED, n_tokens) and scores.dtype == np.float32
        assert np.all(scores >= 0), name
        for g, p in enumerate(result.positions):
            assert scores[g, :p].sum() == pytest.approx(1.0, abs=1e-6), name
            assert np.all(scores[g, p:] == 0), name
            assert np.all(result.raw[name][g, p:] == 0), name  # causality: the model ignores x_i for i >= p
    assert result.ig_gap.shape == (N_GENERATED,) and np.all(result.ig_gap < 0.01), result.ig_gap
    change = result.target_values - result.ig_baseline_values
    np.testing.assert_allclose(result.ig_attribution_sums, change, rtol=0.01)
    np.testing.assert_allclose(result.ig_token_attributions.sum(-1), result.ig_attribution_sums, rtol=1e-5)
    # f_p really is the target of the generated token read at position p - 1
    with torch.no_grad():
        logits = model(input_ids=ids[None]).logits[0, N_PROMPT - 1:-1]
    chosen = ids[N_PROMPT:]
    expected = logits.gather(-1, chosen[:, None])[:, 0] if target == "logit" else \
        torch.softmax(logits, -1).gather(-1, chosen[:, None])[:, 0]
    np.testing.assert_allclose(result.target_values, expected.numpy(), rtol=1e-6)
    if target == "probability":
        assert np.all((result.target_values > 0) & (result.target_values <= 1))


@pytest.mark.parametrize("budgets", [{}, {"max_forward_tokens": 25, "max_backward_tokens": 30},
                                     {"max_forward_tokens": 1, "max_backward_tokens": 1}])
def test_batched_equals_the_per_token_loop(case, budgets):
    model, ids = case
    reference = causal_saliency_reference(model, ids, N_PROMPT, "probability", ig_steps=16, keep_raw=True)
    batched = causal_saliency(model, ids, N_PROMPT, "probability", ig_steps=16, keep_raw=True, **budgets)
    for name in reference.scores:
        np.testing.assert_allclose(batched.scores[name], reference.scores[name], rtol=1e-5, atol=1e-7)
        assert_close(batched.raw[name], reference.raw[name])
    for field in ["target_values", "ig_baseline_values", "ig_attribution_sums", "ig_token_attributions"]:
        assert_close(getattr(batched, field), getattr(reference, field))


def test_same_inputs_give_identical_arrays(case):
    model, ids = case
    first, second = (causal_saliency(model, ids, N_PROMPT, "logit", ig_steps=8, keep_raw=True) for _ in range(2))
    int32_ids = causal_saliency(model, ids.to(torch.int32), N_PROMPT, "logit", ig_steps=8)
    assert np.array_equal(int32_ids.scores[INTEGRATED_GRADIENTS], first.scores[INTEGRATED_GRADIENTS])
    for name in first.scores:
        assert np.array_equal(first.scores[name], second.scores[name])
        assert np.array_equal(first.raw[name], second.raw[name])
    assert np.array_equal(first.ig_gap, second.ig_gap)


def test_method_subset_and_model_state_is_restored():
    model = tiny_gpt2()  # has dropout: in train mode the gradients would be random
    ids = torch.arange(1, 9)
    expected = causal_saliency(model, ids, 5, "logit", ig_steps=4)
    model.train()
    params = list(model.parameters())
    only_ig = causal_saliency(model, ids, 5, "logit", ig_steps=4, methods=(INTEGRATED_GRADIENTS,))
    assert model.training and all(p.requires_grad for p in params)
    assert list(only_ig.scores) == [INTEGRATED_GRADIENTS]
    np.testing.assert_array_equal(only_ig.scores[INTEGRATED_GRADIENTS], expected.scores[INTEGRATED_GRADIENTS])
    np.testing.assert_array_equal(only_ig.target_values, expected.target_values)
    only_grads = causal_saliency(model, ids, 5, "logit", methods=[GRADIENT_NORM])
    assert list(only_grads.scores) == [GRADIENT_NORM] and only_grads.ig_gap is None


@pytest.mark.parametrize("call, message", [
    (lambda m: causal_saliency(m, torch.arange(1, 9), 8), "nothing generated"),
    (lambda m: causal_saliency(m, torch.arange(1, 9), 0), "n_prompt must be between 1 and the sequence length 8"),
    (lambda m: causal_saliency(m, torch.arange(1, 9), 9), "n_prompt must be between 1 and the sequence length 8"),
    (lambda m: causal_saliency(m, torch.arange(1, 9), 4, ig_steps=1), "ig_steps must be an integer from 2 to 512"),
    (lambda m: causal_saliency(m, torch.arange(1, 9), 4, ig_steps=513), "ig_steps must be an integer from 2 to 512"),
    (lambda m: causal_saliency(m, torch.arange(1, 9), 4, target="loss"), "target must be one of"),
    (lambda m: causal_saliency(m, torch.arange(1, 9), 4, ig_method="riemann_trapezoid"), "use 'trapezoid'"),
    (lambda m: causal_saliency(m, torch.arange(1, 9)[None], 4), "must be 1-D"),
    (lambda m: causal_saliency(m, torch.ones(8), 4), "integer token ids"),
    (lambda m: causal_saliency(m, torch.tensor([1, 2, 100]), 1), r"outside the embedding table \[0, 100\)"),
    (lambda m: causal_saliency(m, torch.tensor([], dtype=torch.long), 1), "is empty"),
    (lambda m: causal_saliency(m, torch.arange(1, 9), 4, max_backward_tokens=0), "max_backward_tokens"),
    (lambda m: causal_saliency_reference(m, torch.arange(1, 9), 8), "nothing generated"),
])
def test_bad_input_raises_a_clear_error(call, message):
    with pytest.raises(ValueError, match=message):
        call(tiny_gpt2())


def test_falls_back_to_one_backward_per_target_when_batched_backward_fails(case, monkeypatch):
    model, ids = case
    expected = causal_saliency(model, ids, N_PROMPT, "logit", ig_steps=4, keep_raw=True)
    grad = torch.autograd.grad

    def no_batching_rule(*args, **kwargs):
        if kwargs.get("is_grads_batched"):
            raise RuntimeError("Batching rule not implemented for aten::something")
        return grad(*args, **kwargs)
    monkeypatch.setattr(torch.autograd, "grad", no_batching_rule)
    with pytest.warns(RuntimeWarning, match="falling back to one backward per target"):
        fallback = causal_saliency(model, ids, N_PROMPT, "logit", ig_steps=4, keep_raw=True)
    for name in expected.raw:
        assert_close(fallback.raw[name], expected.raw[name], rtol=1e-6)
