"""Saliency of every generated token of a causal LM, batched: one forward, one vectorised backward per chunk.

Gradients (for gradient x input and gradient norm): one forward over the full sequence with the token embeddings
as a leaf, the G target scores f_p stacked, and their G gradients taken together by a batched vector-Jacobian
product (`is_grads_batched`), G/K backward calls of K targets each. Integrated gradients come from the attribution
engine (`generator.attribution.integrated`).
"""

from __future__ import annotations

import torch

from ...attribution.checks import check_chunk_budget, check_finite_gradients, check_ig_steps, check_n_prompt
from ...attribution.gradients import batched_vjp, gradient_ready, token_embeddings
from ...attribution.integrated import MAX_BACKWARD_TOKENS, MAX_FORWARD_TOKENS, causal_integrated_gradients, chunks
from ...attribution.quadrature import DEFAULT_IG_METHOD, check_ig_method
from ...attribution.targets import check_target, generated_scores
from .scores import (GRADIENT_NORM, GRADIENT_X_INPUT, INTEGRATED_GRADIENTS, METHODS, CausalSaliency, assemble_causal,
                     check_methods)


def causal_gradients(model: torch.nn.Module, input_ids: torch.Tensor, n_prompt: int, target: str = "logit", *,
                     max_backward_tokens: int = MAX_BACKWARD_TOKENS
                     ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(grads [G, N, D] with grads[g, i] = df_p/dx_i for p = n_prompt + g, x [N, D], f [G])."""
    target = check_target(target)
    budget = check_chunk_budget("max_backward_tokens", max_backward_tokens)
    with gradient_ready(model):
        x = token_embeddings(model, input_ids)
        n_prompt = check_n_prompt(n_prompt, x.shape[0])
        n_tokens, n_generated = x.shape[0], x.shape[0] - n_prompt
        leaf = x.unsqueeze(0).clone().requires_grad_(True)
        scores = generated_scores(model, leaf, input_ids, n_prompt, target)  # [1, G]
        per_call = max(1, budget // n_tokens)
        grads = torch.cat([batched_vjp(scores, leaf, cols)[:, 0] for cols in chunks(n_generated, per_call)])
        check_finite_gradients(grads)
        return grads, x, scores[0].detach()


def causal_saliency(model: torch.nn.Module, input_ids: torch.Tensor, n_prompt: int, target: str = "logit", *,
                    ig_steps: int = 50, ig_method: str = DEFAULT_IG_METHOD, methods: tuple[str, ...] = METHODS,
                    ig_baseline: torch.Tensor | None = None,
                    keep_raw: bool = False, max_forward_tokens: int = MAX_FORWARD_TOKENS,
                    max_backward_tokens: int = MAX_BACKWARD_TOKENS) -> CausalSaliency:
    """Gradient x input, gradient norm and integrated gradients of every generated token.

    input_ids: 1-D LongTensor, prompt followed by the generated tokens; n_prompt: prompt length; target: "logit"
    or "probability" of the generated token at the position before it; ig_baseline: embeddings [N, D] where IG's
    path starts (None: all zero).
    """
    methods = check_methods(methods)
    target = check_target(target)
    ig_steps, ig_method = check_ig_steps(ig_steps), check_ig_method(ig_method)
    grads = ig = None
    if GRADIENT_X_INPUT in methods or GRADIENT_NORM in methods:
        grads, x, f_input = causal_gradients(model, input_ids, n_prompt, target,
                                             max_backward_tokens=max_backward_tokens)
    if INTEGRATED_GRADIENTS in methods:
        ig = causal_integrated_gradients(model, input_ids, n_prompt, target, steps=ig_steps, method=ig_method,
                                         baseline=ig_baseline, max_forward_tokens=max_forward_tokens,
                                         max_backward_tokens=max_backward_tokens)
        if grads is None:
            x, f_input = token_embeddings(model, input_ids), ig.f_input
    return assemble_causal(input_ids, n_prompt, target, ig_steps, ig_method, methods, grads, x, f_input, ig, keep_raw)
