"""The explained targets, declared once: the score f an attribution explains, and how it is read from a model run.

- "logit": on a causal model, the logit of the generated token input_ids[p], read at position p - 1;
- "probability": its softmax probability at that position;
- "similarity": on a bi-encoder, the cosine similarity of two sentences' mean-pooled last hidden states, each
  sentence read on its own (the only target there, so it is no option).

`CAUSAL_TARGETS` are the values of the `target` option; `describe(target)` says one in words. Importing this module
imports no torch: the functions that read a model run import it when called.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

CAUSAL_TARGETS = ("logit", "probability")
DESCRIPTIONS = {
    "logit": "the logit of each generated token at the position before it",
    "probability": "the probability of each generated token at the position before it",
    "similarity": "the cosine similarity of the two sentences' mean-pooled embeddings, each read on its own",
}
OPTION_DESCRIPTION = "The score explained: the chosen token's logit, or its probability (causal models)."


def check_target(target: Any) -> str:
    """The `target` argument of a causal model's attribution, checked; ValueError for another value."""
    if target not in CAUSAL_TARGETS:
        raise ValueError(f"target must be one of {', '.join(map(repr, CAUSAL_TARGETS))}, got {target!r}")
    return target


def describe(target: str) -> str:
    """The target in words. Raises KeyError for an unknown target."""
    return DESCRIPTIONS[target]


def score_from_logits(logits: "torch.Tensor", token_ids: "torch.Tensor", target: str) -> "torch.Tensor":
    """logits [..., V], token_ids [...] -> the chosen token's logit, or its softmax probability, [...]."""
    import torch

    chosen = logits.gather(-1, token_ids.unsqueeze(-1)).squeeze(-1)
    if target == "logit":
        return chosen
    return torch.exp(chosen - torch.logsumexp(logits, dim=-1))


def generated_scores(model: Any, embeds: "torch.Tensor", input_ids: "torch.Tensor", n_prompt: int,
                     target: str) -> "torch.Tensor":
    """embeds [B, N, D] (rows are independent sequences) -> [B, G]: f_p at row b for p = n_prompt + g."""
    import torch

    from .gradients import forward

    n_tokens = input_ids.shape[0]
    n_generated = n_tokens - n_prompt
    # Positions n_prompt - 1 .. N - 2 predict the generated tokens; keeping the last G + 1 logits covers them
    # (the forward may ignore logits_to_keep and return all N: the slice below is right either way).
    logits = forward(model, embeds, logits_to_keep=n_generated + 1)
    logits = logits[:, -(n_generated + 1):-1]
    chosen = input_ids[n_prompt:].to(logits.device, torch.long).expand(embeds.shape[0], n_generated)
    return score_from_logits(logits, chosen, target)


def mean_pool(hidden: "torch.Tensor", mask: "torch.Tensor") -> "torch.Tensor":
    """[B, N, H] and [B, N] (1 for real tokens) -> [B, H]."""
    mask = mask.to(hidden.dtype).unsqueeze(-1)
    return (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp_min(1e-9)


def sentence_embedding(model: Any, embeds: "torch.Tensor") -> "torch.Tensor":
    """Token embeddings [B, N, D] of one unpadded sentence per row -> mean-pooled sentence embeddings [B, H]."""
    import torch

    from .gradients import forward

    hidden = forward(model, embeds)
    return mean_pool(hidden, torch.ones(embeds.shape[:2], dtype=torch.long, device=embeds.device))


def cosine(u: "torch.Tensor", v: "torch.Tensor") -> "torch.Tensor":
    """Cosine similarity of the rows of u and v [B, H]: [B]."""
    return (u * v).sum(-1) / (u.norm(dim=-1) * v.norm(dim=-1))


def similarity(model: Any, embeds_a: "torch.Tensor", embeds_b: "torch.Tensor") -> "torch.Tensor":
    """[B, Na, D], [B, Nb, D] -> cosine similarity of the sentence embeddings, [B]."""
    return cosine(sentence_embedding(model, embeds_a), sentence_embedding(model, embeds_b))
