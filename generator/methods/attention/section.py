"""The attention payload section: every layer's and head's weights, quantized to uint8 over [0, 1]."""

from __future__ import annotations

from typing import Any

import numpy as np

from ...payload import encode_array


def section(spec: Any, loaded: Any, capture: Any) -> dict[str, Any]:
    weights = np.asarray(capture.attentions, dtype=np.float64)
    return {"values": encode_array(weights, dtype="uint8", lo=0.0, hi=1.0)}
