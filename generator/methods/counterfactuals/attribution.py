"""The one place this package takes gradient x input and the embedding table from: the saliency package's public
functions and the shared attribution engine (`generator.attribution`).

`model` is the capture's run handle (`Capture.model_run`).

- `causal_scores(model, prefix_ids, output_id) -> [n]`: gradient x input shares of the output token `output_id`
  predicted after `prefix_ids` ([n] int64), L2 norm per token over the embedding, summing to 1 (Ecco; Atanasova
  et al. 2020);
- `pair_scores(model, ids_a, ids_b) -> ([Na], [Nb])`: the same for the cosine similarity of a bi-encoder's mean-pooled
  sentence embeddings, both sentences normalised together;
- `embedding_table(model)`: the input embedding module (rows E[v], [V, D]), from `generator.attribution.gradients`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ...attribution.gradients import embedding_table
from ..saliency.causal import causal_saliency
from ..saliency.encoder import similarity_saliency
from ..saliency.scores import GRADIENT_X_INPUT

__all__ = ["causal_scores", "pair_scores", "embedding_table"]


def causal_scores(model: Any, prefix_ids: torch.Tensor, output_id: int) -> np.ndarray:
    """Gradient x input shares [n] (float64, summing to 1) of the logit of `output_id` read after `prefix_ids` [n]."""
    ids = torch.cat([prefix_ids.long(), torch.tensor([int(output_id)])])
    result = causal_saliency(model, ids, int(prefix_ids.shape[0]), target="logit", methods=(GRADIENT_X_INPUT,))
    return np.asarray(result.scores[GRADIENT_X_INPUT][0, :prefix_ids.shape[0]], dtype=np.float64)


def pair_scores(model: Any, ids_a: torch.Tensor, ids_b: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Gradient x input shares of a pair's cosine similarity: ([Na], [Nb]), together summing to 1."""
    result = similarity_saliency(model, ids_a.long(), ids_b.long(), methods=(GRADIENT_X_INPUT,))
    return (np.asarray(result.scores_a[GRADIENT_X_INPUT], dtype=np.float64),
            np.asarray(result.scores_b[GRADIENT_X_INPUT], dtype=np.float64))
