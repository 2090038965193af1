"""The model runs of the faithfulness tests: f of an output with some input tokens replaced by the neutral token.

Each variant is an edit of the model run by hook name (`generator.model_run`): at `hook_embed`, the token embeddings
of the masked positions are replaced by the neutral token's row of the embedding table (positions and attention mask
unchanged), one batch row per variant (`ModelRun.run_edit_sets`, up to `max_tokens` tokens per forward), without
gradients. No tokenizer is needed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

import numpy as np
import torch

from ...attribution.gradients import embedding_table
from ...attribution.targets import cosine, mean_pool, score_from_logits
from ...hooks import EMBED

if TYPE_CHECKING:
    from ...model_run import HookPoint, ModelRun

MAX_TOKENS = 4096


def _replace(mask: np.ndarray, neutral: torch.Tensor) -> Callable[[torch.Tensor, "HookPoint"], torch.Tensor]:
    """An edit of token embeddings [1, n, D]: the positions of mask [n] get the neutral token's embedding."""
    where = torch.as_tensor(mask, dtype=torch.bool)[None, :, None]

    def edit(embeddings: torch.Tensor, _hook: "HookPoint") -> torch.Tensor:
        return torch.where(where.to(embeddings.device), neutral.to(embeddings.dtype), embeddings)
    return edit


def _edit_sets(run: "ModelRun", masks: np.ndarray, neutral_id: int) -> list[list[tuple[str, Callable]]]:
    neutral = embedding_table(run.model).weight[int(neutral_id)].detach()
    return [[(EMBED, _replace(mask, neutral))] for mask in masks]


def causal_variant_scores(run: "ModelRun", input_ids: torch.Tensor, position: int, masks: np.ndarray,
                          neutral_id: int, target: str, *, max_tokens: int = MAX_TOKENS) -> np.ndarray:
    """f of the token input_ids[position] predicted at position - 1, for the prefix input_ids[:position] with the
    positions of each mask [B, position] replaced: [B] float64."""
    prefix = input_ids[:position][None]
    chosen = input_ids[position:position + 1].long()

    def score(logits: torch.Tensor) -> torch.Tensor:
        last = logits[:, -1]
        return score_from_logits(last, chosen.to(last.device).expand(last.shape[0]), target)
    out = run.run_edit_sets(prefix, _edit_sets(run, masks, neutral_id), batch_size=max(1, max_tokens // position),
                            reduce=score, logits_to_keep=1)
    return out.double().cpu().numpy()


def similarity_variant_scores(run: "ModelRun", input_ids_a: torch.Tensor, input_ids_b: torch.Tensor,
                              masks: np.ndarray, neutral_id: int, *, max_tokens: int = MAX_TOKENS) -> np.ndarray:
    """Cosine similarity of the two sentences' mean-pooled embeddings with the positions of each mask [B, Na + Nb]
    (A's tokens first) replaced: [B] float64. Each distinct variant of a sentence is encoded once."""
    n_a = int(input_ids_a.shape[0])
    pooled = []
    for ids, part in ((input_ids_a, masks[:, :n_a]), (input_ids_b, masks[:, n_a:])):
        unique, inverse = np.unique(part, axis=0, return_inverse=True)
        vectors = run.run_edit_sets(ids[None], _edit_sets(run, unique, neutral_id),
                                    batch_size=max(1, max_tokens // int(ids.shape[0])),
                                    reduce=lambda hidden: mean_pool(hidden, torch.ones(hidden.shape[:2],
                                                                                       dtype=torch.long)))
        pooled.append(vectors[torch.as_tensor(inverse.ravel())])
    u, v = pooled
    return cosine(u, v).double().cpu().numpy()
