"""Attention reduced layer by layer as the model computes it, for long inputs on large models.

The bake's capture asks the model for every layer's attention (`output_attentions`) and the attention section
rounds them afterwards: [L, H, N, N] float32 from the model, stacked once more, then float64 while rounding. For
SmolLM2 (30 layers, 9 heads) at 2,048 tokens that is 4.5 GB per float32 copy. Here a forward hook on each block's
attention module (the adapter's `attention` path; eager attention returns its weights to the block, which drops
them unless asked to keep them) rounds that layer's [H, N, N] weights to the section's uint16 grid at once, with the
same row-wise largest remainders (`payload.arrays.round_rows_to_sums`), so at most one layer's float weights exist
at a time and the whole stays uint16 (2 bytes a value, instead of 4 + 4 + 8). `attention_section` then gives the
same bytes as `methods.attention.section` on the float capture (tests/test_attention_stream.py).

The bake's path for long inputs (issue 22): `each_layer` hands each layer's float weights to a reducer as the
model computes it (`Capture.attention_by_layer`, used by the attention section's layered form, methods/attention.py),
so a 2,048-token SmolLM2 bake never holds [L, H, N, N]. benchmarks/attention_memory.py measures both ways.
"""

from __future__ import annotations

import inspect
from contextlib import ExitStack
from typing import Any, Callable

import numpy as np
import torch

from .models.loading import LoadedModel
from .payload.arrays import encode_levels, round_rows_to_sums

LEVELS = 511    # methods.attention.LEVELS


@torch.no_grad()
def each_layer(loaded: LoadedModel, input_ids: torch.Tensor, reduce: Callable[[int, np.ndarray], Any],
               token_type_ids: torch.Tensor | None = None) -> list[Any]:
    """One forward of input_ids [1, N] in which each block's attention weights, float32 [H, N, N] (rows sum to 1),
    go to `reduce(layer, weights)` as the block returns them; the model is asked for no stacked attentions, so at
    most one layer's weights (and what `reduce` keeps of it) exist at a time. Returns [reduce(0, ...), ...,
    reduce(L - 1, ...)]. Raises AttributeError when the architecture's adapter has no attention path, RuntimeError
    when a layer did not return its weights (attention other than eager)."""
    adapter = loaded.adapter
    blocks = adapter.blocks(loaded.model)
    results: dict[int, Any] = {}

    def hook(layer: int, output: Any) -> None:
        weights = output[1] if isinstance(output, tuple) and len(output) > 1 else None
        if weights is not None:
            results[layer] = reduce(layer, weights[0].detach().float().cpu().numpy())
    kwargs: dict[str, Any] = {"attention_mask": torch.ones_like(input_ids), "output_attentions": False}
    if token_type_ids is not None:
        kwargs["token_type_ids"] = token_type_ids
    if "logits_to_keep" in inspect.signature(loaded.model.forward).parameters:
        kwargs["logits_to_keep"] = 1
    with ExitStack() as stack:
        for layer, block in enumerate(blocks):
            handle = adapter.attention_module(block).register_forward_hook(
                lambda _module, _args, output, layer=layer: hook(layer, output))
            stack.callback(handle.remove)
        loaded.model(input_ids, **kwargs)
    if sorted(results) != list(range(len(blocks))):
        raise RuntimeError(f"attention weights came back from layers {sorted(results)} of {len(blocks)}")
    return [results[layer] for layer in range(len(blocks))]


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
