"""Saliency of a bi-encoder's similarity: f = cosine(mean_pool(h_A), mean_pool(h_B)).

Sentences A and B are encoded separately (each tokenised with its own [CLS]/[SEP]), as a sentence-embedding model
does; mean pooling averages the last hidden state over the attention mask. Gradients are taken with respect to both
sentences' token embeddings at once (f is one scalar). Integrated gradients scales both sentences' embeddings
together from zero, so completeness reads sum(attr_A) + sum(attr_B) = f(x_A, x_B) - f(0, 0).
"""

from __future__ import annotations

import torch

from .baselines import ig_path
from .checks import check_chunk_budget, check_finite_gradients, check_ig_steps
from .gradients import first_output, gradient_ready, run, token_embeddings
from .quadrature import DEFAULT_IG_METHOD, check_ig_method, ig_rule
from .scores import (GRADIENT_NORM, GRADIENT_X_INPUT, INTEGRATED_GRADIENTS, METHODS, IGTensors, SimilaritySaliency,
                     assemble_similarity, check_methods)

MAX_FORWARD_TOKENS = 2048


def mean_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """[B, N, H] and [B, N] (1 for real tokens) -> [B, H]."""
    mask = mask.to(hidden.dtype).unsqueeze(-1)
    return (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp_min(1e-9)


def sentence_embedding(model: torch.nn.Module, embeds: torch.Tensor) -> torch.Tensor:
    """Token embeddings [B, N, D] of one unpadded sentence per row -> mean-pooled sentence embeddings [B, H]."""
    hidden = first_output(run(model, embeds), "last_hidden_state")
    return mean_pool(hidden, torch.ones(embeds.shape[:2], dtype=torch.long, device=embeds.device))


def similarity(model: torch.nn.Module, embeds_a: torch.Tensor, embeds_b: torch.Tensor) -> torch.Tensor:
    """[B, Na, D], [B, Nb, D] -> cosine similarity of the sentence embeddings, [B]."""
    u, v = sentence_embedding(model, embeds_a), sentence_embedding(model, embeds_b)
    return (u * v).sum(-1) / (u.norm(dim=-1) * v.norm(dim=-1))


def similarity_gradients(model: torch.nn.Module, input_ids_a: torch.Tensor, input_ids_b: torch.Tensor
                         ) -> tuple[tuple[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor], torch.Tensor]:
    """((df/dx_A [Na, D], df/dx_B [Nb, D]), (x_A, x_B), f)."""
    with gradient_ready(model):
        xs = (token_embeddings(model, input_ids_a, "input_ids_a"), token_embeddings(model, input_ids_b, "input_ids_b"))
        leaves = [x.unsqueeze(0).clone().requires_grad_(True) for x in xs]
        f = similarity(model, *leaves)
        grad_a, grad_b = torch.autograd.grad(f.sum(), leaves)
        check_finite_gradients(grad_a)
        check_finite_gradients(grad_b)
        return (grad_a[0], grad_b[0]), xs, f[0].detach()


def similarity_integrated_gradients(model: torch.nn.Module, input_ids_a: torch.Tensor, input_ids_b: torch.Tensor, *,
                                    steps: int = 50, method: str = DEFAULT_IG_METHOD,
                                    baselines: tuple[torch.Tensor, torch.Tensor] | None = None,
                                    max_forward_tokens: int = MAX_FORWARD_TOKENS) -> tuple[IGTensors, IGTensors]:
    """IG for both sentences, both paths b + alpha (x - b) taken together: ([Na, D] attributions, f(x), f(b)) and
    the same for B. baselines: (b_A [Na, D], b_B [Nb, D]) or None for all-zero embeddings."""
    alphas, weights = ig_rule(check_ig_method(method), check_ig_steps(steps))
    budget = check_chunk_budget("max_forward_tokens", max_forward_tokens)
    with gradient_ready(model):
        xs = (token_embeddings(model, input_ids_a, "input_ids_a"), token_embeddings(model, input_ids_b, "input_ids_b"))
        per_forward = min(steps, max(1, budget // max(x.shape[0] for x in xs)))
        paths = [ig_path(x, None if baselines is None else b) for x, b in zip(xs, baselines or (None, None))]
        integrals = [torch.zeros(x.shape, dtype=torch.float64, device=x.device) for x in xs]
        for start in range(0, steps, per_forward):
            alpha = torch.tensor(alphas[start:start + per_forward], dtype=xs[0].dtype, device=xs[0].device)
            weight = torch.tensor(weights[start:start + per_forward], dtype=torch.float64, device=xs[0].device)
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


def similarity_saliency(model: torch.nn.Module, input_ids_a: torch.Tensor, input_ids_b: torch.Tensor, *,
                        ig_steps: int = 50, ig_method: str = DEFAULT_IG_METHOD, methods: tuple[str, ...] = METHODS,
                        ig_baselines: tuple[torch.Tensor, torch.Tensor] | None = None,
                        keep_raw: bool = False, max_forward_tokens: int = MAX_FORWARD_TOKENS) -> SimilaritySaliency:
    """Gradient x input, gradient norm and integrated gradients of the cosine similarity, for every token of A and
    B (each a 1-D tensor of ids with its own special tokens); ig_baselines: (b_A, b_B) embeddings, None for zero."""
    methods = check_methods(methods)
    ig_steps, ig_method = check_ig_steps(ig_steps), check_ig_method(ig_method)
    grads, xs, f = similarity_gradients(model, input_ids_a, input_ids_b)
    if GRADIENT_X_INPUT not in methods and GRADIENT_NORM not in methods:
        grads = None
    igs = None
    if INTEGRATED_GRADIENTS in methods:
        igs = similarity_integrated_gradients(model, input_ids_a, input_ids_b, steps=ig_steps, method=ig_method,
                                              baselines=ig_baselines, max_forward_tokens=max_forward_tokens)
    return assemble_similarity(input_ids_a, input_ids_b, f, ig_steps, ig_method, methods, grads, xs, igs, keep_raw)
