"""Saliency of every generated token of a causal LM, batched: one forward, one vectorised backward per chunk.

Gradients (for gradient x input and gradient norm): one forward over the full sequence with the token embeddings
as a leaf, the G target scores f_p stacked, and their G gradients taken together by a batched vector-Jacobian
product (`is_grads_batched`), G/K backward calls of K targets each.

Integrated gradients: the path alpha * x scales ALL embeddings, which is still right for every target because f_p
ignores x_i for i >= p. The quadrature nodes go through the forward as a batch (chunks of nodes bounded by
`max_forward_tokens`); for each chunk the G targets' gradients at all its nodes come from batched backward calls
(chunks of targets bounded by `max_backward_tokens`). Every node is forwarded once; the totals of work do not
depend on the chunk sizes, only the peak memory does.
"""

from __future__ import annotations

import torch

from .baselines import ig_path
from .checks import check_chunk_budget, check_finite_gradients, check_ig_steps, check_n_prompt, check_target
from .gradients import batched_vjp, generated_scores, gradient_ready, token_embeddings
from .quadrature import DEFAULT_IG_METHOD, check_ig_method, ig_rule
from .scores import (GRADIENT_NORM, GRADIENT_X_INPUT, INTEGRATED_GRADIENTS, METHODS, CausalSaliency, IGTensors,
                     assemble_causal, check_methods)

# Rows of the forward batch (nodes x tokens) and of one vectorised backward (targets x nodes x tokens). With
# SmolLM2-135M (30 layers) the forward keeps ~1.5 MB per token for the backward. On CPU the cost per row is flat
# from a few hundred rows on (forward ~3.2 ms/token, backward ~3.2 ms/token/target single-threaded), so larger
# batches buy no speed, only memory.
MAX_FORWARD_TOKENS = 512
MAX_BACKWARD_TOKENS = 1024


def _chunks(total: int, size: int) -> list[range]:
    return [range(start, min(start + size, total)) for start in range(0, total, size)]


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
        grads = torch.cat([batched_vjp(scores, leaf, cols)[:, 0] for cols in _chunks(n_generated, per_call)])
        check_finite_gradients(grads)
        return grads, x, scores[0].detach()


def causal_integrated_gradients(model: torch.nn.Module, input_ids: torch.Tensor, n_prompt: int,
                                target: str = "logit", *, steps: int = 50, method: str = DEFAULT_IG_METHOD,
                                baseline: torch.Tensor | None = None,
                                max_forward_tokens: int = MAX_FORWARD_TOKENS,
                                max_backward_tokens: int = MAX_BACKWARD_TOKENS) -> IGTensors:
    """IG for every generated token: attributions [G, N, D] (float64), f(x) [G], f(baseline) [G].

    baseline: embeddings b [N, D] where the path b + alpha (x - b) starts (`baselines.baseline_embeddings`); None
    is the all-zero baseline. Attributions are (x - b) times the integrated gradient."""
    target = check_target(target)
    alphas, weights = ig_rule(check_ig_method(method), check_ig_steps(steps))
    fwd_budget = check_chunk_budget("max_forward_tokens", max_forward_tokens)
    bwd_budget = check_chunk_budget("max_backward_tokens", max_backward_tokens)
    with gradient_ready(model):
        x = token_embeddings(model, input_ids)
        n_prompt = check_n_prompt(n_prompt, x.shape[0])
        n_tokens, n_generated = x.shape[0], x.shape[0] - n_prompt
        nodes_per_forward = min(steps, max(1, fwd_budget // n_tokens))
        targets_per_backward = min(n_generated, max(1, bwd_budget // (nodes_per_forward * n_tokens)))
        start, direction = ig_path(x, baseline)
        integral = torch.zeros((n_generated,) + tuple(x.shape), dtype=torch.float64, device=x.device)
        for nodes in _chunks(steps, nodes_per_forward):
            alpha = torch.tensor(alphas[nodes.start:nodes.stop], dtype=x.dtype, device=x.device)
            weight = torch.tensor(weights[nodes.start:nodes.stop], dtype=torch.float64, device=x.device)
            leaf = (alpha[:, None, None] * direction if start is None
                    else start + alpha[:, None, None] * direction).requires_grad_(True)
            scores = generated_scores(model, leaf, input_ids, n_prompt, target)  # [nodes, G]
            for cols in _chunks(n_generated, targets_per_backward):
                grads = batched_vjp(scores, leaf, cols)  # [targets, nodes, N, D]
                check_finite_gradients(grads, alpha)
                integral[cols.start:cols.stop] += torch.einsum("k,gknd->gnd", weight, grads.double())
            del scores, leaf, grads
        with torch.no_grad():
            ends = generated_scores(model, torch.stack([x, torch.zeros_like(x) if start is None else start]),
                                    input_ids, n_prompt, target)
    return IGTensors(integral * direction.double(), ends[0], ends[1])



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
