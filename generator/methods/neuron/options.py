"""Options of the neuron method, as authors write them under `neuron:`, and the default choice of layers and heads.

    neuron: {layers: [3, 5], heads: all}      # or layers: 4, layers: "2-6", heads: [0, 7] ...

Without `layers` (or `heads`) the bake picks a default that keeps the section small (`default_selection`).
"""

from __future__ import annotations

from typing import Any, Union

from pydantic import Field, field_validator

from ...errors import quoted
from ..options import Options, Selection, indices, selection_syntax

# Stored values (queries plus keys, all positions and dimensions) the default selection stays within. Measured
# (benchmarks/neuron.py): uint16 queries and keys of SmolLM2 and MiniLM cost about 1.9 bytes per value deflated,
# base64-encoded and served gzipped, so this budget keeps a default neuron section near 380 KB gzipped.
DEFAULT_VALUES = 200_000

class NeuronOptions(Options):
    layers: Selection = Field(None, description="Layers to bake: 'all', an index, a range 'a-b' or a list; "
                                                "default: evenly spaced layers within the size budget.")
    heads: Selection = Field(None, description="Query heads to bake: 'all', an index, a range 'a-b' or a list; "
                                               "default: all.")
    query: Union[int, str, None] = Field(None, description="The query token the view opens on: its position "
                                                          "(negative counts from the end) or its text; default: the "
                                                          "last token that is not special.")

    @field_validator("layers")
    @classmethod
    def _layers(cls, value: Selection) -> Selection:
        return selection_syntax(value, "layer")

    @field_validator("heads")
    @classmethod
    def _heads(cls, value: Selection) -> Selection:
        return selection_syntax(value, "head")


def query_index(query: int | str | None, tokens: list[dict[str, Any]]) -> int:
    """Position of the query token the view opens on (`NeuronOptions.query`): an index (negative from the end), the
    first token whose text without surrounding spaces equals `query`, or by default the last token that is not
    special. Raises ValueError naming the valid positions or the tokens there are."""
    n = len(tokens)
    if query is None:
        plain = [i for i, token in enumerate(tokens) if not token.get("special")]
        return plain[-1] if plain else n - 1
    if isinstance(query, int):
        if not -n <= query < n:
            raise ValueError(f"query position {query} is outside the text, which has tokens 0-{n - 1} "
                             f"(or -{n} to -1 from the end)")
        return query % n
    for i, token in enumerate(tokens):
        if token["text"].strip() == query.strip():
            return i
    shown = ", ".join(quoted(token["text"].strip()) for token in tokens[:40])
    raise ValueError(f"no token reads {quoted(query)}; the tokens are {shown}{' ...' if n > 40 else ''}")


def key_heads(heads: list[int], n_heads: int, n_kv_heads: int) -> list[int]:
    """The key heads that `heads` read: query head h uses key head h // (n_heads / n_kv_heads) (grouped-query
    attention, Ainslie et al. 2023; every key head is its own query head's when n_kv_heads == n_heads)."""
    group = n_heads // n_kv_heads
    return sorted({head // group for head in heads})


def default_selection(options: NeuronOptions, n_layers: int, n_heads: int, n_kv_heads: int, n_tokens: int,
                      d_head: int, budget: int = DEFAULT_VALUES) -> tuple[list[int], list[int]]:
    """The layers and heads to bake: those the options name; for what they leave open, the default.

    Default heads: all. Default layers: all of them if their queries and keys fit `budget` stored values; else as
    many as fit (at least one), evenly spaced from the first layer to the last. When the options leave the heads open
    and one layer of all heads is over the budget, the heads are cut to the first ones that fit (at least one).
    Raises ValueError (naming the valid range) for a layer or head outside the model.
    """
    heads = indices(options.heads, n_heads, "head")
    if options.heads is None:
        while len(heads) > 1 and _size(heads, n_heads, n_kv_heads, n_tokens, d_head) > budget:
            heads = heads[:-1]
    if options.layers is not None:
        return indices(options.layers, n_layers, "layer"), heads
    per_layer = _size(heads, n_heads, n_kv_heads, n_tokens, d_head)
    count = max(1, min(n_layers, budget // max(1, per_layer)))
    if count == n_layers:
        return list(range(n_layers)), heads
    if count == 1:
        return [0], heads
    return sorted({round(i * (n_layers - 1) / (count - 1)) for i in range(count)}), heads


def _size(heads: list[int], n_heads: int, n_kv_heads: int, n_tokens: int, d_head: int) -> int:
    """Stored values of one layer: the chosen query heads and the key heads they read, at every position."""
    return (len(heads) + len(key_heads(heads, n_heads, n_kv_heads))) * n_tokens * d_head
