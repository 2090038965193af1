"""Names of hook points, as TransformerLens spells them: `hook_embed` and `blocks.{layer}.{point}`.

The one place that makes and reads hook names; the model run (`generator.model_run`), the capture and the methods
all call it, so a name is never spelt twice. `hook_name(3, "mlp.hook_post")` is `blocks.3.mlp.hook_post`: the neuron
values, the input of block 3's MLP down-projection. Shapes below have the batch axis B first (the capture keeps
batch element 0 and drops that axis); N positions, H query heads, H_kv key/value heads:

- `hook_embed` (no block): the token embeddings, the embedding table's output, [B, N, d_model];
- `ln_final.hook_normalized` (no block): the final norm's output, what the unembedding reads, [B, N, d_model]
  (TransformerLens' name); on a model without a final norm, the last block's output. Not `blocks.{L-1}.
  hook_resid_post`: Hugging Face's last `hidden_states` entry is this point on models whose library applies the
  final norm before returning it (GPT-2, Llama), which the adapter says (`Adapter.last_hidden_normed`);
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
`blocks.3.attn.W_O`), and a method asks for them by name the same way (`Needs.hooks`, `weight_names`):

- `attn.W_O`: the attention output projection split by query head, [heads, d_head, d_model], so that head h's
  output z_h [N, d_head] adds z_h @ W_O[h] to the block's attention output (TransformerLens' layout).
"""

from __future__ import annotations

import fnmatch
import re

EMBED = "hook_embed"
FINAL = "ln_final.hook_normalized"
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
    "hook_embed"), `ln_final.hook_normalized` -> (None, "ln_final.hook_normalized"). Raises ValueError for a name
    that is not a hook point."""
    if name in (EMBED, FINAL):
        return None, name
    match = _BLOCK.fullmatch(name)
    if match is None or match.group(2) not in POINTS:
        raise ValueError(f"'{name}' is not a hook point name (known: {EMBED}, {FINAL}, blocks.<layer>.<point> with "
                         f"point one of {', '.join(POINTS)})")
    return int(match.group(1)), match.group(2)


def all_names(n_layers: int, points: tuple[str, ...] = POINTS, final: bool = True) -> list[str]:
    """Every hook name of a model with `n_layers` blocks, in the order a forward pass reaches them (`final`: with
    `ln_final.hook_normalized` last)."""
    return [EMBED] + [hook_name(layer, point) for layer in range(n_layers) for point in points] + \
        ([FINAL] if final else [])


def weight_names(n_layers: int) -> list[str]:
    """Every weight name of a model with `n_layers` blocks (`blocks.{l}.attn.W_O`, ...), layer by layer."""
    return [weight_name(layer, weight) for layer in range(n_layers) for weight in WEIGHTS]


def is_weight(name: str) -> bool:
    """Whether `name` (a name or pattern) names weights (`blocks.*.attn.W_O`) rather than activations."""
    return name.rsplit(".", 1)[-1] in {weight.rsplit(".", 1)[-1] for weight in WEIGHTS}


def every_layer(point: str) -> str:
    """The pattern naming `point` in every block: `every_layer("attn.hook_pattern")` is
    `blocks.*.attn.hook_pattern`. Raises ValueError for an unknown point."""
    hook_name(0, point)
    return f"blocks.*.{point}"


def layer_free(name: str) -> str:
    """`name` with its layer index made a wildcard (`blocks.3.attn.hook_q` -> `blocks.*.attn.hook_q`): the pattern
    of the same point in any layer. Names without a layer are returned unchanged."""
    return re.sub(r"^blocks\.\d+\.", "blocks.*.", name)


def matching(pattern: str, names: list[str]) -> list[str]:
    """The names among `names` that `pattern` matches: an exact name, or a shell-style pattern
    (`blocks.*.attn.hook_pattern`; `*` also matches dots). Order of `names` kept."""
    if not any(char in pattern for char in "*?["):
        return [name for name in names if name == pattern]
    return [name for name in names if fnmatch.fnmatchcase(name, pattern)]
