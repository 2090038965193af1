"""Gradient-weighted rollout, Grad-SAM (attention x gradient) and gradient x input from one forward and one batched
backward.

The forward runs on the token embeddings as a leaf through the run handle (`generator.model_run`), which caches the
attention pattern of every layer by hook name (`blocks.{l}.attn.hook_pattern`) inside the autograd graph: the
weights A_l [H, N, N] the layer multiplies the values with, so d f / d A_l is the gradient of the target f with
respect to each attention weight. One vectorised backward per chunk of targets gives d f / d x and every
d f / d A_l together. From the positive part of the elementwise products P_l = (A_l ⊙ ∂f/∂A_l)^+:

- gradient-weighted rollout (Chefer, Gur & Wolf 2021, "Generic Attention-model Explainability", rule for
  self-attention): Ā_l = mean_h P_l, R_0 = I, R_l = R_{l-1} + Ā_l R_{l-1}. R = I + (what the attention layers
  propagate); the identity is the token's own residual stream, which the shares leave out (`relevance` is R - I),
  as Chefer et al. leave out the [CLS] token's own entry;
- Grad-SAM (Barkan et al. 2021; payload key `attention_x_gradient`), per layer: the relevance of key j in layer l is
  the sum over heads and queries of P_l[h, i, j]; as A >= 0, (A ⊙ ∂f/∂A)^+ = A ⊙ ReLU(∂f/∂A), Grad-SAM's
  product, summed here where Grad-SAM averages (the same up to normalisation). Hao et al.'s attention attribution
  integrates the gradient along scaled weights instead (`attention_attribution.py`);
- gradient x input: ||x_j ⊙ ∂f/∂x_j||_2 (the saliency method of the same name).

Targets: every generated token of a causal model (f_p: logit or probability of input_ids[p] at position p - 1), or
the cosine similarity of a bi-encoder's two mean-pooled sentence embeddings.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ...attribution.checks import check_finite_gradients, check_n_prompt
from ...attribution.gradients import batched_vjp, gradient_ready, handle, token_embeddings
from ...attribution.integrated import chunks
from ...hooks import every_layer
from ...attribution.targets import check_target, cosine, mean_pool, score_from_logits

MAX_GRADIENT_ELEMENTS = 2 ** 25     # attention-gradient floats held at once (K targets x L x H x N x N), ~134 MB
PATTERNS = every_layer("attn.hook_pattern")


def patterns_run(model: Any, embeds: torch.Tensor, logits_to_keep: int | None = None
                 ) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """One run of the run handle `model` on token embeddings `embeds` [1, N, D] that keeps gradients: (its main
    output, logits [1, N or logits_to_keep, V] or the last hidden state [1, N, d_model]; the attention pattern of
    every layer, L x [1, H, N, N], by hook name, in the autograd graph). Raises MissingHookPoint when the model's
    patterns cannot be read by name."""
    main, cache = handle(model).run_with_cache(inputs_embeds=embeds, names_filter=PATTERNS, grad=True,
                                               logits_to_keep=logits_to_keep)
    return main, list(cache.values())          # the cache keeps the forward order: layer 0 first


@dataclass(frozen=True)
class AttentionGradients:
    """For T targets on one sequence of N tokens (float64 numpy)."""

    values: np.ndarray                 # [T] the targets f
    relevance: np.ndarray              # [T, N, N] gradient-weighted rollout R - I (row i: query position i)
    attention_x_gradient: np.ndarray   # [T, L, N] per layer, relevance of each key token
    gradient_x_input: np.ndarray       # [T, N] ||x_j ⊙ ∂f/∂x_j||


def reduce_products(attentions: torch.Tensor, gradients: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """attentions [L, H, N, N] and gradients [K, L, H, N, N] -> (R - I [K, N, N] float64, attention x gradient
    [K, L, N] float64)."""
    products = (gradients * attentions).clamp_min(0)                  # P_l = (A ⊙ ∂f/∂A)^+
    per_key = products.sum(dim=(2, 3)).double()                       # sum over heads and queries
    mean = products.mean(dim=2).double()                              # Ā_l = mean over heads: [K, L, N, N]
    n = attentions.shape[-1]
    relevance = torch.eye(n, dtype=torch.float64, device=mean.device).expand(gradients.shape[0], n, n).clone()
    for layer in range(mean.shape[1]):
        relevance = relevance + mean[:, layer] @ relevance
    return relevance - torch.eye(n, dtype=torch.float64, device=mean.device), per_key


def causal_attention_gradients(model: Any, input_ids: torch.Tensor, n_prompt: int, target: str = "logit",
                               *, max_elements: int = MAX_GRADIENT_ELEMENTS) -> AttentionGradients:
    """The three gradient methods for every generated token: T = G = N - n_prompt targets.

    model: the run handle (`generator.model_run.ModelRun`); input_ids: 1-D LongTensor (prompt then generated
    tokens). Raises ValueError for a bad n_prompt or target, FloatingPointError for a gradient that is not finite,
    MissingHookPoint as `patterns_run`.
    """
    target = check_target(target)
    with gradient_ready(model):
        x = token_embeddings(model, input_ids)
        n_tokens = x.shape[0]
        n_prompt = check_n_prompt(n_prompt, n_tokens)
        n_generated = n_tokens - n_prompt
        leaf = x.unsqueeze(0).clone().requires_grad_(True)
        logits, attentions = patterns_run(model, leaf, logits_to_keep=n_generated + 1)   # L x [1, H, N, N]
        logits = logits[:, -(n_generated + 1):-1]
        chosen = input_ids[n_prompt:].to(logits.device, torch.long)[None]
        scores = score_from_logits(logits, chosen, target)                     # [1, G]
        weights = torch.stack([a[0] for a in attentions]).detach()
        per_call = max(1, max_elements // weights.numel())
        relevance = torch.empty((n_generated, n_tokens, n_tokens), dtype=torch.float64)
        per_key = torch.empty((n_generated, weights.shape[0], n_tokens), dtype=torch.float64)
        gxi = torch.empty((n_generated, n_tokens), dtype=torch.float64)
        for cols in chunks(n_generated, per_call):
            grads = batched_vjp(scores, [leaf, *attentions], cols)
            check_finite_gradients(grads[0])
            gxi[cols.start:cols.stop] = (grads[0][:, 0].double() * x.double()).norm(dim=-1)
            layered = torch.stack([g[:, 0] for g in grads[1:]], dim=1)         # [K, L, H, N, N]
            relevance[cols.start:cols.stop], per_key[cols.start:cols.stop] = reduce_products(weights, layered)
            del grads, layered
        return AttentionGradients(scores[0].detach().double().cpu().numpy(), relevance.numpy(), per_key.numpy(),
                                  gxi.numpy())


def similarity_attention_gradients(model: Any, input_ids_a: torch.Tensor, input_ids_b: torch.Tensor
                                   ) -> tuple[AttentionGradients, AttentionGradients]:
    """The three gradient methods for a bi-encoder's cosine similarity (one target, T = 1), for sentence A and B
    each read on its own (1-D id tensors with their own special tokens). model: the run handle."""
    with gradient_ready(model):
        xs = (token_embeddings(model, input_ids_a, "input_ids_a"), token_embeddings(model, input_ids_b, "input_ids_b"))
        leaves = [x.unsqueeze(0).clone().requires_grad_(True) for x in xs]
        runs = [patterns_run(model, leaf) for leaf in leaves]
        pooled = [mean_pool(hidden, torch.ones(leaf.shape[:2], dtype=torch.long, device=leaf.device))
                  for (hidden, _), leaf in zip(runs, leaves)]
        f = cosine(pooled[0], pooled[1])                                                    # [1]
        attentions = [patterns for _, patterns in runs]
        grads = torch.autograd.grad(f.sum(), [*leaves, *attentions[0], *attentions[1]])
        n_layers = len(attentions[0])
        results = []
        for k, (x, leaf_grad) in enumerate(zip(xs, grads[:2])):
            check_finite_gradients(leaf_grad)
            layered = torch.stack(grads[2 + k * n_layers: 2 + (k + 1) * n_layers], dim=1)   # [1, L, H, n, n]
            weights = torch.stack([a[0] for a in attentions[k]]).detach()
            relevance, per_key = reduce_products(weights, layered)
            gxi = (leaf_grad.double() * x.double()).norm(dim=-1)                               # [1, n]
            results.append(AttentionGradients(f.detach().double().cpu().numpy(), relevance.numpy(), per_key.numpy(),
                                              gxi.numpy()))
        return results[0], results[1]
