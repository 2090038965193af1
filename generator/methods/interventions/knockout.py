"""Head knockout map: the change of the explained output when one attention head's output, one whole attention
block or one MLP is removed (Michel et al. 2019, "Are Sixteen Heads Really Better than One?", head ablation;
TransformerLens' ablation by hook).

A "head" is a query head: its part of `blocks.{l}.attn.hook_z` (the input of the output projection W_O, [N, H,
d_head]). Under grouped-query attention the key/value heads that several query heads share are not removed; only the
one query head's output is. Removing means, per `ablation`:

- "mean": the head's output at every position replaced by its mean over the text's positions (the block's input is
  unchanged, so this is its mean in the clean run): the rest of the model keeps receiving a typical signal;
- "zero": replaced by zeros, which is the same as zeroing that head's columns of W_O (tests check it).

A whole block is `blocks.{l}.hook_attn_out` (W_O's output, bias included) and an MLP `blocks.{l}.hook_mlp_out`,
removed the same way. The edited runs of layer l start at block l from the clean residual stream entering it: H + 2
runs of the upper L - l blocks each, the runs of all layers batched together with staggered starts
(`ModelRun.run_edit_sets(starts=...)`: block l computes only the rows that have started), so the map costs about
(L + 1) / 2L of one full run per edit, in few forwards.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ... import hooks
from .explained import Explained


def _remove(index: int | None, ablation: str):
    """Hook fn removing head `index` of hook_z ([B, N, H, d]), or the whole activation ([B, N, D]) for None."""
    def fn(value: torch.Tensor, hook: Any) -> torch.Tensor:
        value = value.clone()
        part = value[:, :, index] if index is not None else value
        replacement = part.mean(dim=1, keepdim=True).expand_as(part) if ablation == "mean" else torch.zeros_like(part)
        if index is None:
            return replacement.clone()
        value[:, :, index] = replacement
        return value
    return fn


def edit_sets(layer: int, n_heads: int, ablation: str) -> list[list[tuple[str, Any]]]:
    """The edit sets of one layer: each head alone (H sets), then the whole attention block, then the MLP."""
    z = hooks.hook_name(layer, "attn.hook_z")
    sets = [[(z, _remove(head, ablation))] for head in range(n_heads)]
    sets.append([(hooks.hook_name(layer, "hook_attn_out"), _remove(None, ablation))])
    sets.append([(hooks.hook_name(layer, "hook_mlp_out"), _remove(None, ablation))])
    return sets


def knockout(explained: Explained, ablation: str, *, batch_size: int = 16) -> dict[str, np.ndarray]:
    """The explained output with each head, block and MLP removed, and unedited.

    Returns {"base": [M], "heads": [L, H, M], "attention": [L, M], "mlp": [L, M]} float64, M = 2 (log-probability,
    probability of the target) on a causal model, 1 (similarity) on a pair. Differences are taken by the caller.
    """
    run = explained.run
    n_layers, n_heads = run.info.n_layers, run.info.n_heads
    names = [hooks.hook_name(layer, "hook_resid_pre") for layer in range(n_layers)]
    caches = explained.clean_cache(names)
    base = explained.measure(lambda _i: [[]], 1, batch_size=1)[0]
    per_layer = n_heads + 2
    sets = [edit for layer in range(n_layers) for edit in edit_sets(layer, n_heads, ablation)]
    layers = [layer for layer in range(n_layers) for _ in range(per_layer)]
    resids = [{layer: cache[names[layer]] for layer in range(1, n_layers)} for cache in caches]
    values = explained.measure(lambda _i: sets, len(sets), batch_size=batch_size, starts=(layers, resids))
    values = values.reshape(n_layers, per_layer, -1)
    return {"base": base.numpy(), "heads": values[:, :n_heads].numpy(), "attention": values[:, n_heads].numpy(),
            "mlp": values[:, n_heads + 1].numpy()}
