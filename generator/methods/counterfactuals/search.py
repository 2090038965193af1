"""The smallest edit that changes the answer (after MiCE, Ross et al. 2021, with HotFlip's candidates instead of an
editor model), every step recorded.

Inputs: positions ranked (the most salient first for the minimal edit; the least salient half for the adversarial
one), and for each position its candidate replacements with their first-order estimates (`hotflip.best`).

- An *edit set* changes some of the first k ranked positions, each to one of its candidates. Step k verifies, in
  batched forward passes, up to `allot` edit sets over the first k positions: the ones with the most negative summed
  first-order estimate (a best-first enumeration of the sums; all of them when there are no more than `allot`).
- The search first verifies k = K (all positions), `allot` sets at a time, until one flips or only the binary
  search's share of the budget is left. No flip there: the result is "no flip within the budget", a result like any
  other. Otherwise a binary search over k (lo = 1, hi = K) finds the smallest k at which a verified set flips the
  answer, `allot` sets per step. `allot` = budget // (1 + ceil(log2 K)), so the search never runs more than
  `budget` forwards.
- The reported edit is, over every flipping set verified at any step, the one with the fewest changed positions,
  then the lowest score.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .target import Evaluation, Target


@dataclass(frozen=True)
class Edit:
    """Replacements (position, old id, new id), by position, and their summed first-order estimate."""

    changes: tuple[tuple[int, int, int], ...]
    estimate: float

    @property
    def size(self) -> int:
        return len(self.changes)


@dataclass
class Verified:
    edit: Edit
    score: float
    flipped: bool
    top_ids: list[int] | None = None
    top_probs: list[float] | None = None
    prob: float | None = None


@dataclass
class Step:
    k: int
    tried: int
    flips: int
    best: Verified


@dataclass
class SearchResult:
    positions: list[int]
    steps: list[Step] = field(default_factory=list)
    result: Verified | None = None
    forwards: int = 0
    verified: list[Verified] = field(default_factory=list)   # every set verified, in order


def edit_sets(row: np.ndarray, positions: list[int], options: list[tuple[np.ndarray, np.ndarray]], limit: int
              ) -> list[Edit]:
    """Up to `limit` non-empty edit sets over `positions` (each position unchanged or one of its candidates
    options[j] = (ids, estimates)), lowest summed estimate first (ties: enumeration order, deterministic)."""
    choices = []   # per position: [(estimate, new id or -1 for unchanged)], ascending
    for ids, values in options:
        entries = [(0.0, -1)] + [(float(v), int(i)) for i, v in zip(ids, values)]
        entries.sort(key=lambda e: (e[0], e[1]))
        choices.append(entries)
    start = (0,) * len(choices)
    total = lambda index: sum(choices[j][k][0] for j, k in enumerate(index))   # noqa: E731
    heap = [(total(start), start)]
    seen = {start}
    out: list[Edit] = []
    while heap and len(out) < limit:
        value, index = heapq.heappop(heap)
        changes = tuple((positions[j], int(row[positions[j]]), choices[j][k][1])
                        for j, k in enumerate(index) if choices[j][k][1] >= 0)
        if changes:
            out.append(Edit(tuple(sorted(changes)), value))
        for j in range(len(index)):
            if index[j] + 1 < len(choices[j]):
                nxt = index[:j] + (index[j] + 1,) + index[j + 1:]
                if nxt not in seen:
                    seen.add(nxt)
                    heapq.heappush(heap, (total(nxt), nxt))
    return out


def apply(row: np.ndarray, edit: Edit) -> np.ndarray:
    out = np.array(row, copy=True)
    for position, _, new in edit.changes:
        out[position] = new
    return out


def verify(target: Target, row: np.ndarray, edits: list[Edit]) -> list[Verified]:
    """One batched evaluation of the edited rows."""
    if not edits:
        return []
    result: Evaluation = target.evaluate(np.stack([apply(row, e) for e in edits]))
    out = []
    for b, edit in enumerate(edits):
        out.append(Verified(edit, float(result.score[b]), bool(result.flipped[b]),
                            None if result.top_ids is None else [int(i) for i in result.top_ids[b]],
                            None if result.top_probs is None else [float(p) for p in result.top_probs[b]],
                            None if result.prob is None else float(result.prob[b])))
    return out


def _order(v: Verified) -> tuple[Any, ...]:
    return (not v.flipped, v.edit.size if v.flipped else 0, v.score, v.edit.changes)


def search(target: Target, positions: list[int], options: list[tuple[np.ndarray, np.ndarray]], budget: int
           ) -> SearchResult:
    """Binary search over the number of edited positions (module docstring). positions: ranked, K of them;
    options[j]: (candidate ids, estimates) of positions[j]; budget: most forwards verified."""
    row = target.row.numpy()
    out = SearchResult(list(positions))
    if not positions:
        return out
    top = len(positions)
    allot = max(1, budget // (1 + math.ceil(math.log2(top))) if top > 1 else budget)

    reserve = allot * (math.ceil(math.log2(top)) if top > 1 else 0)   # what a binary search after k = K needs

    def step(k: int, limit: int) -> bool:
        edits = edit_sets(row, positions[:k], options[:k], limit)
        checked: list[Verified] = []
        flips = 0
        for start in range(0, len(edits), allot):              # one batch of `allot` at a time
            batch = verify(target, row, edits[start:start + allot])
            checked.extend(batch)
            flips += sum(v.flipped for v in batch)
            if flips:
                break
        out.forwards += len(checked)
        out.verified.extend(checked)
        if not checked:
            return False
        out.steps.append(Step(k, len(checked), flips, min(checked, key=_order)))
        return bool(flips)

    # k = K: `allot` sets, and while none flips, more of them as long as the binary search's share stays free
    if step(top, max(allot, budget - reserve)):
        lo, hi = 1, top
        while lo < hi:
            mid = (lo + hi) // 2
            if step(mid, min(allot, budget - out.forwards)):
                hi = mid
            else:
                lo = mid + 1
    flips = [v for v in out.verified if v.flipped]
    out.result = min(flips, key=_order) if flips else None
    return out
