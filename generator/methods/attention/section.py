"""The attention payload section: every layer's and head's weights, rows summing to 1 once decoded.

Encoding: uint16 on a grid of 511 steps over [0, 1], rounded row by row with largest remainders, stored as byte
planes (see generator/payload/arrays.py). Each decoded row sums to exactly what the model's row rounds to on the
grid (1), each value is within 1/511 < 0.002 of the model's. Rounding every value to the nearest uint8 level
instead lets the errors of a row add up (up to 0.18 on a 280-token SmolLM2 text); benchmarks/attention_sums.py
measures the alternatives.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...payload import encode_array

LEVELS = 511


def section(spec: Any, loaded: Any, capture: Any) -> dict[str, Any]:
    weights = np.asarray(capture.attentions, dtype=np.float64)
    return {"values": encode_array(weights, dtype="uint16", lo=0.0, hi=1.0, levels=LEVELS, layout="planes",
                                   keep_row_sums=True)}
