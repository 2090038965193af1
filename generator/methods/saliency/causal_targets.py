"""Scores of all generated tokens from ONE forward over the full sequence.

For a causal model the logits at position p - 1 depend on x_0 .. x_{p-1} only, so the full-sequence forward gives at
position p - 1 exactly what the prefix input_ids[:p] would give: f_p for every generated position p at once.
"""

from __future__ import annotations

import torch

from .model_io import first_output, run


def score_from_logits(logits: torch.Tensor, token_ids: torch.Tensor, target: str) -> torch.Tensor:
    """logits [..., V], token_ids [...] -> the chosen token's logit, or its softmax probability, [...]."""
    chosen = logits.gather(-1, token_ids.unsqueeze(-1)).squeeze(-1)
    if target == "logit":
        return chosen
    return torch.exp(chosen - torch.logsumexp(logits, dim=-1))


def generated_scores(model: torch.nn.Module, embeds: torch.Tensor, input_ids: torch.Tensor, n_prompt: int,
                     target: str) -> torch.Tensor:
    """embeds [B, N, D] (rows are independent sequences) -> [B, G]: f_p at row b for p = n_prompt + g."""
    n_tokens = input_ids.shape[0]
    n_generated = n_tokens - n_prompt
    # Positions n_prompt - 1 .. N - 2 predict the generated tokens; keeping the last G + 1 logits covers them
    # (the forward may ignore logits_to_keep and return all N: the slice below is right either way).
    logits = first_output(run(model, embeds, logits_to_keep=n_generated + 1), "logits")
    logits = logits[:, -(n_generated + 1):-1]
    chosen = input_ids[n_prompt:].to(logits.device, torch.long).expand(embeds.shape[0], n_generated)
    return score_from_logits(logits, chosen, target)
