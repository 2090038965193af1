"""Names of capture points, as TransformerLens spells them: `blocks.{layer}.{point}`.

The one function that makes hook names; the capture and the methods both call it, so a name is never spelt twice.
`hook_name(3, "mlp.hook_post")` is `blocks.3.mlp.hook_post`: the neuron values, the input of block 3's MLP
down-projection. The points known here:

- `mlp.hook_post`: MLP neuron values after the activation function, [N, d_mlp];
- `attn.hook_q`, `attn.hook_k`, `attn.hook_v`: queries, keys, values per head, after the rotary embedding where
  the model uses one, [heads, N, d_head] (keys and values have the key/value heads of grouped-query attention);
- `hook_resid_pre`, `hook_resid_post`: the residual stream entering and leaving the block, [N, d_model].

Weights a method reads next to the activations are named the same way (`weight_name(3, "attn.W_O")` is
`blocks.3.attn.W_O`):

- `attn.W_O`: the attention output projection split by query head, [heads, d_head, d_model], so that head h's
  output z_h [N, d_head] adds z_h @ W_O[h] to the block's attention output (TransformerLens' layout).
"""

from __future__ import annotations

POINTS = ("mlp.hook_post", "attn.hook_q", "attn.hook_k", "attn.hook_v", "hook_resid_pre", "hook_resid_post")
WEIGHTS = ("attn.W_O",)


def hook_name(layer: int, point: str) -> str:
    """The name of capture point `point` of block `layer` (0-based). Raises ValueError for a negative layer or an
    unknown point."""
    if layer < 0:
        raise ValueError(f"a layer index is 0 or more, got {layer}")
    if point not in POINTS:
        raise ValueError(f"unknown hook point '{point}' (known: {', '.join(POINTS)})")
    return f"blocks.{layer}.{point}"


def weight_name(layer: int, weight: str) -> str:
    """The name of weight `weight` of block `layer` (0-based). Raises ValueError for a negative layer or an unknown
    weight."""
    if layer < 0:
        raise ValueError(f"a layer index is 0 or more, got {layer}")
    if weight not in WEIGHTS:
        raise ValueError(f"unknown weight '{weight}' (known: {', '.join(WEIGHTS)})")
    return f"blocks.{layer}.{weight}"
