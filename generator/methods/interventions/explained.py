"""The explained output of an intervention, measured on edited runs.

- Causal model: the probability (and log-probability) of one token, the first generated token or the author's
  `target`, predicted after the prompt: the runs read the prompt only (ids [1, n_prompt]) and keep the last
  position's logits.
- Encoder with a sentence pair: the cosine similarity of the two sentences' mean-pooled last hidden states, each
  sentence run on its own (a bi-encoder's reading, as in the saliency and explanations sections); an edit applies
  to both runs.

Every run goes through `ModelRun.run_edit_sets` (edit sets batched, one set per batch row).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import torch

from ...model_run import HookFn, ModelRun

EditSet = Sequence[tuple[str, HookFn]]
# builds the edit sets for one input from that input's clean cache (mean ablation and patching read it)
Builder = Callable[[int], list[EditSet]]
# each edit set's first block, and for each input {block: residual stream entering it in the clean run}
Starts = tuple[Sequence[int], Sequence[Mapping[int, torch.Tensor]]]


@dataclass
class Explained:
    """What is explained and how to run edits on it. `inputs`: the runs of one measurement (one prompt [1, n], or
    the two sentences of a pair), `target`: the explained token id (causal) or None (similarity)."""

    run: ModelRun
    inputs: list[torch.Tensor]
    target: int | None

    @property
    def causal(self) -> bool:
        return self.target is not None

    def log_probs(self, sets: Sequence[EditSet], *, batch_size: int, start: int | None = None,
                  resid: Sequence[torch.Tensor] | None = None, ids: torch.Tensor | None = None,
                  starts: Starts | None = None, from_positions: Sequence[int] | None = None,
                  last_query: bool = False) -> torch.Tensor:
        """Causal: log-softmax of the last position's logits for each edit set: [S, V] float32. `start` with
        `resid` (the residual stream entering block `start` of that input's clean run) skips the blocks below;
        `starts` (each set's first block, and per input the residual streams by block) starts each set's run at
        its own block, many blocks in one batch (`ModelRun.run_edit_sets`). from_positions: the first position
        each set changes; given where the model allows it (`suffix`), each run computes only the positions from
        there (`ModelRun.run_edit_sets(from_positions=...)`), else it is ignored (full runs, the same numbers to
        rounding); last_query, with those suffix runs only, computes the last block at the last position alone
        (`ModelRun.run_edit_sets(last_query=True)`; ignored where `ModelRun.last_query_refusal` refuses it)."""
        ids = self.inputs[0] if ids is None else ids
        begin = (start, resid[0]) if start is not None and start > 0 else None
        if from_positions is not None and not self.suffix(ids):
            from_positions = None
        last_query = last_query and from_positions is not None and self.run.last_query_refusal() is None
        return self.run.run_edit_sets(ids, sets, batch_size=batch_size, logits_to_keep=1, start=begin,
                                      starts=(starts[0], starts[1][0]) if starts is not None else None,
                                      from_positions=from_positions, last_query=last_query,
                                      reduce=lambda logits: torch.log_softmax(logits[:, -1].float(), dim=-1))

    def suffix(self, ids: torch.Tensor | None = None) -> bool:
        """Whether edited runs of `ids` (default: the prompt) may compute only the positions from the first edited
        one: a causal model whose run handle allows it (`ModelRun.suffix_refusal`; encoders never)."""
        ids = self.inputs[0] if ids is None else ids
        return self.causal and self.run.suffix_refusal(int(ids.shape[1])) is None

    def similarity(self, builder: Builder, count: int, *, batch_size: int, start: int | None = None,
                   resid: Sequence[torch.Tensor] | None = None, starts: Starts | None = None) -> torch.Tensor:
        """Encoder pair: cosine similarity of the pooled sentence embeddings under each of `count` edit sets, the
        sets of sentence s built by builder(s): [count] float64."""
        pooled = []
        for index, ids in enumerate(self.inputs):
            sets = builder(index)
            assert len(sets) == count
            begin = (start, resid[index]) if start is not None and start > 0 else None
            own = (starts[0], starts[1][index]) if starts is not None else None
            pooled.append(self.run.run_edit_sets(ids, sets, batch_size=batch_size, start=begin, starts=own,
                                                 reduce=lambda hidden: hidden.float().mean(dim=1)))
        u, v = pooled
        return ((u * v).sum(-1) / (u.norm(dim=-1) * v.norm(dim=-1))).double()

    def measure(self, builder: Builder, count: int, *, batch_size: int, start: int | None = None,
                resid: Sequence[torch.Tensor] | None = None, starts: Starts | None = None) -> torch.Tensor:
        """The explained output under each edit set: causal [count, 2] (log-probability, probability) of the
        target token; similarity [count, 1]. float64."""
        if self.causal:
            logp = self.log_probs(builder(0), batch_size=batch_size, start=start, resid=resid,
                                  starts=starts)[:, self.target]
            logp = logp.double()
            return torch.stack([logp, logp.exp()], dim=-1)
        return self.similarity(builder, count, batch_size=batch_size, start=start, resid=resid,
                               starts=starts)[:, None]

    def clean_cache(self, names: Sequence[str]) -> list[dict[str, torch.Tensor]]:
        """The named activations of each input's unedited run ([1, ...] tensors)."""
        out = []
        for ids in self.inputs:
            _, cache = self.run.run_with_cache(ids, list(names), logits_to_keep=1)
            out.append(dict(cache))
        return out
