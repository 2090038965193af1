"""Attention weights as the head and model views draw them (BertViz's two attention views).

Payload section "attention": `{"values": ARRAY uint8 [L, H, N, N] over [0, 1]}`, the model's own attention
probabilities (`output_attentions`, eager attention), row i of head h in layer l being query i's weights over the
keys j; each row sums to 1 before quantisation. For an encoder-decoder model `values` is the encoder's
self-attention over the source tokens, and two more arrays hold the decoder's side (T = the payload's
`target_tokens`): `"decoder": ARRAY uint8 [L_dec, H_dec, T, T]` (causal self-attention) and
`"cross": ARRAY uint8 [L_dec, H_dec, T, N]` (decoder queries, encoder keys; the model's `cross_attentions`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ..payload import encode_array
from .registry import Method, Needs

if TYPE_CHECKING:
    from ..capture import Capture
    from ..spec import ExplorableSpec


def section(spec: "ExplorableSpec", capture: "Capture") -> dict[str, Any]:
    """The attention section of one capture: the weights quantized to uint8 (max error 1/510)."""
    section = {"values": _weights(capture.attentions)}
    if capture.cross_attentions is not None:
        section["decoder"] = _weights(capture.decoder_attentions)
        section["cross"] = _weights(capture.cross_attentions)
    return section


def _weights(weights: np.ndarray) -> dict[str, Any]:
    return encode_array(np.asarray(weights, dtype=np.float64), dtype="uint8", lo=0.0, hi=1.0)


METHOD = Method(
    name="attention",
    views={"head": "explorable-head-view", "model": "explorable-model-view"},
    section=section,
    needs=Needs(attention=True),
    encoder_decoder=True,
    summary="head and model: the attention weights of every layer and head",
)
