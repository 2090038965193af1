"""Activation patching (causal tracing; Meng et al. 2022, "Locating and Editing Factual Associations in GPT", with a
contrast text in place of their noised subject, as in Vig et al. 2020's causal mediation analysis).

Two runs of the same length: the clean run (the text) and the contrast run (the author's `contrast`). For each
layer l, position p and kind (the residual stream leaving block l, `blocks.{l}.hook_resid_post`; the attention
block's output `hook_attn_out`; the MLP's output `hook_mlp_out`):

- restore ("denoising"): the contrast run with that one activation taken from the clean run;
- break ("noising", the reverse direction): the clean run with that one activation taken from the contrast run;

each measured by the probability of the explained token (the clean run's). The view normalises p to
(p - p_contrast) / (p_clean - p_contrast): 0 = the contrast run, 1 = the clean run. Runs of layer l start at block l
from the residual stream entering it in the run being edited (the blocks below are unchanged); the runs of all
layers are batched together with staggered starts (`ModelRun.run_edit_sets(starts=...)`). On a causal model a
cell (l, p) changes nothing before position p, so its run computes only positions p.. from block l, attending to
the edited run's own cached keys and values before p (`from_positions`): about (L - l) (N - p) / (L N) of a full
run.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ... import hooks
from .explained import Explained

POINTS = {"resid": "hook_resid_post", "attn": "hook_attn_out", "mlp": "hook_mlp_out"}


def _put(position: int, source: torch.Tensor):
    """Hook fn: the activation at `position` replaced by source's ([1, N, D])."""
    def fn(value: torch.Tensor, hook: Any) -> torch.Tensor:
        value = value.clone()
        value[:, position] = source[:, position]
        return value
    return fn


def patch_sets(layer: int, positions: int, donor: dict[str, torch.Tensor]) -> list[list[tuple[str, Any]]]:
    """One edit set per (kind, position) at `layer`, kinds in POINTS order: the donor's activation at one
    position."""
    sets = []
    for point in POINTS.values():
        name = hooks.hook_name(layer, point)
        sets.extend([[(name, _put(position, donor[name]))] for position in range(positions)])
    return sets


def patching(explained: Explained, contrast_ids: torch.Tensor, *, batch_size: int = 16) -> dict[str, np.ndarray]:
    """Probability of the explained token: {"clean": p, "contrast": p, "restore": [3, L, N], "break": [3, L, N]}
    (kinds in POINTS order: resid, attn, mlp). Causal models; contrast_ids [1, N] as long as the prompt."""
    run = explained.run
    clean_ids = explained.inputs[0]
    n_layers, positions = run.info.n_layers, clean_ids.shape[1]
    names = [hooks.hook_name(layer, point) for layer in range(n_layers)
             for point in ("hook_resid_pre", *POINTS.values())]
    caches = {}
    for which, ids in (("clean", clean_ids), ("contrast", contrast_ids)):
        _, cache = run.run_with_cache(ids, names, logits_to_keep=1)
        caches[which] = dict(cache)
    target = explained.target
    probability = {which: float(explained.log_probs([[]], batch_size=1, ids=ids)[0, target].double().exp())
                   for which, ids in (("clean", clean_ids), ("contrast", contrast_ids))}
    out: dict[str, Any] = {"clean": probability["clean"], "contrast": probability["contrast"]}
    for direction, edited, donor, ids in (("restore", "contrast", "clean", contrast_ids),
                                          ("break", "clean", "contrast", clean_ids)):
        sets = [edit for layer in range(n_layers) for edit in patch_sets(layer, positions, caches[donor])]
        layers = [layer for layer in range(n_layers) for _ in range(len(POINTS) * positions)]
        firsts = [position for _layer in range(n_layers) for _point in POINTS for position in range(positions)]
        # a cell whose donor activation equals the edited run's own (positions before the first token that
        # differs, on a causal model) patches nothing: its value is the edited run's, with no run
        names = [hooks.hook_name(layer, point) for layer in range(n_layers) for point in POINTS.values()]
        same = [torch.equal(caches[donor][name][:, position], caches[edited][name][:, position])
                for name in names for position in range(positions)]
        runs = [index for index, equal in enumerate(same) if not equal]
        resids = {layer: caches[edited][hooks.hook_name(layer, "hook_resid_pre")] for layer in range(1, n_layers)}
        cells = torch.full((len(sets),), probability[edited], dtype=torch.float64)
        if runs:
            logp = explained.log_probs([sets[index] for index in runs], batch_size=batch_size, ids=ids,
                                       starts=([layers[index] for index in runs], [resids]),
                                       from_positions=[firsts[index] for index in runs])
            cells[torch.tensor(runs)] = logp[:, target].double().exp()
        out[direction] = cells.reshape(n_layers, len(POINTS), positions).transpose(0, 1).numpy()
    return out
