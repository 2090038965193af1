"""Plain reference for `causal_saliency`: a loop over generated tokens, each from its own prefix forward.

For the token at position p it runs the model on input_ids[:p] only and reads the last position, which is the
definition of f_p, without the one-forward shortcut, logits_to_keep or batched backward of the fast version. One
backward per generated token for the gradients, and one per generated token for integrated gradients (all
quadrature nodes in one batch unless `ig_batch` splits them). Used by the tests and the
benchmark; it lives in tests/ so that it is not part of the bake (nor of the bake cache key).
"""

from __future__ import annotations

import torch

from generator.attribution.checks import check_chunk_budget, check_finite_gradients, check_ig_steps, check_n_prompt
from generator.attribution.gradients import first_output, gradient_ready, run, token_embeddings
from generator.attribution.integrated import IGTensors
from generator.attribution.quadrature import DEFAULT_IG_METHOD, check_ig_method, ig_rule
from generator.attribution.targets import check_target
from generator.methods.saliency.scores import (GRADIENT_NORM, GRADIENT_X_INPUT, INTEGRATED_GRADIENTS, METHODS,
                                               CausalSaliency, assemble_causal, check_methods)


def prefix_score(model: torch.nn.Module, prefix_embeds: torch.Tensor, token: int, target: str) -> torch.Tensor:
    """prefix_embeds [B, p, D] -> [B]: logit or probability of `token` at the last position."""
    last = first_output(run(model, prefix_embeds), "logits")[:, -1]
    if target == "logit":
        return last[:, token]
    return torch.softmax(last, dim=-1)[:, token]


def causal_saliency_reference(model: torch.nn.Module, input_ids: torch.Tensor, n_prompt: int, target: str = "logit",
                              *, ig_steps: int = 50, ig_method: str = DEFAULT_IG_METHOD,
                              methods: tuple[str, ...] = METHODS, keep_raw: bool = False,
                              ig_batch: int | None = None) -> CausalSaliency:
    methods = check_methods(methods)
    target = check_target(target)
    ig_steps, ig_method = check_ig_steps(ig_steps), check_ig_method(ig_method)
    alphas, weights = ig_rule(ig_method, ig_steps)
    batch = ig_steps if ig_batch is None else check_chunk_budget("ig_batch", ig_batch)
    with gradient_ready(model):
        x = token_embeddings(model, input_ids)
        n_prompt = check_n_prompt(n_prompt, x.shape[0])
        n_tokens, n_generated = x.shape[0], x.shape[0] - n_prompt
        grads = torch.zeros((n_generated,) + tuple(x.shape), dtype=x.dtype)
        f_input = torch.zeros(n_generated, dtype=x.dtype)
        integral = torch.zeros((n_generated,) + tuple(x.shape), dtype=torch.float64)
        f_baseline = torch.zeros(n_generated, dtype=x.dtype)
        for g in range(n_generated):
            p = n_prompt + g
            token = int(input_ids[p])
            if GRADIENT_X_INPUT in methods or GRADIENT_NORM in methods:
                leaf = x[:p].unsqueeze(0).clone().requires_grad_(True)
                score = prefix_score(model, leaf, token, target)
                grads[g, :p] = torch.autograd.grad(score.sum(), leaf)[0][0]
                check_finite_gradients(grads[g])
            if INTEGRATED_GRADIENTS in methods:
                for start in range(0, ig_steps, batch):
                    alpha = torch.tensor(alphas[start:start + batch], dtype=x.dtype)
                    leaf = (alpha[:, None, None] * x[:p]).requires_grad_(True)
                    score = prefix_score(model, leaf, token, target)
                    grad = torch.autograd.grad(score.sum(), leaf)[0]
                    check_finite_gradients(grad[None], alpha)
                    weight = torch.tensor(weights[start:start + batch], dtype=torch.float64)
                    integral[g, :p] += torch.einsum("k,kpd->pd", weight, grad.double())
            with torch.no_grad():
                ends = prefix_score(model, torch.stack([x[:p], torch.zeros_like(x[:p])]), token, target)
            f_input[g], f_baseline[g] = ends[0], ends[1]
    ig = IGTensors(integral * x.double(), f_input, f_baseline) if INTEGRATED_GRADIENTS in methods else None
    return assemble_causal(input_ids, n_prompt, target, ig_steps, ig_method, methods,
                           grads if (GRADIENT_X_INPUT in methods or GRADIENT_NORM in methods) else None,
                           x, f_input, ig, keep_raw)
