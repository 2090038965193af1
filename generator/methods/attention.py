"""Attention weights as the head and model views draw them (BertViz's two attention views).

Payload section "attention": `{"values": ARRAY uint8 [L, H, N, N] over [0, 1]}`, the model's own attention
probabilities (`output_attentions`, eager attention), row i of head h in layer l being query i's weights over the
keys j; each row sums to 1 before quantisation.
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
    weights = np.asarray(capture.attentions, dtype=np.float64)
    return {"values": encode_array(weights, dtype="uint8", lo=0.0, hi=1.0)}


METHOD = Method(
    name="attention",
    views={"head": "explorable-head-view", "model": "explorable-model-view"},
    section=section,
    needs=Needs(attention=True),
    summary="head and model: the attention weights of every layer and head",
)
