"""The explained output and every model run of this package, through the run handle (`generator.model_run`).

An input is one flat row of token ids: a causal model's prompt up to the explained token (the token at position
p = n_prompt + output is predicted at p - 1 from ids[:p]), or a pair's two sentences, A's tokens then B's, each
read on its own with its own special tokens (as a bi-encoder reads them).

- causal: the score is log p(y) of the explained token y at the last position; an input *flips* the answer when the
  model's top-1 there is no longer y;
- pair: the score is the cosine similarity of the mean-pooled sentence embeddings; an input flips the answer when
  it falls below the spec's threshold.

`gradient(row)` is d score / d input embeddings, [n, D], taken through `ModelRun.run_with_hooks(inputs_embeds=...,
grad=True)`; `evaluate(rows)` runs rows [B, n] in batches of `batch_tokens` tokens without gradients.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from .attribution import causal_scores, embedding_table, pair_scores

if TYPE_CHECKING:
    from ...capture import Capture
    from ...model_run import ModelRun

BATCH_TOKENS = 2048
TOP_K = 5


@dataclass
class Evaluation:
    """Scores of B inputs: score [B] (log p(y) or cosine similarity), flipped [B] (bool), and for a causal model the
    top-k next tokens [B, k] with their probabilities [B, k] and p(y) [B]."""

    score: np.ndarray
    flipped: np.ndarray
    top_ids: np.ndarray | None = None
    top_probs: np.ndarray | None = None
    prob: np.ndarray | None = None


class Target:
    """The explained output of one capture. `row`: the original input (int64 [n]); `split`: where sentence B starts
    (pair) or n (causal); `forwards`: rows evaluated so far (the search's budget counts them)."""

    def __init__(self, capture: "Capture", output: int, threshold: float):
        self.run: "ModelRun" = capture.model_run
        self.model = self.run.model
        self.causal = bool(capture.info.causal)
        self.threshold = float(threshold)
        self.forwards = 0
        if self.causal:
            ids = capture.input_ids[0].long()
            self.position = int(capture.n_prompt) + int(output)
            self.output_id = int(ids[self.position])
            self.row = ids[:self.position].clone()
            self.split = int(self.row.shape[0])
        else:
            a, b = capture.sentences
            self.row = torch.cat([a.input_ids.long(), b.input_ids.long()])
            self.split = int(a.input_ids.shape[0])
            self.position = None
            self.output_id = None
        self.table = embedding_table(self.model).weight.detach()

    # -- scores ---------------------------------------------------------------------------------------------------

    def evaluate(self, rows: torch.Tensor | np.ndarray, split: int | None = None) -> Evaluation:
        """Scores of rows [B, n] (edited copies of `row`, or another version whose sentence B starts at `split`);
        counts B forwards."""
        split = self.split if split is None else int(split)
        rows = torch.as_tensor(np.asarray(rows), dtype=torch.long)
        if rows.ndim == 1:
            rows = rows[None]
        self.forwards += rows.shape[0]
        per = max(1, BATCH_TOKENS // rows.shape[1])
        if self.causal:
            logits = torch.cat([self.run.run_with_hooks(rows[s:s + per], logits_to_keep=1)[:, -1].float()
                                for s in range(0, rows.shape[0], per)])
            logp = torch.log_softmax(logits.double(), dim=-1)
            top = logp.topk(TOP_K, dim=-1)
            score = logp[:, self.output_id]
            return Evaluation(score.numpy(), (top.indices[:, 0] != self.output_id).numpy(), top.indices.numpy(),
                              top.values.exp().numpy(), score.exp().numpy())
        u = self._pooled(rows[:, :split], per)
        v = self._pooled(rows[:, split:], per)
        score = ((u * v).sum(-1) / (u.norm(dim=-1) * v.norm(dim=-1))).numpy()
        return Evaluation(score, score < self.threshold)

    def _pooled(self, rows: torch.Tensor, per: int) -> torch.Tensor:
        unique, inverse = torch.unique(rows, dim=0, return_inverse=True)
        pooled = torch.cat([self.run.run_with_hooks(unique[s:s + per]).double().mean(dim=1)
                            for s in range(0, unique.shape[0], per)])
        return pooled[inverse]

    # -- gradients ------------------------------------------------------------------------------------------------

    def gradient(self, row: torch.Tensor | None = None) -> torch.Tensor:
        """d score / d x for the input embeddings x of `row` (default the original): [n, D] float64."""
        row = self.row if row is None else row
        x = self.table[row].clone().requires_grad_(True)
        params = [(p, p.requires_grad) for p in self.model.parameters()]
        for p, _ in params:
            p.requires_grad_(False)
        try:
            if self.causal:
                logits = self.run.run_with_hooks(inputs_embeds=x[None], grad=True, logits_to_keep=1)[0, -1]
                score = torch.log_softmax(logits.double(), dim=-1)[self.output_id]
            else:
                u = self.run.run_with_hooks(inputs_embeds=x[None, :self.split], grad=True)[0].double().mean(0)
                v = self.run.run_with_hooks(inputs_embeds=x[None, self.split:], grad=True)[0].double().mean(0)
                score = (u * v).sum() / (u.norm() * v.norm())
            (grad,) = torch.autograd.grad(score, x)
        finally:
            for p, flag in params:
                p.requires_grad_(flag)
        return grad.double()

    def saliency(self, row: torch.Tensor | None = None, split: int | None = None) -> np.ndarray:
        """Gradient x input shares [n] of the explained output for `row` (the saliency package's); a causal model's
        is the saliency of the explained token y, also in another version of the text."""
        row = self.row if row is None else row
        split = self.split if split is None else int(split)
        if self.causal:
            return causal_scores(self.run, row, self.output_id)
        a, b = pair_scores(self.run, row[:split], row[split:])
        return np.concatenate([a, b])
