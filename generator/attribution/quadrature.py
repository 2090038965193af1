"""Quadrature rules for integrated gradients: where on the path x_alpha = alpha * x to take gradients, and weights.

IG_i = x_i * integral_0^1 df/dx_i(alpha x) d alpha  ~=  x_i * sum_k w_k df/dx_i(alpha_k x).

Rules (n nodes each, weights summing to exactly 1):
- "gausslegendre" (the default, as in Captum): Gauss-Legendre nodes and weights mapped from [-1, 1] to [0, 1].
  Exact for polynomials of degree 2n - 1, so the most accurate rule for smooth paths (tiny GPT-2 / BERT:
  completeness gap ~1e-14 at 50 steps, where first-order Riemann rules are ~2 % off); its nodes cluster near both
  ends but never touch alpha = 0.
- "riemann_left", "riemann_right", "riemann_middle": n equal cells of width 1/n, evaluated at the left end,
  right end or middle of each cell, weights 1/n.
- "trapezoid": composite trapezoid on n evenly spaced nodes 0, 1/(n-1), ..., 1; weights 1/(n-1) inside and
  1/(2(n-1)) at both ends.

Not touching alpha = 0 matters for Llama-style models (RoPE, RMSNorm, no absolute position embeddings): zero token
embeddings make a zero residual stream, around which RMSNorm amplifies by ~1/sqrt(eps) per layer. On SmolLM2 the
gradient at alpha = 0 overflows float32 (NaN, so "trapezoid" and "riemann_left" fail there), and f jumps from
exactly 0 to O(10) logits by alpha = 1e-6 (gradient norm ~1e7 there, ~50 at alpha = 1). No rule meets a 1 %
completeness gap on that path at 50 (or 512) steps; the gap is recorded per generated token for the reader.

The first four equal Captum's rules of the same names. Captum's "riemann_trapezoid" takes the same nodes as
"trapezoid" but weights 1/n (halved at the ends), which sum to (n-1)/n: its attributions are those of "trapezoid"
times (n-1)/n, a built-in completeness gap of 1/n (2 % at 50 steps). It is refused here; use "trapezoid".
"""

from __future__ import annotations

import numpy as np

from .checks import check_ig_steps

IG_METHODS = ("gausslegendre", "riemann_left", "riemann_right", "riemann_middle", "trapezoid")
DEFAULT_IG_METHOD = "gausslegendre"


def check_ig_method(method: object) -> str:
    if method == "riemann_trapezoid":
        raise ValueError("ig_method 'riemann_trapezoid' is Captum's rule whose weights sum to (n-1)/n, which "
                         "shrinks every attribution by that factor; use 'trapezoid' (weights sum to 1)")
    if method not in IG_METHODS:
        raise ValueError(f"ig_method must be one of {', '.join(map(repr, IG_METHODS))}, got {method!r}")
    return method  # type: ignore[return-value]


def _legendre_and_derivative(n: int, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """P_n(x) and P_n'(x) by the three-term recurrence (stable on [-1, 1])."""
    previous, current = np.ones_like(x), x.copy()
    for k in range(2, n + 1):
        previous, current = current, ((2 * k - 1) * x * current - (k - 1) * previous) / k
    return current, n * (x * current - previous) / (x * x - 1.0)


def gauss_legendre(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Legendre nodes (increasing) and weights on [-1, 1].

    Golub-Welsch eigenvalues of the Jacobi matrix as a start, then Newton steps on P_n; weights
    2 / ((1 - x^2) P_n'(x)^2). Same values as numpy's leggauss, but fast for n in the hundreds (leggauss takes
    seconds at n = 512).
    """
    k = np.arange(1, n, dtype=np.float64)
    off_diagonal = k / np.sqrt(4.0 * k * k - 1.0)
    x = np.linalg.eigvalsh(np.diag(off_diagonal, 1) + np.diag(off_diagonal, -1))
    for _ in range(3):
        p, dp = _legendre_and_derivative(n, x)
        x = x - p / dp
    _, dp = _legendre_and_derivative(n, x)
    x = (x - x[::-1]) / 2.0  # exact symmetry about 0
    weights = 2.0 / ((1.0 - x * x) * dp * dp)
    return x, (weights + weights[::-1]) / 2.0


def ig_rule(method: str, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes alpha_k in [0, 1] (increasing) and weights w_k (float64 arrays of length `steps`, weights sum to 1)."""
    method = check_ig_method(method)
    n = check_ig_steps(steps)
    k = np.arange(n, dtype=np.float64)
    if method == "gausslegendre":
        nodes, weights = gauss_legendre(n)
        return (nodes + 1.0) / 2.0, weights / 2.0
    if method == "trapezoid":
        weights = np.full(n, 1.0 / (n - 1))
        weights[[0, -1]] /= 2.0
        return k / (n - 1), weights
    offset = {"riemann_left": 0.0, "riemann_right": 1.0, "riemann_middle": 0.5}[method]
    return (k + offset) / n, np.full(n, 1.0 / n)
