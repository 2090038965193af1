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

Why scipy rather than networkx (the authors' library, floats, pure Python): Dinic's algorithm in compiled code is
two orders of magnitude faster on these graphs (benchmarks/explanations.py measures both on the same case), which
is what makes every output position of a 64-token SmolLM2 input affordable; the price is the integer rounding above.
"""

from __future__ import annotations

import functools
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


@functools.lru_cache(maxsize=64)
def _structure(layers: int, width: int, causal: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """CSR index arrays (indptr, indices) of the layered graph on `width` positions, node (l, k) = l * width + k, and
    the (k, j) pairs whose capacities fill its data, layer after layer: node (l, k) points to (l - 1, j) for every
    j <= k (causal) or every j. Layer 0 has no outgoing edge."""
    k, j = np.tril_indices(width) if causal else np.indices((width, width)).reshape(2, -1)
    per_node = np.bincount(k, minlength=width)
    counts = np.concatenate([np.zeros(width, dtype=np.int64), np.tile(per_node, layers)])
    indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)
    indices = ((np.arange(layers)[:, None] * width) + j[None, :]).ravel().astype(np.int32)
    return indptr, indices, k, j


def flow_graph(augmented: np.ndarray, causal: bool, first: int = 0, last: int | None = None) -> "object":
    """The layered graph of positions first..last (default all) as a scipy CSR matrix of int32 capacities, node
    (l, k) = l * width + (k - first), (L + 1) * width nodes.

    A causal model's matrices are lower triangular, so only edges to j <= k are added; an encoder's are full.
    """
    from scipy.sparse import csr_array

    matrices = check_capacities(augmented)
    layers, n, _ = matrices.shape
    last = n - 1 if last is None else last
    width = last - first + 1
    indptr, indices, k, j = _structure(layers, width, causal)
    data = np.rint(matrices[:, first + k, first + j] * SCALE).astype(np.int32).ravel()
    return csr_array((data, indices, indptr), shape=((layers + 1) * width, (layers + 1) * width))


def _upper_layers_cut(graph: "object", layer: int, width: int) -> "object":
    """The graph of layers 0..layer only (its first (layer + 1) * width nodes, whose edges all stay among them)."""
    from scipy.sparse import csr_array

    nodes = (layer + 1) * width
    end = graph.indptr[nodes]
    return csr_array((graph.data[:end], graph.indices[:end], graph.indptr[:nodes + 1]), shape=(nodes, nodes))


def _flow(graph: "object", source: int, sink: int) -> float:
    from scipy.sparse.csgraph import maximum_flow

    return maximum_flow(graph, source, sink, method="dinic").flow_value / SCALE


def _normalised(flows: np.ndarray) -> np.ndarray:
    total = flows.sum(axis=-1, keepdims=True)
    return np.divide(flows, total, out=np.zeros_like(flows), where=total > 0)


def flow_rows(augmented: np.ndarray, positions: Sequence[int], *, causal: bool, layers: bool = False
              ) -> tuple[np.ndarray, np.ndarray | None]:
    """Attention flow of the top-layer nodes at `positions`: shares [len(positions), N], rows summing to 1 (zero at
    inputs a causal model cannot reach, j > i).

    With `layers`, also the flow of the node at the same position of every layer l = 1..L: [len(positions), L, N]
    (the last layer repeats the shares), the layer-by-layer map; it costs about L / 2 times the shares. Raises
    ValueError for capacities outside [0, 1] or a position outside 0..N-1.

    On a causal graph the flow from position i to input j only ever passes through positions j..i (no edge leads
    to a later position, and none from a position below j back up to j), so each (i, j) pair is solved on that
    block alone: the same maximum flow on a graph a third of the size on average.
    """
    matrices = check_capacities(augmented)
    n_layers, n, _ = matrices.shape
    positions = [int(p) for p in positions]
    if any(not 0 <= p < n for p in positions):
        raise ValueError(f"positions must lie in 0..{n - 1}, got {positions}")
    from_layers = range(1, n_layers + 1) if layers else [n_layers]
    flows = np.zeros((len(positions), len(from_layers), n))
    whole = None if causal else flow_graph(matrices, causal)
    for row, position in enumerate(positions):
        for sink in range(position + 1 if causal else n):
            if causal:
                graph, width, source, target = flow_graph(matrices, True, sink, position), position - sink + 1, \
                    position - sink, 0
            else:
                graph, width, source, target = whole, n, position, sink
            for index, layer in enumerate(from_layers):
                sub = graph if layer == n_layers else _upper_layers_cut(graph, layer, width)
                flows[row, index, sink] = _flow(sub, layer * width + source, target)
    shares = _normalised(flows[:, -1])
    return shares, (_normalised(flows) if layers else None)
