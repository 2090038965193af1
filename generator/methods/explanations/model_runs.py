"""The model runs of the faithfulness tests: f of an output with some input tokens replaced by the neutral token.

Inputs are embeddings (the embedding table's rows), so no tokenizer is needed; the forwards run without gradients,
batched up to `max_tokens` tokens per forward.
"""

from __future__ import annotations

import numpy as np
import torch

from ...attribution.gradients import embedding_table, first_output, run
from ...attribution.targets import cosine, score_from_logits, sentence_embedding

MAX_TOKENS = 4096


def _replaced(model: torch.nn.Module, ids: torch.Tensor, masks: np.ndarray, neutral_id: int) -> torch.Tensor:
    """Embeddings [B, n, D] of ids [n] with the positions of masks [B, n] replaced by the neutral token's."""
    table = embedding_table(model)
    x = table(ids.to(table.weight.device)).detach()
    neutral = table.weight[int(neutral_id)].detach()
    where = torch.as_tensor(masks, dtype=torch.bool, device=x.device)[..., None]
    return torch.where(where, neutral, x)


@torch.no_grad()
def causal_variant_scores(model: torch.nn.Module, input_ids: torch.Tensor, position: int, masks: np.ndarray,
                          neutral_id: int, target: str, *, max_tokens: int = MAX_TOKENS) -> np.ndarray:
    """f of the token input_ids[position] predicted at position - 1, for the prefix input_ids[:position] with the
    positions of each mask [B, position] replaced: [B] float64."""
    prefix = input_ids[:position]
    chosen = input_ids[position:position + 1].long()
    per_forward = max(1, max_tokens // position)
    out = []
    for start in range(0, masks.shape[0], per_forward):
        embeds = _replaced(model, prefix, masks[start:start + per_forward], neutral_id)
        logits = first_output(run(model, embeds, logits_to_keep=1), "logits")[:, -1]
        out.append(score_from_logits(logits, chosen.to(logits.device).expand(logits.shape[0]), target))
    return torch.cat(out).double().cpu().numpy()


@torch.no_grad()
def similarity_variant_scores(model: torch.nn.Module, input_ids_a: torch.Tensor, input_ids_b: torch.Tensor,
                              masks: np.ndarray, neutral_id: int, *, max_tokens: int = MAX_TOKENS) -> np.ndarray:
    """Cosine similarity of the two sentences' mean-pooled embeddings with the positions of each mask [B, Na + Nb]
    (A's tokens first) replaced: [B] float64. Each distinct variant of a sentence is encoded once."""
    n_a = int(input_ids_a.shape[0])
    pooled = []
    for ids, part in ((input_ids_a, masks[:, :n_a]), (input_ids_b, masks[:, n_a:])):
        unique, inverse = np.unique(part, axis=0, return_inverse=True)
        per_forward = max(1, max_tokens // int(ids.shape[0]))
        vectors = torch.cat([sentence_embedding(model, _replaced(model, ids, unique[s:s + per_forward], neutral_id))
                             for s in range(0, unique.shape[0], per_forward)])
        pooled.append(vectors[torch.as_tensor(inverse.ravel())])
    u, v = pooled
    return cosine(u, v).double().cpu().numpy()
