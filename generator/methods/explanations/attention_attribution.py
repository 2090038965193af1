"""Attention attribution (Hao, Dong, Wei & Xu 2021, "Self-Attention Attribution", AttAttr): integrated gradients over
the attention weights of each layer, by an edit of the model run at `blocks.{l}.attn.hook_pattern`.

For layer l with attention weights A_l [H, N, N] (after the softmax: the weights that multiply the values),

    Attr_l = A_l ⊙ integral_0^1 dF(alpha A_l) / dA_l d alpha,

where F(alpha A_l) is the explained score with layer l's weights scaled by alpha (rows then sum to alpha: no
renormalisation, as in the paper; every other layer runs as it is) and the gradient is taken at the scaled weights.
The integral uses the quadrature of integrated gradients (`attribution.quadrature`, `ig_steps` nodes), so
completeness reads sum(Attr_l) = F(A_l) - F(0 A_l) up to the rule's error. The scaled weights enter the run through
the run handle (`generator.model_run`, a pattern edit recomputes the head outputs as pattern' @ v), one batch row per
node.

Tokens: Hao et al. read Attr_l[h, i, j] as the attribution of the edge from key j to query i in head h and build an
attribution tree from the largest edges; they define no score per input token. Here, as for Grad-SAM in the same
comparison, the share of input token j is the sum over layers, heads and queries of the positive part:
relevance_j = sum_l sum_h sum_i max(Attr_l[h, i, j], 0), normalised over the inputs of the output.

Targets: every generated token of a causal model (its logit or probability at the position before it), or a
bi-encoder pair's cosine similarity (both sentences' layer l scaled together, each read on its own).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

import numpy as np
import torch

from ...attribution.checks import check_finite_gradients, check_ig_steps, check_n_prompt
from ...attribution.gradients import batched_vjp, gradient_ready
from ...attribution.integrated import chunks
from ...attribution.quadrature import DEFAULT_IG_METHOD, ig_rule
from ...attribution.targets import check_target, cosine, mean_pool, score_from_logits
from ...hooks import hook_name

if TYPE_CHECKING:
    from ...model_run import HookPoint, ModelRun

MAX_NODES_PER_FORWARD = 16


def _scaling(alpha: torch.Tensor, kept: list[torch.Tensor]) -> Callable[[torch.Tensor, "HookPoint"], torch.Tensor]:
    """A pattern edit: batch row k's weights times alpha[k], as a leaf that keeps its gradient (appended to `kept`)."""
    def scale(pattern: torch.Tensor, _hook: "HookPoint") -> torch.Tensor:
        leaf = (alpha.to(pattern.dtype)[:, None, None, None] * pattern.detach()).requires_grad_(True)
        kept.append(leaf)
        return leaf
    return scale


def _patterns(run: "ModelRun", input_ids: torch.Tensor) -> list[torch.Tensor]:
    """Every layer's attention weights [H, N, N] of input_ids [N], unedited."""
    _, cache = run.run_with_cache(input_ids[None], names_filter="blocks.*.attn.hook_pattern", logits_to_keep=1)
    return [cache[hook_name(layer, "attn.hook_pattern")][0].detach() for layer in range(run.info.n_layers)]


def token_relevance(attributions: torch.Tensor) -> torch.Tensor:
    """sum over heads and queries of the positive part: [..., H, N, N] -> [..., N] (one score per key token)."""
    return attributions.clamp_min(0).sum(dim=(-3, -2))


def causal_attention_attribution(run: "ModelRun", input_ids: torch.Tensor, n_prompt: int, target: str = "logit", *,
                                 steps: int = 20, method: str = DEFAULT_IG_METHOD) -> np.ndarray:
    """Relevance of every input token for every generated token, summed over layers: [G, N] float64 (not normalised;
    zero where a token cannot reach the output).

    run: the model's run handle; input_ids: 1-D LongTensor, prompt then generated tokens. Raises ValueError for a bad
    argument, FloatingPointError for a gradient that is not finite, `model_run.MissingHookPoint` when the model's
    adapter cannot give the attention weights.
    """
    target = check_target(target)
    alphas, weights = ig_rule(method, check_ig_steps(steps))
    n_tokens = int(input_ids.shape[0])
    n_prompt = check_n_prompt(n_prompt, n_tokens)
    n_generated = n_tokens - n_prompt
    chosen = input_ids[n_prompt:].long()
    relevance = torch.zeros((n_generated, n_tokens), dtype=torch.float64)
    with gradient_ready(run.model):
        for layer, pattern in enumerate(_patterns(run, input_ids)):
            integral = torch.zeros((n_generated,) + tuple(pattern.shape), dtype=torch.float64)
            for nodes in chunks(len(alphas), MAX_NODES_PER_FORWARD):
                alpha = torch.tensor(alphas[nodes.start:nodes.stop])
                weight = torch.tensor(weights[nodes.start:nodes.stop], dtype=torch.float64)
                kept: list[torch.Tensor] = []
                logits = run.run_with_hooks(input_ids[None].expand(len(nodes), -1),
                                            [(hook_name(layer, "attn.hook_pattern"), _scaling(alpha, kept))],
                                            grad=True, logits_to_keep=n_generated + 1)
                scores = score_from_logits(logits[:, -(n_generated + 1):-1],
                                           chosen.to(logits.device).expand(len(nodes), -1), target)   # [K, G]
                grads = batched_vjp(scores, kept[0], range(n_generated))                              # [G, K, H, N, N]
                check_finite_gradients(grads, alpha)
                integral += torch.einsum("k,gkhij->ghij", weight, grads.double())
            relevance += token_relevance(pattern.double() * integral)
    return relevance.numpy()


def similarity_attention_attribution(run: "ModelRun", input_ids_a: torch.Tensor, input_ids_b: torch.Tensor, *,
                                     steps: int = 20, method: str = DEFAULT_IG_METHOD
                                     ) -> tuple[np.ndarray, np.ndarray]:
    """Relevance of every token of sentence A [Na] and B [Nb] for the cosine similarity of their mean-pooled
    embeddings (each sentence read on its own, layer l of both scaled by the same alpha), summed over layers,
    float64, not normalised. Raises as `causal_attention_attribution`."""
    alphas, weights = ig_rule(method, check_ig_steps(steps))
    ids = (input_ids_a, input_ids_b)
    relevance = [torch.zeros(int(i.shape[0]), dtype=torch.float64) for i in ids]
    with gradient_ready(run.model):
        patterns = [_patterns(run, i) for i in ids]
        for layer in range(run.info.n_layers):
            integrals = [torch.zeros(p[layer].shape, dtype=torch.float64) for p in patterns]
            for nodes in chunks(len(alphas), MAX_NODES_PER_FORWARD):
                alpha = torch.tensor(alphas[nodes.start:nodes.stop])
                weight = torch.tensor(weights[nodes.start:nodes.stop], dtype=torch.float64)
                leaves, pooled = [], []
                for sentence in ids:
                    kept: list[torch.Tensor] = []
                    hidden = run.run_with_hooks(sentence[None].expand(len(nodes), -1),
                                                [(hook_name(layer, "attn.hook_pattern"), _scaling(alpha, kept))],
                                                grad=True)
                    leaves.append(kept[0])
                    pooled.append(mean_pool(hidden, torch.ones(hidden.shape[:2], dtype=torch.long)))
                f = cosine(*pooled)                                                # [K]: rows are independent
                for integral, grad in zip(integrals, torch.autograd.grad(f.sum(), leaves)):
                    check_finite_gradients(grad[None], alpha)
                    integral += torch.einsum("k,khij->hij", weight, grad.double())
            for k in (0, 1):
                relevance[k] += token_relevance(patterns[k][layer].double() * integrals[k])
    return relevance[0].numpy(), relevance[1].numpy()
