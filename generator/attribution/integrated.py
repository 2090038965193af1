"""Integrated gradients (Sundararajan, Taly & Yan 2017) of the explained targets, with respect to the token embeddings.

IG_i = (x_i - b_i) * integral_0^1 df/dx_i(b + alpha (x - b)) d alpha, taken by a quadrature rule (`quadrature`)
from a baseline b (`baselines`); completeness reads sum_i IG_i = f(x) - f(b) (`shares.completeness_gap`).

- `causal_integrated_gradients`: every generated token of a causal LM. The path scales ALL embeddings, which is
  still right for every target because f_p ignores x_i for i >= p. The quadrature nodes go through the forward as a
  batch (chunks of nodes bounded by `max_forward_tokens`); for each chunk the G targets' gradients at all its nodes
  come from batched backward calls (chunks of targets bounded by `max_backward_tokens`). Every node is forwarded
  once; the totals of work do not depend on the chunk sizes, only the peak memory does.
- `similarity_integrated_gradients`: a bi-encoder's cosine similarity; both sentences' paths are taken together,
  so completeness reads sum(attr_A) + sum(attr_B) = f(x_A, x_B) - f(b_A, b_B).

Saliency and the explanations comparison both call these (the one attribution engine, `generator.attribution`).
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from .baselines import ig_path
from .checks import check_chunk_budget, check_finite_gradients, check_ig_steps, check_n_prompt
from .gradients import batched_vjp, gradient_ready, token_embeddings
from .quadrature import DEFAULT_IG_METHOD, check_ig_method, ig_rule
from .targets import check_target, generated_scores, similarity

# Rows of the forward batch (nodes x tokens) and of one vectorised backward (targets x nodes x tokens). With
# SmolLM2-135M (30 layers) the forward keeps ~1.5 MB per token for the backward. On CPU the cost per row is flat
# from a few hundred rows on (forward ~3.2 ms/token, backward ~3.2 ms/token/target single-threaded), so larger
# batches buy no speed, only memory.
MAX_FORWARD_TOKENS = 512
MAX_BACKWARD_TOKENS = 1024
MAX_SIMILARITY_FORWARD_TOKENS = 2048


class IGTensors(NamedTuple):
    attributions: torch.Tensor  # [..., N, D] = (x - b) * sum_k w_k grad f(b + alpha_k (x - b))
    f_input: torch.Tensor       # f(x)
    f_baseline: torch.Tensor    # f(b)


def chunks(total: int, size: int) -> list[range]:
    """range(total) cut into consecutive ranges of at most `size`."""
    return [range(start, min(start + size, total)) for start in range(0, total, size)]


def causal_integrated_gradients(model: torch.nn.Module, input_ids: torch.Tensor, n_prompt: int,
                                target: str = "logit", *, steps: int = 50, method: str = DEFAULT_IG_METHOD,
                                baseline: torch.Tensor | None = None,
                                max_forward_tokens: int = MAX_FORWARD_TOKENS,
                                max_backward_tokens: int = MAX_BACKWARD_TOKENS) -> IGTensors:
    """IG for every generated token: attributions [G, N, D] (float64), f(x) [G], f(baseline) [G].

    input_ids: 1-D LongTensor, prompt then generated tokens; baseline: embeddings b [N, D] where the path
    b + alpha (x - b) starts (`baselines.baseline_for`); None is the all-zero baseline. Attributions are (x - b)
    times the integrated gradient. Raises ValueError for a bad argument, FloatingPointError for a gradient that is
    not finite (naming the nodes)."""
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
        for nodes in chunks(steps, nodes_per_forward):
            alpha = torch.tensor(alphas[nodes.start:nodes.stop], dtype=x.dtype, device=x.device)
            weight = torch.tensor(weights[nodes.start:nodes.stop], dtype=torch.float64, device=x.device)
            leaf = (alpha[:, None, None] * direction if start is None
                    else start + alpha[:, None, None] * direction).requires_grad_(True)
            scores = generated_scores(model, leaf, input_ids, n_prompt, target)  # [nodes, G]
            for cols in chunks(n_generated, targets_per_backward):
                grads = batched_vjp(scores, leaf, cols)  # [targets, nodes, N, D]
                check_finite_gradients(grads, alpha)
                integral[cols.start:cols.stop] += torch.einsum("k,gknd->gnd", weight, grads.double())
            del scores, leaf, grads
        with torch.no_grad():
            ends = generated_scores(model, torch.stack([x, torch.zeros_like(x) if start is None else start]),
                                    input_ids, n_prompt, target)
    return IGTensors(integral * direction.double(), ends[0], ends[1])


def similarity_integrated_gradients(model: torch.nn.Module, input_ids_a: torch.Tensor, input_ids_b: torch.Tensor, *,
                                    steps: int = 50, method: str = DEFAULT_IG_METHOD,
                                    baselines: tuple[torch.Tensor, torch.Tensor] | None = None,
                                    max_forward_tokens: int = MAX_SIMILARITY_FORWARD_TOKENS
                                    ) -> tuple[IGTensors, IGTensors]:
    """IG for both sentences, both paths b + alpha (x - b) taken together: ([Na, D] attributions, f(x), f(b)) and
    the same for B. baselines: (b_A [Na, D], b_B [Nb, D]) or None for all-zero embeddings. Raises as
    `causal_integrated_gradients`."""
    alphas, weights = ig_rule(check_ig_method(method), check_ig_steps(steps))
    budget = check_chunk_budget("max_forward_tokens", max_forward_tokens)
    with gradient_ready(model):
        xs = (token_embeddings(model, input_ids_a, "input_ids_a"), token_embeddings(model, input_ids_b, "input_ids_b"))
        per_forward = min(steps, max(1, budget // max(x.shape[0] for x in xs)))
        paths = [ig_path(x, None if baselines is None else b) for x, b in zip(xs, baselines or (None, None))]
        integrals = [torch.zeros(x.shape, dtype=torch.float64) for x in xs]
        for start in range(0, steps, per_forward):
            alpha = torch.tensor(alphas[start:start + per_forward], dtype=xs[0].dtype)
            weight = torch.tensor(weights[start:start + per_forward], dtype=torch.float64)
            leaves = [(alpha[:, None, None] * d if b is None else b + alpha[:, None, None] * d).requires_grad_(True)
                      for b, d in paths]
            f = similarity(model, *leaves)  # rows are independent: d f.sum() / d leaf row k = grad at node k
            for integral, grad in zip(integrals, torch.autograd.grad(f.sum(), leaves)):
                check_finite_gradients(grad[None], alpha)
                integral += torch.einsum("k,knd->nd", weight, grad.double())
        with torch.no_grad():
            starts = [torch.zeros_like(x) if b is None else b for x, (b, _) in zip(xs, paths)]
            ends = similarity(model, torch.stack([xs[0], starts[0]]), torch.stack([xs[1], starts[1]]))
    return tuple(IGTensors(integral * d.double(), ends[0], ends[1]) for integral, (_, d) in zip(integrals, paths))
