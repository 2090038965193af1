"""Faithfulness of an explanation: does removing the tokens it ranks highest change the output, and do those tokens
alone keep it? Measured on the model, for every method's ranking and for seeded random rankings.

For one explained output with score f (the target: a generated token's logit or probability, or a pair's cosine
similarity) and n candidate input tokens (the inputs before the output, special tokens excepted, which always stay):

- a ranking orders the candidates by a method's shares, largest first (ties: earlier position first);
- step k % (`deletion_steps`) takes the top c_k = min(n, max(1, round_half_up(k n / 100))) tokens of the ranking;
- a token is removed by putting the model's neutral token (`generator.capture.neutral_token`: end-of-text on a
  causal model, [MASK] on an encoder) in its place: positions, attention mask and sequence length stay as they
  were, so the model reads the same number of tokens with the removed ones blanked. (Masking removed tokens out of
  attention instead would leave a causal model's own last position in the residual stream, and gives other
  numbers: the method of removal is part of the result.)
- deletion: f with the top c_k removed, f_k; the deletion curve is f_0 = f(x), f_1, ..., f_K.
  AOPC (Samek et al. 2017) = 1/(K + 1) sum_{k=0..K} (f_0 - f_k): higher is more faithful;
- comprehensiveness (DeYoung et al. 2020, ERASER) = 1/K sum_k (f_0 - f_k), from the same runs (AOPC x (K+1)/K);
- sufficiency (ERASER) = 1/K sum_k (f_0 - f(only the top c_k kept, every other candidate removed)): lower is more
  faithful (the top tokens alone keep the output);
- the random baseline: the same curves for `random_orders` random permutations of the candidates (numpy's
  default_rng seeded with (order, output)), averaged.

The Spearman rank correlation of every pair of methods is taken over the same candidates (scipy.stats.spearmanr;
undefined, NaN, where a method gives all candidates the same share).

Identical inputs (two rankings sharing their top c tokens) are run once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np


@dataclass(frozen=True)
class Faithfulness:
    """Faithfulness of M rankings and the random baseline on T outputs, K steps."""

    values: np.ndarray           # [T] f(x)
    deleted: np.ndarray          # [M + 1, T, K] f with the top c_k removed; row M is the random mean
    kept: np.ndarray             # [M + 1, T, K] f with only the top c_k kept
    counts: np.ndarray           # [T, K] c_k
    candidates: np.ndarray       # [T] n
    aopc: np.ndarray             # [M + 1, T]
    comprehensiveness: np.ndarray  # [M + 1, T]
    sufficiency: np.ndarray      # [M + 1, T]
    spearman: np.ndarray         # [T, M, M], NaN where undefined


def removal_counts(n_candidates: int, steps: Sequence[int]) -> list[int]:
    """c_k = min(n, max(1, round_half_up(k n / 100))) tokens for each percentage k."""
    return [min(n_candidates, max(1, int(np.floor(step * n_candidates / 100 + 0.5)))) for step in steps]


def ranking(shares: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """Positions of the candidates (boolean mask [N]) ordered by share, largest first, ties by position."""
    positions = np.flatnonzero(candidates)
    order = np.lexsort((positions, -np.asarray(shares, dtype=np.float64)[positions]))
    return positions[order]


def random_ranking(candidates: np.ndarray, order: int, output: int) -> np.ndarray:
    """A seeded random permutation of the candidate positions (numpy default_rng((order, output)))."""
    return np.random.default_rng((order, output)).permutation(np.flatnonzero(candidates))


def variant_masks(order: np.ndarray, counts: Sequence[int], width: int) -> tuple[np.ndarray, np.ndarray]:
    """Masks [K, width] of the positions replaced: (deletion: the top c_k; sufficiency: every other candidate)."""
    deleted = np.zeros((len(counts), width), dtype=bool)
    kept = np.zeros((len(counts), width), dtype=bool)
    for k, count in enumerate(counts):
        deleted[k, order[:count]] = True
        kept[k, order[count:]] = True
    return deleted, kept


def summarise(f_input: np.ndarray, deleted: np.ndarray, kept: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(AOPC, comprehensiveness, sufficiency) from f(x) [...] and the curves [..., K]."""
    f_input = np.asarray(f_input, dtype=np.float64)[..., None]
    drops = f_input - np.asarray(deleted, dtype=np.float64)
    steps = drops.shape[-1]
    aopc = drops.sum(axis=-1) / (steps + 1)
    return aopc, drops.mean(axis=-1), (f_input - np.asarray(kept, dtype=np.float64)).mean(axis=-1)


def spearman(shares: np.ndarray) -> np.ndarray:
    """Spearman's rho of every pair of rows of shares [M, n] (scipy.stats.spearmanr): [M, M], NaN where undefined."""
    from scipy.stats import spearmanr

    shares = np.asarray(shares, dtype=np.float64)
    methods = shares.shape[0]
    out = np.full((methods, methods), np.nan)
    if shares.shape[1] < 2:
        return out
    constant = np.ptp(shares, axis=1) == 0
    with np.errstate(invalid="ignore", divide="ignore"):
        for a in range(methods):
            for b in range(a, methods):
                if constant[a] or constant[b]:
                    continue
                rho = 1.0 if a == b else float(spearmanr(shares[a], shares[b]).statistic)
                out[a, b] = out[b, a] = rho
    return out


@dataclass
class Plan:
    """The inputs to run for one output: unique masks, and where every (ranking, step) reads its result."""

    masks: list[np.ndarray]
    deleted_index: np.ndarray    # [M + R, K] -> index into masks
    kept_index: np.ndarray       # [M + R, K]


def plan(orders: list[np.ndarray], counts: Sequence[int], width: int) -> Plan:
    """The unique replacement masks of every ranking's deletion and sufficiency steps."""
    seen: dict[bytes, int] = {}
    masks: list[np.ndarray] = []

    def index(mask: np.ndarray) -> int:
        key = np.packbits(mask).tobytes()
        if key not in seen:
            seen[key] = len(masks)
            masks.append(mask)
        return seen[key]

    deleted_index = np.zeros((len(orders), len(counts)), dtype=np.int64)
    kept_index = np.zeros_like(deleted_index)
    for r, order in enumerate(orders):
        deleted, kept = variant_masks(order, counts, width)
        for k in range(len(counts)):
            deleted_index[r, k] = index(deleted[k])
            kept_index[r, k] = index(kept[k])
    return Plan(masks, deleted_index, kept_index)


def evaluate(shares: dict[str, np.ndarray], candidates: np.ndarray, values: np.ndarray, steps: Sequence[int],
             random_orders: int, run_masks) -> Faithfulness:
    """Faithfulness of every method's shares [T, N] on T outputs.

    candidates [T, N]: the removable inputs of each output; values [T]: f(x); run_masks(t, masks [B, N]) -> [B]:
    f of output t with the masked positions replaced (the model run). Methods keep the order of `shares`.
    """
    names = list(shares)
    n_outputs = candidates.shape[0]
    n_methods, n_steps = len(names), len(steps)
    deleted = np.zeros((n_methods + 1, n_outputs, n_steps))
    kept = np.zeros_like(deleted)
    counts = np.zeros((n_outputs, n_steps), dtype=np.int64)
    rho = np.full((n_outputs, n_methods, n_methods), np.nan)
    for t in range(n_outputs):
        mask = np.asarray(candidates[t], dtype=bool)
        counts[t] = removal_counts(int(mask.sum()), steps)
        orders = [ranking(shares[name][t], mask) for name in names]
        orders += [random_ranking(mask, order, t) for order in range(random_orders)]
        work = plan(orders, counts[t], mask.shape[0])
        results = np.asarray(run_masks(t, np.stack(work.masks)), dtype=np.float64)
        curves_deleted, curves_kept = results[work.deleted_index], results[work.kept_index]   # [M + R, K]
        deleted[:n_methods, t], kept[:n_methods, t] = curves_deleted[:n_methods], curves_kept[:n_methods]
        deleted[n_methods, t] = curves_deleted[n_methods:].mean(axis=0)
        kept[n_methods, t] = curves_kept[n_methods:].mean(axis=0)
        rho[t] = spearman(np.stack([shares[name][t][mask] for name in names]))
    aopc, comprehensiveness, sufficiency = summarise(np.asarray(values)[None, :], deleted, kept)
    return Faithfulness(np.asarray(values, dtype=np.float64), deleted, kept, counts,
                        candidates.sum(axis=1).astype(np.int64), aopc, comprehensiveness, sufficiency, rho)
