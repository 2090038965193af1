"""Counterfactual attention (Jain & Wallace 2019, "Attention is not Explanation"): at the explained position q (the
last input position, where the explained token is predicted), replace the attention row of every head of one layer
(each layer in turn, then all layers at once) by

- a seeded permutation of itself over the keys it may see (0..q; numpy default_rng((seed, layer, r)) per
  permutation r, one permutation per head), or
- the uniform distribution over those keys,

through a `blocks.{l}.attn.hook_pattern` edit (the output is then pattern' @ v, `generator.model_run`), and measure
how the output distribution at q moves: total variation distance TVD = 1/2 sum_v |p'(v) - p(v)| (Jain & Wallace's
measure), the change of the explained token's probability, and whether the top-1 changes. Over the permutations of
a layer: median, quartiles (numpy's linear interpolation) and maximum.

All (L + 1) x (P + 1) edited runs go through `ModelRun.run_edit_sets`, batched, keeping the last position's logits.
Only row q changes, so on a causal model (`ModelRun.suffix_refusal`) a run that edits layer l computes position q
alone from block l, attending to the clean run's cached keys and values of positions < q (`from_positions`), all
scopes in one batch with staggered starts: about (L - l) / (L N) of a full run. Otherwise the runs that edit one
layer l go in groups of consecutive layers (about GROUP_ROWS runs a group, so batches stay large), each group
starting at its lowest layer from the clean run's residual stream (`start=(l, resid_pre)`: nothing below it
changes), so a group costs (L - l) / L of full runs.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import torch

from ...hooks import hook_name
from .target import Target

BATCH_TOKENS = 2048
GROUP_ROWS = 64        # edited runs per group of one-layer scopes that start at the group's lowest layer
SUFFIX_ROWS = 256      # edited runs a batch when each computes the explained position alone


def permutation(seed: int, layer: int, r: int, heads: int, width: int) -> np.ndarray:
    """[heads, width]: one seeded permutation of range(width) per head."""
    rng = np.random.default_rng((seed, layer, r))
    return np.stack([rng.permutation(width) for _ in range(heads)])


def _permute(q: int, order: np.ndarray) -> Callable[[torch.Tensor, Any], torch.Tensor]:
    index = torch.as_tensor(order, dtype=torch.long)

    def edit(pattern: torch.Tensor, hook: Any) -> torch.Tensor:
        out = pattern.clone()
        rows = pattern[:, :, q, :q + 1]                                  # [1, H, q + 1]
        out[:, :, q, :q + 1] = torch.gather(rows, 2, index[None].expand_as(rows))
        return out
    return edit


def _uniform(q: int) -> Callable[[torch.Tensor, Any], torch.Tensor]:
    def edit(pattern: torch.Tensor, hook: Any) -> torch.Tensor:
        out = pattern.clone()
        out[:, :, q, :] = 0
        out[:, :, q, :q + 1] = 1.0 / (q + 1)
        return out
    return edit


def _grouped(run: Any, row: torch.Tensor, cache: Any, scopes: list[int], edit_sets: Callable[[int], list],
             permutations: int, batch: int, reduce: Callable[[torch.Tensor], torch.Tensor]) -> dict[int, torch.Tensor]:
    """Full-length runs (a model without the suffix shortcut): the one-layer scopes in groups of consecutive layers
    (about GROUP_ROWS edited runs a group), each group's runs starting at its lowest layer; the all-layer scope
    from the embedding, with the lowest group. Returns scope -> [P + 1, V] output distributions."""
    layers = len(scopes) - 1
    size = max(1, -(-GROUP_ROWS // (permutations + 1)))
    groups = [list(range(i, min(i + size, layers))) for i in range(0, layers, size)]
    groups[0] = groups[0] + [layers]
    found: dict[int, torch.Tensor] = {}
    for group in groups:
        first = min(group)
        start = (first, cache[hook_name(first, "hook_resid_pre")]) if first > 0 else None
        sets = [edit for scope in group for edit in edit_sets(scope)]
        out = run.run_edit_sets(row[None], sets, batch_size=batch, reduce=reduce, logits_to_keep=1, start=start)
        for k, scope in enumerate(group):
            found[scope] = out[k * (permutations + 1):(k + 1) * (permutations + 1)]
    return found


def _spread(values: np.ndarray) -> dict[str, float]:
    q25, median, q75 = np.percentile(values, [25, 50, 75])
    return {"median": float(median), "q25": float(q25), "q75": float(q75), "max": float(values.max()),
            "min": float(values.min())}


def counterfactual_attention(target: Target, permutations: int, seed: int) -> dict[str, Any]:
    """Per layer (and "all" layers): the spread of TVD and of the change of p(y) over `permutations` seeded
    permutations, the share that change the top-1, and the same three for the uniform row.

    Returns {"position": q, "layers": L, "heads": H, "permutations": P, "seed": seed, "prob": p(y),
    "permuted": [L + 1 records {"tvd": spread, "dprob": spread, "flips": share}], "uniform": [L + 1 records
    {"tvd", "dprob", "flipped"}]}; entry L is all layers at once."""
    run, info = target.run, target.run.info
    layers, heads = info.n_layers, info.n_heads
    row = target.row
    q = int(row.shape[0]) - 1
    orders = {(layer, r): permutation(seed, layer, r, heads, q + 1) for layer in range(layers) for r in range(permutations)}
    reduce = lambda logits: torch.softmax(logits[:, -1].double(), dim=-1)   # noqa: E731
    batch = max(1, BATCH_TOKENS // (q + 1))
    scopes = list(range(layers + 1))                       # scope l < L: layer l alone; scope L: all layers

    def edit_sets(scope: int) -> list[list[tuple[str, Any]]]:
        chosen = range(layers) if scope == layers else [scope]
        sets = [[(hook_name(layer, "attn.hook_pattern"), _permute(q, orders[(layer, r)])) for layer in chosen]
                for r in range(permutations)]
        sets.append([(hook_name(layer, "attn.hook_pattern"), _uniform(q)) for layer in chosen])
        return sets

    # the clean run, keeping the residual stream entering each block
    logits, cache = run.run_with_cache(row[None], names_filter=[hook_name(layer, "hook_resid_pre")
                                                                for layer in range(1, layers)], logits_to_keep=1)
    if run.suffix_refusal(q + 1) is None:
        # only position q changes: every scope's runs compute position q alone from the scope's lowest block,
        # attending to the clean run's cached keys and values, all scopes in one batch (staggered starts)
        sets = [edit for scope in scopes for edit in edit_sets(scope)]
        firsts = [0 if scope == layers else scope for scope in scopes for _ in range(permutations + 1)]
        resids = {layer: cache[hook_name(layer, "hook_resid_pre")] for layer in range(1, layers)}
        out = run.run_edit_sets(row[None], sets, batch_size=max(1, SUFFIX_ROWS // (q + 1)), reduce=reduce,
                                logits_to_keep=1, starts=(firsts, resids), from_positions=[q] * len(sets))
        found = {scope: out[k * (permutations + 1):(k + 1) * (permutations + 1)] for k, scope in enumerate(scopes)}
    else:
        found = _grouped(run, row, cache, scopes, edit_sets, permutations, batch, reduce)
    probs = torch.cat([reduce(logits)] + [found[scope] for scope in scopes])

    target.forwards += 1 + (layers + 1) * (permutations + 1)
    base = probs[0]
    y = target.output_id
    tvd = 0.5 * (probs[1:] - base).abs().sum(-1).numpy().reshape(layers + 1, permutations + 1)
    dprob = (probs[1:, y] - base[y]).numpy().reshape(layers + 1, permutations + 1)
    flipped = (probs[1:].argmax(-1) != y).numpy().reshape(layers + 1, permutations + 1)
    return {
        "position": q, "layers": layers, "heads": heads, "permutations": permutations, "seed": seed,
        "prob": float(base[y]),
        "permuted": [{"tvd": _spread(tvd[s, :-1]), "dprob": _spread(dprob[s, :-1]),
                      "flips": float(flipped[s, :-1].mean())} for s in range(layers + 1)],
        "uniform": [{"tvd": float(tvd[s, -1]), "dprob": float(dprob[s, -1]), "flipped": bool(flipped[s, -1])}
                    for s in range(layers + 1)],
    }
