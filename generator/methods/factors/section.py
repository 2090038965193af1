"""The "factors" payload section: NMF of the MLP neuron values of the chosen layers, for each requested count.

    {"layers": [0, ..., 29], "neurons_per_layer": 1536, "settings": {...},
     "runs": [{"count": K, "activations": ARRAY uint16 [N, K] over [0, max], "error": 0.0936, "iterations": 58,
               "position_error": ARRAY uint8 [N] over [0, 1], "top_neurons": [[[layer, index, weight], ... up to 20,
               strongest first], ... one list per factor]}]}

Factors are ordered by size (largest rank-one part first). Each factor's neuron weights (H row) have unit L2 norm,
so an activation is the L2 size of that factor's part of the position's neuron-value vector.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ...payload import encode_array
from ..registry import Method, Needs
from .nmf import SETTINGS, factorise, neuron_matrix
from .options import FactorOptions

if TYPE_CHECKING:
    from ...capture import Capture
    from ...models.facts import ModelInfo
    from ...spec import SpecBase

TOP_NEURONS = 20


def _layers(spec: "SpecBase", n_layers: int) -> list[int]:
    options = spec.options("factors")
    try:
        return options.layer_indices(n_layers)
    except ValueError as exc:
        raise spec.error("factors.layers", str(exc),
                         hint=f"use 'all', one layer from 0 to {n_layers - 1}, or a range such as "
                              f"'0-{n_layers - 1}'") from None


def _check_counts(spec: "SpecBase", n_positions: int) -> list[int]:
    counts = spec.options("factors").counts
    too_many = [count for count in counts if count > n_positions]
    if too_many:
        raise spec.error("factors.counts",
                         f"{max(too_many)} factors asked for, but the text has only {n_positions} tokens",
                         hint=f"each count must be from 1 to {n_positions} (the number of tokens): a factorisation "
                              "cannot have more factors than positions")
    return counts


def top_neurons(row: np.ndarray, layers: list[int], width: int, count: int = TOP_NEURONS) -> list[list]:
    """The `count` largest weights of one factor as [layer, index in layer, weight], strongest first."""
    count = min(count, row.size)
    picked = np.argpartition(-row, count - 1)[:count] if count < row.size else np.arange(row.size)
    # Strongest first; equal weights by position (so the order never depends on the partition algorithm).
    picked = sorted(picked.tolist(), key=lambda j: (-row[j], j))
    return [[layers[j // width], j % width, round(float(row[j]), 4)] for j in picked if row[j] > 0]


def check(spec: "SpecBase", model: "ModelInfo", n_tokens: int | None = None) -> None:
    """The layers exist in the model; no more factors than tokens (when the token count is known before the run)."""
    _layers(spec, model.n_layers)
    if n_tokens is not None:
        _check_counts(spec, n_tokens)


def section(spec: "SpecBase", capture: "Capture") -> dict[str, Any]:
    """The factors section of one capture (layout in this module's docstring).

    Raises SpecError on `factors.layers` for a layer outside the model and on `factors.counts` for more factors
    than tokens.
    """
    layers = _layers(spec, capture.info.n_layers)
    counts = _check_counts(spec, len(capture.ids))
    X = neuron_matrix(capture.activations, layers)
    width = X.shape[1] // len(layers)
    runs = []
    for count, result in zip(counts, factorise(X, counts)):
        W = result.activations
        runs.append({
            "count": count,
            "activations": encode_array(W, dtype="uint16", lo=0.0, hi=float(W.max()) if W.size else 1.0),
            "error": round(result.error, 4),
            "position_error": encode_array(result.position_error, dtype="uint8", lo=0.0,
                                           hi=max(1.0, float(result.position_error.max(initial=0.0)))),
            "iterations": result.iterations,
            "top_neurons": [top_neurons(row, layers, width) for row in result.components],
        })
    return {"layers": layers, "neurons_per_layer": width, "settings": SETTINGS, "runs": runs}


def metrics(section: dict[str, Any]) -> dict[str, float]:
    """Tracker metrics: NMF's relative reconstruction error and iterations for each factor count."""
    out = {}
    for run in section.get("runs", []):
        out[f"nmf_error_k{run['count']}"] = float(run["error"])
        out[f"nmf_iterations_k{run['count']}"] = float(run["iterations"])
    return out


METHOD = Method(
    name="factors",
    views={"factors": "explorable-factor-view"},
    section=section,
    needs=Needs(hooks=("blocks.*.mlp.hook_post",), adapter=True),
    options=FactorOptions,
    check=check,
    metrics=metrics,
    summary="Groups of MLP neurons that fire together, and where: a non-negative factorisation of the neuron values.",
)
