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

if TYPE_CHECKING:
    from ..capture import Capture
    from ..spec import ExplorableSpec


def section(spec: "ExplorableSpec", capture: "Capture") -> dict[str, Any]:
    """The attention section of one capture (encoding in this module's docstring)."""
    section = {"values": _weights(capture.attentions)}
    if capture.cross_attentions is not None:
        section["decoder"] = _weights(capture.decoder_attentions)
        section["cross"] = _weights(capture.cross_attentions)
    return section


def _weights(weights: np.ndarray) -> dict[str, Any]:
    return encode_array(np.asarray(weights, dtype=np.float64), dtype="uint16", lo=0.0, hi=1.0, levels=LEVELS,
                        layout="planes", keep_row_sums=True)


METHOD = Method(
    name="attention",
    views={"head": "explorable-head-view", "model": "explorable-model-view"},
    section=section,
    needs=Needs(attention=True),
    encoder_decoder=True,
    summary=("The attention weights of every layer and head: one head's lines between the tokens (head), every "
             "head as a thumbnail (model). The only views for encoder-decoder models."),
)
