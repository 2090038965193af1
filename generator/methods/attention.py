"""Attention weights as the head and model views draw them (BertViz's two attention views).

Payload section "attention": `{"values": ARRAY [L, H, N, N] over [0, 1]}`, the model's own attention probabilities
(`output_attentions`, eager attention), row i of head h in layer l being query i's weights over the keys j. For an
encoder-decoder model `values` is the encoder's self-attention over the source tokens, and two more arrays hold the
decoder's side (T = the payload's `target_tokens`): `"decoder": ARRAY [L_dec, H_dec, T, T]` (causal
self-attention) and `"cross": ARRAY [L_dec, H_dec, T, N]` (decoder queries, encoder keys: the model's
`cross_attentions`).

Encoding (every array): uint16 on a grid of 511 steps over [0, 1], rounded row by row with largest remainders,
stored as byte planes (see generator/payload/arrays.py). Each decoded row sums to exactly what the model's row rounds
to on the grid (1), each value is within 1/511 < 0.002 of the model's. Rounding every value to the nearest uint8
level instead lets the errors of a row add up (up to 0.18 on a 280-token SmolLM2 text); benchmarks/attention_sums.py
measures the alternatives.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ..payload import encode_array
from .registry import Method, Needs

LEVELS = 511
# The most attention weights one block may hold: the page decodes every map of every layer and head into one
# Float32Array (4 bytes a weight), so this bounds the reader's memory at 512 MB and the bake's at about 1.5 GB.
# SmolLM2 (30 layers x 9 heads) reaches it at 704 tokens; benchmarks/long_inputs.py measures bytes and memory.
MAX_WEIGHTS = 1 << 27

if TYPE_CHECKING:
    from ..capture import Capture
    from ..models.facts import ModelInfo
    from ..spec import ExplorableSpec


def weight_count(info: "ModelInfo", n_tokens: int) -> int:
    """The attention weights a payload holds for `n_tokens` tokens: L x H x N^2, plus, on an encoder-decoder model
    (N source tokens at most, T = n_tokens target tokens at most), its decoder's self- and cross-attention."""
    count = info.n_layers * info.n_heads * n_tokens * n_tokens
    if info.encoder_decoder:
        count += info.n_decoder_layers * info.n_decoder_heads * 2 * n_tokens * n_tokens
    return count


def longest(info: "ModelInfo") -> int:
    """The most tokens (prompt plus generated) the head and model views read on this model (MAX_WEIGHTS)."""
    n = int((MAX_WEIGHTS / max(1, weight_count(info, 1))) ** 0.5)
    while weight_count(info, n + 1) <= MAX_WEIGHTS:
        n += 1
    while n > 1 and weight_count(info, n) > MAX_WEIGHTS:
        n -= 1
    return n


def check(spec: "ExplorableSpec", info: "ModelInfo", n_tokens: int | None = None) -> None:
    """A text too long for the views: every layer's and head's N x N map is in the page (SpecError on `text` or
    `pair`, saying the limit and why)."""
    if n_tokens is None or weight_count(info, n_tokens) <= MAX_WEIGHTS:
        return
    limit = longest(info)
    views = " and ".join(view for view in spec.shown_views if view in METHOD.views)
    raise spec.error("text" if spec.text is not None else "pair",
                     f"the {views} view{'s' if ' and ' in views else ''} read at most {limit} tokens on {info.label}: "
                     f"they hold every layer's and head's map of N x N weights ({info.n_layers} x {info.n_heads} "
                     f"maps), and {n_tokens} tokens would make {weight_count(info, n_tokens) / 1e6:,.0f} million "
                     f"weights, more than a reader's browser can decode ({MAX_WEIGHTS / 1e6:,.0f} million)",
                     hint=f"shorten the text to {limit} tokens, or show views that keep less per token (layers, "
                          "ranks, probabilities, saliency)")


def section(spec: "ExplorableSpec", capture: "Capture") -> dict[str, Any]:
    """The attention section of one capture (encoding in this module's docstring)."""
    section = {"values": _weights(capture.attentions)}
    if capture.cross_attentions is not None:
        section["decoder"] = _weights(capture.decoder_attentions)
        section["cross"] = _weights(capture.cross_attentions)
    return section


def _weights(weights: np.ndarray) -> dict[str, Any]:
    weights = np.asarray(weights)      # float32 as captured: encode_array widens one layer at a time
    return encode_array(weights if weights.dtype == np.float32 else weights.astype(np.float64), dtype="uint16", lo=0.0, hi=1.0, levels=LEVELS,
                        layout="planes", keep_row_sums=True)


METHOD = Method(
    name="attention",
    views={"head": "explorable-head-view", "model": "explorable-model-view"},
    section=section,
    needs=Needs(hooks=("blocks.*.attn.hook_pattern",)),
    check=check,
    encoder_decoder=True,
    summary=("The attention weights of every layer and head: one head's lines between the tokens (head), every "
             "head as a thumbnail (model). The only views for encoder-decoder models."),
)
