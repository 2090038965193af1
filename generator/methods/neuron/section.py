"""The "neuron" payload section: queries and keys of chosen heads, from which the neuron view recomputes attention.

BertViz's neuron view (Vig 2019, "A Multiscale Visualization of Attention in the Transformer Model"): for query
token i of one head, the query q_i, every key k_j, their elementwise product, the score s_ij = scale * q_i . k_j
(scale = 1/sqrt(d_head) for the models here), masked causally where the model is causal, and softmax_j(s_ij), which
is the model's attention weight. Queries and keys are the tensors the model's own attention function receives (after
the rotary embedding where there is one; see generator/models/adapters.py), so that identity holds by construction;
tests/test_neuron.py checks it for every adapter family.

    {"layers": [0, 3, ...], "heads": [0, ..., 8], "key_heads": [0, 1, 2], "d_head": 64, "causal": true,
     "query": 7,                                                 # the token the view opens on
     "scales": [0.125, ...],                                     # per listed layer
     "queries": [ARRAY uint16 [len(heads), N, d_head], ...],     # per listed layer, over that layer's [min, max]
     "keys": [ARRAY uint16 [len(key_heads), N, d_head], ...]}

Query head heads[a] reads key head h // (n_heads / n_kv_heads), stored at the position of that number in key_heads.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ...errors import SpecError
from ...hooks import hook_name
from ...models.adapters import reads_queries_keys
from ...payload import encode_array
from ..registry import Method, Needs
from .options import NeuronOptions, default_selection, indices, key_heads, query_index

if TYPE_CHECKING:
    from ...capture import Capture
    from ...models.facts import ModelInfo
    from ...spec import SpecBase


def check(spec: "SpecBase", info: "ModelInfo", n_tokens: int | None = None) -> None:
    """Before the model runs: the architecture's queries and keys can be captured, the chosen layers and heads
    are inside the model, and a `query` position is inside the most tokens the run can have (`n_tokens`, when
    known: prompt plus `generate`). Raises SpecError on the field at fault."""
    if not reads_queries_keys(info.architecture):
        field = "views" if "views" in spec.model_fields_set else "neuron"
        raise spec.error(field, f"the neuron view cannot read queries and keys of architecture "
                                f"'{info.architecture}' ({info.label})",
                         hint="give its entry in generator/models/adapters.py an 'attention' path (the module "
                              "that calls the eager attention function), or use a model such as smollm2 or minilm")
    if n_tokens is not None:
        _check_window(spec, info, n_tokens)
    options = spec.options("neuron")
    query = options.query
    found = []            # the query's, the layers' and the heads' errors, raised together
    if n_tokens is not None and isinstance(query, int) and not isinstance(query, bool) \
            and not -n_tokens <= query < n_tokens:
        found.append(spec.error("neuron.query", f"query position {query} is outside the text, which has at most "
                                                f"{n_tokens} tokens (0-{n_tokens - 1}, or -{n_tokens} to -1 from "
                                                "the end)",
                                hint="give a token's position (0 is the first) or its text as the tokenizer splits "
                                     "it"))
    for field, value, count, what in (("layers", options.layers, info.n_layers, "layer"),
                                      ("heads", options.heads, info.n_heads, "head")):
        try:
            indices(value, count, what)
        except ValueError as exc:
            found.append(spec.error(f"neuron.{field}", str(exc),
                                    hint=f"{info.label} has {what}s 0-{count - 1}: use 'all', an index, a range "
                                         f"such as '0-{count - 1}' or a list"))
    if found:
        raise SpecError.combine(found)


def _check_window(spec: "SpecBase", info: "ModelInfo", n_tokens: int) -> None:
    """The view recomputes softmax over every earlier token: a sliding-window layer (Gemma 3, Mistral, Phi-3) sees
    only its last `window` tokens, so past that length the recomputed weights would not be the model's."""
    window = info.sliding_window
    if window is not None and n_tokens > window:
        field = "views" if "views" in spec.model_fields_set else "neuron"
        raise spec.error(field, f"the neuron view reads at most {window} tokens on {info.label} (architecture "
                                f"'{info.architecture}'): its sliding-window layers attend to the last {window} "
                                f"tokens only, and this text has {n_tokens}",
                         hint=f"shorten the text to {window} tokens; the head and model views show the model's own "
                              "weights at any length")


def section(spec: "SpecBase", capture: "Capture") -> dict[str, Any]:
    """The neuron section of one capture (layout in this module's docstring)."""
    info = capture.info
    _check_window(spec, info, len(capture.ids))
    first = capture.activations[hook_name(0, "attn.hook_q")]
    d_head = int(first.shape[-1])
    try:
        layers, heads = default_selection(spec.options("neuron"), info.n_layers, info.n_heads, info.n_kv_heads,
                                          len(capture.ids), d_head)
    except ValueError as exc:      # check() has run before the model; kept for callers that skip it
        raise spec.error("neuron", str(exc)) from None
    kv = key_heads(heads, info.n_heads, info.n_kv_heads)
    try:
        query = query_index(spec.options("neuron").query, capture.tokens)
    except ValueError as exc:
        raise spec.error("neuron.query", str(exc),
                         hint="give a token's position (0 is the first) or its text as the tokenizer splits it") from None
    queries, keys = [], []
    for layer in layers:
        q = capture.activations[hook_name(layer, "attn.hook_q")][heads]
        k = capture.activations[hook_name(layer, "attn.hook_k")][kv]
        queries.append(encode_array(q.astype(np.float64), dtype="uint16"))
        keys.append(encode_array(k.astype(np.float64), dtype="uint16"))
    return {"layers": layers, "heads": heads, "key_heads": kv, "d_head": d_head, "causal": info.causal, "query": query,
            "scales": [float(np.float32(capture.attention_scales[layer])) for layer in layers],
            "queries": queries, "keys": keys}


def metrics(section: dict[str, Any]) -> dict[str, float]:
    """Tracker metrics: layers and heads baked, and the query and key values stored (what the page's size follows)."""
    stored = sum(int(np.prod(array["shape"])) for array in [*section.get("queries", []), *section.get("keys", [])])
    return {"neuron_layers": float(len(section.get("layers", []))), "neuron_heads": float(len(section.get("heads", []))),
            "neuron_stored_values": float(stored)}


METHOD = Method(
    name="neuron",
    views={"neuron": "explorable-neuron-view"},
    section=section,
    needs=Needs(hooks=("blocks.*.attn.hook_q", "blocks.*.attn.hook_k"), adapter=True),
    options=NeuronOptions,
    check=check,
    metrics=metrics,
    parts=("queries", "keys"),     # the view shows one layer: on the site the others come when the reader picks them
    summary=("Inside one head: the query and key vectors behind each attention weight. Needs an adapter entry "
             "naming the attention module (generator/models/adapters.py)."),
)
