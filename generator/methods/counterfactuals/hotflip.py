"""HotFlip's first-order estimate (Ebrahimi et al. 2018) of the change of the score when the token at position i is
replaced by token v: (e_v - e_old) . d score / d x_i, for every candidate at once (one matrix-vector product over
the embedding table per position, in the table's precision).
"""

from __future__ import annotations

import numpy as np
import torch


def estimates(gradient: torch.Tensor, table: torch.Tensor, row: torch.Tensor, position: int,
              candidate_ids: np.ndarray) -> np.ndarray:
    """First-order change of the score for replacing row[position] by each of candidate_ids [C]: [C] float64.

    gradient: d score / d x, [n, D]; table: the input embedding rows E, [V, D]; row: the input ids [n]."""
    # one matrix-vector product over the whole table in its own precision (float32: no copy of the candidates'
    # rows, ~30 M multiply-adds), then the rows wanted, in float64
    values = (table @ gradient[position].to(table.dtype)).double()
    ids = torch.as_tensor(candidate_ids, dtype=torch.long)
    return (values[ids] - values[int(row[position])]).numpy()


def best(gradient: torch.Tensor, table: torch.Tensor, row: torch.Tensor, position: int, candidate_ids: np.ndarray,
         count: int) -> tuple[np.ndarray, np.ndarray]:
    """The `count` candidates (never the token already there) whose estimate lowers the score most: (ids [c],
    estimates [c]), most negative first; ties by id."""
    keep = candidate_ids[candidate_ids != int(row[position])]
    values = estimates(gradient, table, row, position, keep)
    order = np.lexsort((keep, values))[:count]
    return keep[order], values[order]
