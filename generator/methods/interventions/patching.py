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

Below the last block, every kind starts one block later (`late=True`, exact in exact arithmetic): a restored
residual stream leaving block l is block l + 1's input with position p replaced (`hook_resid_post` of block l is the
tensor block l + 1 reads, `hook_resid_pre`); and where the adapter says a block's output is (input + attention
output) + MLP output (`Adapter.sequential_residual`), a restored MLP output of block l at p is block l + 1's input
with position p replaced by (resid_pre + attn_out) + the donor's mlp_out, from the edited run's cache, the additions
in the model's order. Block l's MLP reads only position p's own stream and the edit comes after the block's
attention, so nothing else of block l changes. Likewise a restored attention output of block l at p, where the
adapter also names the norm the MLP reads (`ModelRun.mlp_branch`): block l + 1's input at p is mid + mlp(norm(mid)),
mid = resid_pre + the donor's attn_out, computed for that one position (block l's other positions are the edited
run's: the edit reaches them neither through the MLP, per position, nor through attention, which comes before it).
All three skip block l's N - p positions (the attention cells less one MLP position): (L - l - 1) (N - p) block-
positions instead of (L - l) (N - p). The numbers differ from the runs started at block l only where the batched
products of block l summed in another order (tests/test_interventions_prefix.py: 1e-6 relative on GPT-2 and Llama).

Only the last position's output is read, so the runs of cells below the last block compute the last block for the
last query alone (`last_query=True`, `ModelRun.run_edit_sets(last_query=True)`): there the other positions are only
keys and values of its attention, so their attention weights, output projection and MLP are skipped, about 0.85 of
the last block's cost at N - p - 1 positions for each run on SmolLM2. The last block's own cells run it whole.
"""

from __future__ import annotations

from typing import Any, Callable

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


def patch_sets(layer: int, positions: int, donor: dict[str, torch.Tensor], n_layers: int | None = None,
               edited: dict[str, torch.Tensor] | None = None,
               branch: Callable[[int, torch.Tensor], torch.Tensor | None] | None = None
               ) -> tuple[list[list[tuple[str, Any]]], list[int]]:
    """One edit set per (kind, position) at `layer`, kinds in POINTS order: the donor's activation at one position;
    and the block each set's run starts at (`layer`). With `n_layers` (and `layer` below the last block), a restored
    residual stream edits block layer + 1's input instead and starts there; with `edited` too (the edited run's
    cache: `hook_resid_pre` and `hook_attn_out` of `layer`, [1, N, d_model]; only for a model whose adapter says
    `sequential_residual`), so does a restored MLP output, its position p of block layer + 1's input being
    (resid_pre + attn_out) + donor mlp_out there; with `branch` too (`ModelRun.mlp_branch`), so does a restored
    attention output, block layer + 1's input at p being branch(resid_pre + donor attn_out) there."""
    sets, starts = [], []
    late = n_layers is not None and layer + 1 < n_layers
    for kind, point in POINTS.items():
        name = hooks.hook_name(layer, point)
        hooked, start, source = name, layer, donor[name]
        if late and kind == "resid":
            hooked, start = hooks.hook_name(layer + 1, "hook_resid_pre"), layer + 1
        elif late and kind == "mlp" and edited is not None:
            middle = edited[hooks.hook_name(layer, "hook_resid_pre")] + edited[hooks.hook_name(layer, "hook_attn_out")]
            hooked, start, source = hooks.hook_name(layer + 1, "hook_resid_pre"), layer + 1, middle + source
        elif late and kind == "attn" and edited is not None and branch is not None:
            output = branch(layer, edited[hooks.hook_name(layer, "hook_resid_pre")] + source)
            if output is not None:
                hooked, start, source = hooks.hook_name(layer + 1, "hook_resid_pre"), layer + 1, output
        sets.extend([[(hooked, _put(position, source))] for position in range(positions)])
        starts.extend([start] * positions)
    return sets, starts


def patching(explained: Explained, contrast_ids: torch.Tensor, *, batch_size: int = 16,
             late: bool = True, last_query: bool = True) -> dict[str, np.ndarray]:
    """Probability of the explained token: {"clean": p, "contrast": p, "restore": [3, L, N], "break": [3, L, N]}
    (kinds in POINTS order: resid, attn, mlp). Causal models; contrast_ids [1, N] as long as the prompt.
    late=False starts every run of layer l at block l; last_query=False computes the last block at every position
    of a run (the module docstring says what each saves; the tests compare both)."""
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
        sequential = late and run.adapter is not None and run.adapter.sequential_residual
        sets, layers = [], []
        for layer in range(n_layers):
            layer_sets, layer_starts = patch_sets(layer, positions, caches[donor], n_layers if late else None,
                                                  caches[edited] if sequential else None, run.mlp_branch)
            sets += layer_sets
            layers += layer_starts
        firsts = [position for _layer in range(n_layers) for _point in POINTS for position in range(positions)]
        # a cell whose donor activation equals the edited run's own (positions before the first token that
        # differs, on a causal model) patches nothing: its value is the edited run's, with no run
        names = [hooks.hook_name(layer, point) for layer in range(n_layers) for point in POINTS.values()]
        same = [torch.equal(caches[donor][name][:, position], caches[edited][name][:, position])
                for name in names for position in range(positions)]
        runs = [index for index, equal in enumerate(same) if not equal]
        resids = {layer: caches[edited][hooks.hook_name(layer, "hook_resid_pre")] for layer in range(1, n_layers)}
        cells = torch.full((len(sets),), probability[edited], dtype=torch.float64)
        # cells of the last block edit it at their position: they run it whole; the others compute it for the
        # last query only (`last_query`)
        groups = [(runs, False)]
        if last_query:
            below = [index for index in runs if index < (n_layers - 1) * len(POINTS) * positions]
            groups = [(below, True), (runs[len(below):], False)]       # runs ascend: the last block's cells last
        for group, cut in groups:
            if not group:
                continue
            logp = explained.log_probs([sets[index] for index in group], batch_size=batch_size, ids=ids,
                                       starts=([layers[index] for index in group], [resids]),
                                       from_positions=[firsts[index] for index in group], last_query=cut)
            cells[torch.tensor(group)] = logp[:, target].double().exp()
        out[direction] = cells.reshape(n_layers, len(POINTS), positions).transpose(0, 1).numpy()
    return out
