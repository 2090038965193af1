"""The factorisation itself, as pure numpy/scikit-learn functions (no torch, no payload).

X is the positions x neurons matrix of MLP post-activation values (the input of each down-projection) of the chosen
layers, concatenated in layer order and clipped at zero. NMF finds X ~ W H with W >= 0 ([N, K], how strongly each
factor is present at each position) and H >= 0 ([K, neurons], which neurons make up each factor).

Settings, and why (measured on SmolLM2, 30 layers = 46,080 neurons, ~60 tokens; see benchmarks/factors.py):
- solver "cd" (coordinate descent, scikit-learn's default): converges in far fewer iterations than "mu" here.
- init: NNDSVDa (Boutsidis & Gallopoulos 2008, zeros filled with the mean of X), computed by this module from one
  exact SVD shared by every requested count, then passed as init="custom". scikit-learn's own "nndsvda" runs a
  randomized SVD for each fit (0.22-0.33 s for counts 2, 5, 10 on one thread here, 1-2.9 s on two busy threads);
  the exact SVD of an N x F matrix with N << F, through the N x N Gram matrix, costs 0.035 s for all counts and is
  the same on every machine. Both starts reach the same error. Ecco's default (init="random", max_iter=500) lands in
  worse optima on these matrices (relative error 0.122 vs 0.118 at K=5, 0.104 vs 0.102 at K=10) and runs up to
  500 iterations.
- tol=1e-3, max_iter=400: from this start, tol 1e-3 gives the factors of a fit run to tol 1e-7 (each W column with
  cosine >= 0.999 to its match, same relative error to 1e-5) in 76 and 158 iterations for K=5 and 10, where tol
  1e-5 takes 270-280 and 1e-7 more than 5,000; tol 3e-3 saves 15-30% of the iterations but drifts (cosine 0.995).
  max_iter bounds the worst case; no fit of the curated examples or benchmarks comes near it.
- float32: scikit-learn keeps float32 input in float32, halving memory traffic; errors are computed in float64.
- random_state=0 (only used by scikit-learn for random inits; recorded for reproducibility).
- one BLAS thread: the products are skinny (N x F times F x K, N and K small), so threads gain little, and when other
  processes share the cores OpenBLAS's spinning threads made the fits 2.5x slower (64 tokens x 30 layers, counts
  2/5/10 on a busy 2-core machine: 3.1-3.8 s with one thread, 9.2-9.9 s with two).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Mapping

import numpy as np

from ...hooks import hook_name

SOLVER = "cd"
TOL = 1e-3
MAX_ITER = 400
RANDOM_STATE = 0
SETTINGS = {"solver": SOLVER, "init": "nndsvda", "tol": TOL, "max_iter": MAX_ITER, "random_state": RANDOM_STATE,
            "dtype": "float32"}


def neuron_matrix(mlp_post: Mapping[str, np.ndarray], layers: list[int]) -> np.ndarray:
    """[N, len(layers) * neurons] float32, layers in numeric order (never sorted as strings), clipped at zero."""
    blocks = [np.asarray(mlp_post[hook_name(layer, "mlp.hook_post")], dtype=np.float32) for layer in sorted(layers)]
    return np.maximum(np.concatenate(blocks, axis=1), 0.0)


@dataclass
class Factorisation:
    activations: np.ndarray     # W [N, K] float64: factor k's share of position n's activation vector (L2 size)
    components: np.ndarray      # H [K, F] float64, each row of unit L2 norm: which neurons make up factor k
    error: float                # ||X - W H||_F / ||X||_F
    position_error: np.ndarray  # [N]: the same, per position (row); 0 where the row is all zero
    iterations: int
    converged: bool


class _SVD:
    """Top singular triplets of a wide matrix X [N, F] (N << F), through the N x N Gram matrix, in float64."""

    def __init__(self, X: np.ndarray):
        X64 = X.astype(np.float64)
        eigenvalues, vectors = np.linalg.eigh(X64 @ X64.T)
        order = np.argsort(eigenvalues)[::-1]
        self.s = np.sqrt(np.clip(eigenvalues[order], 0.0, None))
        self.u = vectors[:, order]
        self.X64 = X64
        self._v: np.ndarray | None = None

    def v(self, k: int) -> np.ndarray:
        """Right singular vectors as rows [k, F]; zero rows where the singular value is ~0 (rank below k)."""
        if self._v is None or self._v.shape[0] < k:
            s = self.s[:k]
            alive = s > self.s[0] * 1e-6
            scale = np.divide(1.0, s, out=np.zeros_like(s), where=alive)
            self._v = (self.u[:, :k].T @ self.X64) * scale[:, None]
        return self._v[:k]


def nndsvda(svd: _SVD, k: int, mean: float) -> tuple[np.ndarray, np.ndarray]:
    """Non-negative double SVD start [N, k], [k, F]; sign-invariant, zeros replaced by the mean of X."""
    u, s, v = svd.u[:, :k], svd.s[:k], svd.v(k)
    W = np.zeros((u.shape[0], k))
    H = np.zeros((k, v.shape[1]))
    for j in range(k):
        x, y = u[:, j], v[j]
        if j == 0:
            # The leading singular vectors of a non-negative matrix can be chosen non-negative.
            W[:, 0], H[0] = np.sqrt(s[0]) * np.abs(x), np.sqrt(s[0]) * np.abs(y)
            continue
        parts = []
        for a, b in ((np.maximum(x, 0), np.maximum(y, 0)), (np.maximum(-x, 0), np.maximum(-y, 0))):
            na, nb = np.linalg.norm(a), np.linalg.norm(b)
            parts.append((na * nb, a, b, na, nb))
        size, a, b, na, nb = max(parts, key=lambda part: part[0])
        if size > 0:
            scale = np.sqrt(s[j] * size)
            W[:, j], H[j] = scale * a / na, scale * b / nb
    W[W == 0] = mean
    H[H == 0] = mean
    return W, H


def factorise(X: np.ndarray, counts: list[int]) -> list[Factorisation]:
    """One NMF per count (ascending), all from the same SVD. X must be non-negative, [N, F] with N >= max(counts)."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        return _factorise(X, counts)


def _factorise(X: np.ndarray, counts: list[int]) -> list[Factorisation]:
    from sklearn.decomposition import NMF
    from sklearn.exceptions import ConvergenceWarning

    X = np.ascontiguousarray(X, dtype=np.float32)
    if X.min(initial=0.0) < 0:
        raise ValueError("NMF needs a non-negative matrix: clip the activations first")
    X64 = X.astype(np.float64)
    norm = float(np.linalg.norm(X64))
    svd = _SVD(X)
    mean = float(X64.mean())
    results = []
    for k in counts:
        if norm == 0.0:
            # Nothing to factorise (every neuron value is <= 0): every factor is absent everywhere.
            results.append(Factorisation(np.zeros((X.shape[0], k)), np.zeros((k, X.shape[1])), 0.0,
                                         np.zeros(X.shape[0]), 0, True))
            continue
        W0, H0 = nndsvda(svd, k, mean)
        model = NMF(n_components=k, init="custom", solver=SOLVER, beta_loss="frobenius", tol=TOL,
                    max_iter=MAX_ITER, random_state=RANDOM_STATE)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            W = model.fit_transform(X, W=W0.astype(np.float32), H=H0.astype(np.float32)).astype(np.float64)
        H = model.components_.astype(np.float64)
        results.append(_normalised(W, H, X64, norm, model.n_iter_))
    return results


def _normalised(W: np.ndarray, H: np.ndarray, X64: np.ndarray, norm: float, iterations: int) -> Factorisation:
    """Scale each H row to unit length (folding the scale into W), order factors by size, measure the error."""
    residual = X64 - W @ H
    error = float(np.linalg.norm(residual) / norm)
    rows = np.linalg.norm(X64, axis=1)
    position_error = np.divide(np.linalg.norm(residual, axis=1), rows, out=np.zeros_like(rows), where=rows > 0)
    lengths = np.linalg.norm(H, axis=1)
    W = W * lengths[None, :]
    H = np.divide(H, lengths[:, None], out=np.zeros_like(H), where=lengths[:, None] > 0)
    # Largest rank-one part first: ||W[:, k] H[k]||_F = ||W[:, k]|| once H[k] has unit norm. Stable for ties.
    order = sorted(range(W.shape[1]), key=lambda k: (-round(float(np.linalg.norm(W[:, k])), 9), k))
    return Factorisation(W[:, order], H[order], error, position_error, int(iterations), int(iterations) < MAX_ITER)
