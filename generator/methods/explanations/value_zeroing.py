"""Value zeroing (Mohebbi, Zuidema, Chrupała & Alishahi 2023, "Quantifying Context Mixing in Transformers"): how much
each token's output of a layer changes when one token's value vectors are zeroed, by an edit of the model run at
`blocks.{l}.attn.hook_v`.

For layer l and token j, the run is repeated with j's value vectors set to zero in every (key/value) head of that
layer only, so no query reads anything of j through attention there, while j's own residual stream is left alone.
The context-mixing score of token i on token j is the cosine distance between i's output of the layer
(`blocks.{l}.hook_resid_post`) in the original run, x_i, and in the edited one, x_i^{¬j}:

    C_l[i, j] = 1 - cos(x_i, x_i^{¬j}),

zero where the model cannot read j from i (j > i on a causal model: the masked weight is 0, so nothing changes)
and clipped at 0 against rounding; each row is normalised to sum to 1 (the paper's step). One batched run per layer
holds every j as a batch row (the run handle's rows are independent).

Input shares: as in the paper, the layers' maps are aggregated by rollout without an added identity (the residual
is already inside each map), R = C_L ··· C_1; the share of input j for the state at position i is R[i, j]. A causal
model's output t (the token at position p, predicted at p - 1) reads row p - 1; a bi-encoder sentence's pooled
output reads the mean of its rows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

from ...hooks import hook_name

if TYPE_CHECKING:
    from ...model_run import ModelRun


def _zero_own_row(value: torch.Tensor, _hook: object) -> torch.Tensor:
    """Batch row r (of N rows, one per token) with token r's value vectors zeroed: [N, H_kv, N, d_head]."""
    n = value.shape[0]
    keep = 1 - torch.eye(n, dtype=value.dtype, device=value.device)[:, None, :, None]   # [N(r), 1, N(j), 1]
    return value * keep


def mixing_maps(run: "ModelRun", input_ids: torch.Tensor, *, causal: bool) -> np.ndarray:
    """C [L, N, N] float64 for input_ids [N]: C[l, i, j] = 1 - cos(x_i, x_i^{¬j}) at layer l, rows normalised to sum
    to 1 (a row that nothing changes stays zero). Raises `model_run.MissingHookPoint` when the model's adapter
    cannot give the value vectors."""
    n = int(input_ids.shape[0])
    names = [hook_name(layer, "hook_resid_post") for layer in range(run.info.n_layers)]
    _, cache = run.run_with_cache(input_ids[None], names_filter=names, logits_to_keep=1)
    maps = np.zeros((len(names), n, n))
    for layer, name in enumerate(names):
        original = cache[name][0].double()                                                  # [N(i), D]
        _, edited = run.run_with_cache(input_ids[None].expand(n, -1), names_filter=name, logits_to_keep=1,
                                       fwd_hooks=[(hook_name(layer, "attn.hook_v"), _zero_own_row)])
        changed = edited[name].double()                                                     # [N(j), N(i), D]
        cos = torch.nn.functional.cosine_similarity(original[None], changed, dim=-1)         # [N(j), N(i)]
        distance = (1 - cos).T.clamp_min(0).numpy()                                         # [N(i), N(j)]
        if causal:
            distance = np.tril(distance)
        total = distance.sum(axis=-1, keepdims=True)
        maps[layer] = np.divide(distance, total, out=np.zeros_like(distance), where=total > 0)
    return maps


def rollout(maps: np.ndarray) -> np.ndarray:
    """R = C_L ··· C_1 for maps [L, N, N] (no identity added): [N, N]."""
    product = np.eye(maps.shape[-1])
    for matrix in maps:
        product = matrix @ product
    return product


def value_zeroing(run: "ModelRun", input_ids: torch.Tensor, *, causal: bool) -> np.ndarray:
    """Rolled-out value-zeroing shares R [N, N] (row i: the state at position i over the input tokens)."""
    return rollout(mixing_maps(run, input_ids, causal=causal))
