"""Attention editing: the output distribution when the attention *to* one input token is blocked or scaled.

The rule (one, used everywhere): in each edited head, the weight a query gives key j is multiplied by the factor f,
then the query's row is renormalised to sum to 1. That is the softmax with ln f added to key j's score; f = 0 (block)
is the score set to -inf, the masked softmax (tests compare it with one computed from q and k). A row whose only
weight was on j (the first token's own row on a causal model, when j = 0) keeps all-zero weights: the head writes
nothing there. The edit replaces `blocks.{l}.attn.hook_pattern`, so the head's output becomes pattern' @ v
(`generator.model_run`), and the explained prediction is re-read at the prompt's last position.

Scopes: every head of every layer at once; a layer range (every head of layers a..b); single heads [layer, head].
The runs of a scope whose first edited layer is l start at block l from the clean residual stream; all scopes' runs
are batched together with staggered starts (`ModelRun.run_edit_sets(starts=...)`); an edit of key j changes only
queries j.. (a causal model's earlier queries give j no weight), so its runs compute only positions j.. from the
cached keys and values of the clean run (`from_positions`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import torch

from ... import hooks
from .explained import Explained


@dataclass(frozen=True)
class Scope:
    """Where an edit applies: layers first..last (inclusive), every head or one head."""

    first: int
    last: int
    head: int | None = None

    def describe(self) -> dict[str, Any]:
        return {"layers": [self.first, self.last], "head": self.head}


def scale_key(pattern: torch.Tensor, key: int, factor: float, head: int | None = None) -> torch.Tensor:
    """pattern [B, H, N, N] with column `key` multiplied by `factor` in every head (or head `head`), the rows that
    give key some weight renormalised (rows left with no weight stay zero; rows that give it none, the queries
    before key on a causal model, are left bit for bit, so an edited run may start at position key)."""
    edited = pattern.clone()
    part = edited if head is None else edited[:, head:head + 1]
    seen = part[..., key:key + 1] != 0         # rows with no weight on key are left exactly as they are
    part[..., key] *= factor
    sums = part.sum(dim=-1, keepdim=True)
    part.copy_(torch.where(seen & (sums > 0), part / sums.clamp_min(torch.finfo(part.dtype).tiny), part))
    if head is not None:
        edited[:, head:head + 1] = part
    return edited


def edit_set(scope: Scope, key: int, factor: float) -> list[tuple[str, Any]]:
    """The hooks of one edit: every layer of the scope."""
    def fn(pattern: torch.Tensor, hook: Any) -> torch.Tensor:
        return scale_key(pattern, key, factor, scope.head)
    return [(hooks.hook_name(layer, "attn.hook_pattern"), fn) for layer in range(scope.first, scope.last + 1)]


def editing(explained: Explained, scopes: Sequence[Scope], keys: Sequence[int], factors: Sequence[float], *,
            top_k: int, batch_size: int = 16) -> dict[str, np.ndarray]:
    """For each scope s, key j and factor f, the top-k of the explained position's output distribution.

    Causal only. Returns {"base_top": [k] ids, "base_probs": [k], "base_target": scalar,
    "top": [S, J, F, k] ids, "probs": [S, J, F, k], "target": [S, J, F] probability of the explained token}.
    """
    names = sorted({hooks.hook_name(scope.first, "hook_resid_pre") for scope in scopes},
                   key=lambda name: hooks.parse(name)[0])
    cache = explained.clean_cache(names)[0]
    base = explained.log_probs([[]], batch_size=1)[0].exp()
    base_probs, base_top = base.topk(top_k)
    sets = [edit_set(scope, key, factor) for scope in scopes for key in keys for factor in factors]
    layers = [scope.first for scope in scopes for _ in range(len(keys) * len(factors))]
    resids = {hooks.parse(name)[0]: cache[name] for name in names}
    firsts = [key for _scope in scopes for key in keys for _factor in factors]
    out = explained.log_probs(sets, batch_size=batch_size, starts=(layers, [resids]), from_positions=firsts).exp()
    p, top = out.topk(top_k, dim=-1)
    shape = (len(scopes), len(keys), len(factors), top_k)
    return {"base_top": base_top.numpy(), "base_probs": base_probs.double().numpy(),
            "base_target": float(base[explained.target]),
            "top": top.reshape(shape).numpy(), "probs": p.reshape(shape).double().numpy(),
            "target": out[:, explained.target].reshape(shape[:3]).double().numpy()}
