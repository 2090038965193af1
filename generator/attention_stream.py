"""Attention reduced layer by layer as the model computes it, for long inputs on large models.

The bake's capture asks the model for every layer's attention (`output_attentions`) and the attention section
rounds them afterwards: [L, H, N, N] float32 from the model, stacked once more, then float64 while rounding. For
SmolLM2 (30 layers, 9 heads) at 2,048 tokens that is 4.5 GB per float32 copy. Here a forward hook on each block's
attention module (the adapter's `attention` path; eager attention returns its weights to the block, which drops
them unless asked to keep them) rounds that layer's [H, N, N] weights to the section's uint16 grid at once, with the
same row-wise largest remainders (`payload.arrays.round_rows_to_sums`), so at most one layer's float weights exist
at a time and the whole stays uint16 (2 bytes a value, instead of 4 + 4 + 8). `attention_section` then gives the
same bytes as `methods.attention.section` on the float capture (tests/test_attention_stream.py).

Not yet the bake's path: issue 20 (the capture as a run handle with hooks by name) and issue 22 (long inputs,
attention in parts) reshape exactly this code; this module is the per-layer reduction they can call.
benchmarks/attention_memory.py measures both ways.
"""

from __future__ import annotations

from contextlib import ExitStack
from typing import Any

import numpy as np
import torch

from .models.loading import LoadedModel
from .payload.arrays import encode_levels, round_rows_to_sums

LEVELS = 511    # methods.attention.LEVELS


@torch.no_grad()
def attention_levels(loaded: LoadedModel, input_ids: torch.Tensor, levels: int = LEVELS) -> np.ndarray:
    """input_ids [1, N] -> uint16 [L, H, N, N]: each layer's attention weights on a grid of `levels` steps over
    [0, 1], rows rounded with largest remainders (each row's integers sum to `levels`), reduced inside the
    forward pass as each layer finishes. Raises AttributeError when the architecture's adapter has no attention
    path, RuntimeError when a layer did not return its weights."""
    adapter = loaded.adapter
    blocks = adapter.blocks(loaded.model)
    out = np.zeros((len(blocks), loaded.info.n_heads, input_ids.shape[1], input_ids.shape[1]), dtype=np.uint16)
    seen: set[int] = set()

    def reduce(layer: int, output: Any) -> None:
        weights = output[1] if isinstance(output, tuple) and len(output) > 1 else None
        if weights is None:
            return
        scaled = weights[0].detach().double().cpu().numpy() * levels      # one layer at a time: [H, N, N]
        out[layer] = np.clip(round_rows_to_sums(np.clip(scaled, 0, levels)), 0, levels)
        seen.add(layer)
    with ExitStack() as stack:
        for layer, block in enumerate(blocks):
            handle = adapter.attention_module(block).register_forward_hook(
                lambda _module, _args, output, layer=layer: reduce(layer, output))
            stack.callback(handle.remove)
        loaded.model(input_ids, attention_mask=torch.ones_like(input_ids), output_attentions=False,
                     **({"logits_to_keep": 1} if loaded.info.causal else {}))
    if seen != set(range(len(blocks))):
        raise RuntimeError(f"attention weights came back from layers {sorted(seen)} of {len(blocks)}")
    return out


def attention_section(levels_array: np.ndarray, levels: int = LEVELS) -> dict[str, Any]:
    """The attention section's `values` ARRAY from `attention_levels` (bytes equal to the float path's)."""
    return {"values": encode_levels(levels_array, lo=0.0, hi=1.0, levels=levels, layout="planes")}
