"""Saliency of a bi-encoder's similarity: f = cosine(mean_pool(h_A), mean_pool(h_B)) (`attribution.targets`).

Sentences A and B are encoded separately (each tokenised with its own [CLS]/[SEP]), as a sentence-embedding model
does; mean pooling averages the last hidden state over the attention mask. Gradients are taken with respect to both
sentences' token embeddings at once (f is one scalar). Integrated gradients (`attribution.integrated`) take both
sentences' paths together, so completeness reads sum(attr_A) + sum(attr_B) = f(x_A, x_B) - f(b_A, b_B).
"""

from __future__ import annotations

import torch

from ...attribution.checks import check_finite_gradients, check_ig_steps
from ...attribution.gradients import gradient_ready, token_embeddings
from ...attribution.integrated import MAX_SIMILARITY_FORWARD_TOKENS, similarity_integrated_gradients
from ...attribution.quadrature import DEFAULT_IG_METHOD, check_ig_method
from ...attribution.targets import similarity
from .scores import (GRADIENT_NORM, GRADIENT_X_INPUT, INTEGRATED_GRADIENTS, METHODS, SimilaritySaliency,
                     assemble_similarity, check_methods)


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


def similarity_saliency(model: torch.nn.Module, input_ids_a: torch.Tensor, input_ids_b: torch.Tensor, *,
                        ig_steps: int = 50, ig_method: str = DEFAULT_IG_METHOD, methods: tuple[str, ...] = METHODS,
                        ig_baselines: tuple[torch.Tensor, torch.Tensor] | None = None,
                        keep_raw: bool = False, max_forward_tokens: int = MAX_SIMILARITY_FORWARD_TOKENS
                        ) -> SimilaritySaliency:
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
