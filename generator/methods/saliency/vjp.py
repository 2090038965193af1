"""Batched vector-Jacobian products: the gradients of several scalar targets in one backward pass."""

from __future__ import annotations

import warnings
from typing import Sequence

import torch


def one_hot_cotangents(outputs: torch.Tensor, columns: Sequence[int]) -> torch.Tensor:
    """[K, *outputs.shape]: cotangent k is 1 in output column columns[k] (last axis) for every row, else 0."""
    cotangents = outputs.new_zeros((len(columns),) + tuple(outputs.shape))
    for k, column in enumerate(columns):
        cotangents[k, ..., column] = 1
    return cotangents


def batched_vjp(outputs: torch.Tensor, inputs: torch.Tensor, columns: Sequence[int]) -> torch.Tensor:
    """d outputs[..., c] / d inputs, summed over the leading output axes, for each c in columns: [K, *inputs.shape].

    Rows of `outputs` that depend only on the matching row of `inputs` (a batch of independent sequences) give
    each row's own gradient. One backward pass vectorised over the K cotangents (`is_grads_batched`); the graph
    is kept so that further column chunks can reuse the same forward.
    """
    cotangents = one_hot_cotangents(outputs, columns)
    try:
        (grads,) = torch.autograd.grad(outputs, inputs, grad_outputs=cotangents, is_grads_batched=True,
                                       retain_graph=True)
        return grads
    except RuntimeError as exc:  # an operator without a batching rule: one backward per column instead
        warnings.warn(f"batched backward failed ({str(exc).splitlines()[0]}); falling back to one backward per "
                      "target", RuntimeWarning, stacklevel=2)
    return torch.stack([torch.autograd.grad(outputs, inputs, grad_outputs=c, retain_graph=True)[0]
                        for c in cotangents])
