"""Names of hook points, as TransformerLens spells them: `hook_embed` and `blocks.{layer}.{point}`.

The one place that makes and reads hook names; the model run (`generator.model_run`), the capture and the methods
all call it, so a name is never spelt twice. `hook_name(3, "mlp.hook_post")` is `blocks.3.mlp.hook_post`: the neuron
values, the input of block 3's MLP down-projection. Shapes below have the batch axis B first (the capture keeps
batch element 0 and drops that axis); N positions, H query heads, H_kv key/value heads:

- `hook_embed` (no block): the token embeddings, the embedding table's output, [B, N, d_model];
- `hook_resid_pre`, `hook_resid_post`: the residual stream entering and leaving the block, [B, N, d_model];
- `attn.hook_q`, `attn.hook_k`, `attn.hook_v`: queries [B, H, N, d_head], keys and values [B, H_kv, N, d_head], as
  the model's eager attention function receives them (after the rotary embedding where the model uses one);
- `attn.hook_pattern`: the attention weights after the softmax, [B, H, N, N] (query i, key j): the weights that
  multiply the values;
- `attn.hook_z`: each head's output before the output projection, [B, N, H, d_head];
- `hook_attn_out`: the attention output projection's output (W_O, bias included), [B, N, d_model];
- `mlp.hook_post`: MLP neuron values after the activation function, [B, N, d_mlp];
- `hook_mlp_out`: the MLP down-projection's output, [B, N, d_model].

Weights a method reads next to the activations are named the same way (`weight_name(3, "attn.W_O")` is
`blocks.3.attn.W_O`):

- `attn.W_O`: the attention output projection split by query head, [heads, d_head, d_model], so that head h's
  output z_h [N, d_head] adds z_h @ W_O[h] to the block's attention output (TransformerLens' layout).
"""

from __future__ import annotations

import fnmatch
import re

EMBED = "hook_embed"
POINTS = ("hook_resid_pre", "attn.hook_q", "attn.hook_k", "attn.hook_v", "attn.hook_pattern", "attn.hook_z",
          "hook_attn_out", "mlp.hook_post", "hook_mlp_out", "hook_resid_post")
WEIGHTS = ("attn.W_O",)

_BLOCK = re.compile(r"blocks\.(\d+)\.(.+)")


def hook_name(layer: int, point: str) -> str:
    """The name of hook point `point` of block `layer` (0-based). Raises ValueError for a negative layer or an
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


def parse(name: str) -> tuple[int | None, str]:
    """(layer, point) of a hook name: `blocks.3.attn.hook_z` -> (3, "attn.hook_z"), `hook_embed` -> (None,
    "hook_embed"). Raises ValueError for a name that is not a hook point."""
    if name == EMBED:
        return None, EMBED
    match = _BLOCK.fullmatch(name)
    if match is None or match.group(2) not in POINTS:
        raise ValueError(f"'{name}' is not a hook point name (known: {EMBED}, blocks.<layer>.<point> with point one "
                         f"of {', '.join(POINTS)})")
    return int(match.group(1)), match.group(2)


def all_names(n_layers: int, points: tuple[str, ...] = POINTS) -> list[str]:
    """Every hook name of a model with `n_layers` blocks, in the order a forward pass reaches them."""
    return [EMBED] + [hook_name(layer, point) for layer in range(n_layers) for point in points]


def matching(pattern: str, names: list[str]) -> list[str]:
    """The names among `names` that `pattern` matches: an exact name, or a shell-style pattern
    (`blocks.*.attn.hook_pattern`; `*` also matches dots). Order of `names` kept."""
    if not any(char in pattern for char in "*?["):
        return [name for name in names if name == pattern]
    return [name for name in names if fnmatch.fnmatchcase(name, pattern)]
