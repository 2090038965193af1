"""Attention flow (Abnar & Zuidema 2020): the maximum flow from an output node to each input node of the layered
attention graph, computed with scipy's `maximum_flow` (Dinic's algorithm, C speed).

The graph has one node per (layer l = 0..L, position k); layer 0 is the input tokens. Node (l, k) has an edge to node
(l - 1, j) of capacity Â_l[k, j], the rollout matrix (`attention_maps.residual_attention`: heads averaged, half
identity for the residual, rows renormalised). The flow of input j for output node (l, i) is the maximum flow from
(l, i) to (0, j); the row of flows is normalised to sum to 1, as in the authors' code. A flow is bounded by the
narrowest layer on every path, unlike rollout's products, which is why it spreads the mass more evenly.

scipy takes integer capacities: they are Â scaled by 2^30 and rounded, so each is off by at most 2^-31 and a flow
(the capacity of a minimum cut) by at most (edges in the cut) x 2^-31: under 1e-6 for cuts of up to 2,000 edges, and
a cut never needs more edges than one layer has (N^2). Sums stay below int32's limit because the capacities out of
a node sum to 1 (2^30 scaled).

Why scipy rather than networkx (the authors' library, floats, pure Python): on SmolLM2's 30 layers x 16 tokens,
networkx's Edmonds-Karp took 19 s for every (output, input) pair, scipy 0.11 s; at 64 tokens networkx does not
finish in reasonable time (benchmarks/explanations.py). The graph of an output position i of a causal model holds
positions 0..i only: later positions can neither receive flow from it nor pass any to an earlier input.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

SCALE = 2 ** 30


def check_capacities(augmented: np.ndarray) -> np.ndarray:
    matrices = np.asarray(augmented, dtype=np.float64)
    if matrices.ndim != 3 or matrices.shape[1] != matrices.shape[2] or 0 in matrices.shape:
        raise ValueError(f"capacities must have shape [layers, N, N], got {matrices.shape}")
    if (matrices < 0).any() or (matrices > 1 + 1e-9).any():
        raise ValueError("capacities must lie in [0, 1] (rows of the rollout matrices)")
    return matrices


def flow_graph(augmented: np.ndarray, causal: bool) -> "object":
    """The layered graph as a scipy CSR matrix of int32 capacities, node (l, k) = l * N + k, (L + 1) * N nodes.

    A causal model's matrices are lower triangular, so only edges to j <= k are added; an encoder's are full.
    """
    from scipy.sparse import csr_array

    matrices = check_capacities(augmented)
    layers, n, _ = matrices.shape
    k, j = np.tril_indices(n) if causal else np.indices((n, n)).reshape(2, -1)
    offsets = np.arange(1, layers + 1)[:, None] * n
    rows = (offsets + k[None]).ravel()
    cols = (offsets - n + j[None]).ravel()
    data = np.rint(matrices[:, k, j] * SCALE).astype(np.int32).ravel()
    return csr_array((data, (rows, cols)), shape=((layers + 1) * n, (layers + 1) * n))


def _flows_from(graph: "object", source: int, sinks: Sequence[int]) -> np.ndarray:
    from scipy.sparse.csgraph import maximum_flow

    return np.array([maximum_flow(graph, source, sink, method="dinic").flow_value for sink in sinks],
                    dtype=np.float64) / SCALE


def _normalised(flows: np.ndarray) -> np.ndarray:
    total = flows.sum(axis=-1, keepdims=True)
    return np.divide(flows, total, out=np.zeros_like(flows), where=total > 0)


def flow_rows(augmented: np.ndarray, positions: Sequence[int], *, causal: bool, layers: bool = False
              ) -> tuple[np.ndarray, np.ndarray | None]:
    """Attention flow of the top-layer nodes at `positions`: shares [len(positions), N], rows summing to 1 (zero at
    inputs a causal model cannot reach, j > i).

    With `layers`, also the flow of the node at the same position of every layer l = 1..L: [len(positions), L, N]
    (the last layer repeats the shares), the layer-by-layer map. Raises ValueError for capacities outside [0, 1] or
    a position outside 0..N-1.
    """
    matrices = check_capacities(augmented)
    n_layers, n, _ = matrices.shape
    positions = [int(p) for p in positions]
    if any(not 0 <= p < n for p in positions):
        raise ValueError(f"positions must lie in 0..{n - 1}, got {positions}")
    shares = np.zeros((len(positions), n))
    maps = np.zeros((len(positions), n_layers, n)) if layers else None
    graphs: dict[int, object] = {}
    for row, position in enumerate(positions):
        width = position + 1 if causal else n
        if width not in graphs:
            graphs[width] = flow_graph(matrices[:, :width, :width], causal)
        graph = graphs[width]
        sinks = range(width)
        for layer in (range(1, n_layers + 1) if layers else [n_layers]):
            nodes = (layer + 1) * width
            sub = graph if layer == n_layers else graph[:nodes, :nodes]
            values = _normalised(_flows_from(sub, layer * width + position, sinks))
            if layers:
                maps[row, layer - 1, :width] = values
            if layer == n_layers:
                shares[row, :width] = values
    return shares, maps
