"""The logit lens on captured hidden states, one tile of logits at a time so the whole [layers, positions,
vocabulary] logits tensor never exists.

Definitions (nostalgebraist 2020, "interpreting GPT: the logit lens"; Ecco's layer predictions and rankings):
for the hidden states h_0 (the embedding output) ... h_L (after block L) at position p,

    z_l = unembed(norm_f(h_l))        the next-token logits after layer l, [V]
    P_l = softmax(z_l)                the distribution the model would have after layer l
    rank_l(t) = 1 + #{v : z_l[v] > z_l[t]}   (tied tokens share the better rank)

norm_f is the model's own final norm module applied to h_l itself, so its statistics (the RMS, or the mean and
variance of a LayerNorm) come from h_l and not from the last layer. transformers returns h_L already after the
final norm; it is not normed again (`Readout.needs_norm`). The last layer therefore reproduces the model's own
output distribution. The position p predicts the token at p + 1.

Cost and memory: the work is the (L+1) N x d x V unembedding multiply; everything else should cost little beside
it. All (L+1) N logits at once would take (L+1) N V x 4 bytes (SmolLM2 at 256 tokens: 31 x 256 x 49,152 x 4 =
1.56 GB), so rows (layer, position) are flattened and the logits made one tile at a time: `TILE_ROWS` rows by
`TILE_VOCAB` vocabulary entries (8 MB of float32), small enough to stay in the processor's cache while every
statistic is read off it, which is what makes those passes cheap (benchmarks/RESULTS.md, `lens.py`). Per row the
tiles are folded into running statistics (the softmax's normaliser as in the online softmax of Milakov & Gimelshein
2018, "Online normalizer calculation for softmax"):

- the top-k so far (a tile's own top-k is taken only for rows whose tile maximum beats their current k-th value);
- each tile's maximum and sum of exp(z - maximum), combined at the end into the log-sum-exp;
- for each target token (the next token, the watched ones), the count of entries with a larger logit, compared
  with the target's logit computed beforehand (`Readout.logits_at`); the target itself is never counted, so the two
  computations of its logit, equal up to float32 rounding, cannot move its rank.

Row tiles are shared among `generator.bake.streams()` worker threads (2 on a machine of 2 cores or more), each
running torch on one thread: coarse parallel work, where torch's own threading would synchronise its threads on
every small operation. The tiles are fixed in size whatever the number of workers, so the results do not depend
on it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

TILE_ROWS = 1024
TILE_VOCAB = 2048



@dataclass
class LensResult:
    """What the lens keeps of each layer's distribution. L + 1 rows of layers (0 = embedding output), N positions."""

    top_ids: np.ndarray       # int64 [L+1, N, k]: token ids, most probable first (equal logits: lower id first)
    top_probs: np.ndarray     # float64 [L+1, N, k]: their probabilities
    next_ranks: np.ndarray    # int64 [L+1, N-1]: rank of the token at p + 1 in the prediction made at p
    next_probs: np.ndarray    # float64 [L+1, N-1]: its probability
    watch_ranks: np.ndarray   # int64 [W, L+1, N]: rank of each watched token at every layer and position
    watch_probs: np.ndarray   # float64 [W, L+1, N]: its probability


def normed_hidden(hidden: Any, readout: Any) -> Any:
    """The hidden states [L+1, N, d] (torch float32) with the final norm applied to every layer that lacks it,
    each layer's norm statistics computed from that layer's own rows."""
    import torch

    n_layers = hidden.shape[0] - 1
    out = torch.empty_like(hidden)
    with torch.no_grad():
        for layer in range(n_layers + 1):
            needs = readout.needs_norm(layer, n_layers)
            out[layer] = readout.norm(hidden[layer]) if needs else hidden[layer]
    return out


def logit_lens(hidden: np.ndarray, readout: Any, ids: Sequence[int], watch: Sequence[int] = (), top_k: int = 5,
               tile: tuple[int, int] = (TILE_ROWS, TILE_VOCAB)) -> LensResult:
    """The lens over all layers and positions.

    hidden: [L+1, N, d] hidden states as transformers returns them (`output_hidden_states`); readout: a
    `generator.models.readout.Readout` (final norm, unembedding, soft-cap); ids: the N token ids read (the target
    of position p is ids[p + 1]); watch: token ids whose rank and probability are kept everywhere; top_k: candidates
    kept per row; tile: (rows, vocabulary entries) of logits made at a time. Raises ValueError for a shape that does
    not fit the ids, or an id outside the vocabulary.
    """
    import torch

    from ...bake import streams        # (bake imports the methods: not at module level)

    hidden_t = torch.as_tensor(np.ascontiguousarray(hidden, dtype=np.float32))
    if hidden_t.ndim != 3 or hidden_t.shape[1] != len(ids):
        raise ValueError(f"hidden states of shape {tuple(hidden_t.shape)} do not fit {len(ids)} tokens "
                         "(expected [layers + 1, tokens, d_model])")
    V = readout.vocab_size
    wanted = [int(i) for i in ids] + [int(i) for i in watch]
    if wanted and not 0 <= min(wanted) <= max(wanted) < V:
        raise ValueError(f"token ids must lie in [0, {V}), the unembedding's vocabulary")
    if top_k < 1:
        raise ValueError(f"top_k must be at least 1, got {top_k}")
    L1, N, d = hidden_t.shape
    R, k, W = L1 * N, min(int(top_k), V), len(watch)

    # Targets of each row: the next token (the last position has none: a placeholder, dropped below), then the
    # watched tokens.
    targets = torch.tensor([[nxt, *watch] for nxt in [*ids[1:], 0]], dtype=torch.int64)[torch.arange(R) % N]
    rows = normed_hidden(hidden_t, readout).reshape(R, d)
    stats = _Stats(k, readout.logits_at(rows, targets).numpy(), n_chunks=-(-V // tile[1]))
    starts = list(range(0, R, tile[0]))
    workers = max(1, min(streams(), len(starts)))

    def work(share: list[int]) -> None:
        if workers > 1:
            torch.set_num_threads(1)           # this thread's own setting (OpenMP and MKL keep it per thread)
        logits = torch.empty(min(tile[0], R), min(tile[1], V))
        greater = np.empty(tuple(logits.shape), dtype=bool)
        with torch.no_grad():
            for r0 in share:
                block = slice(r0, min(r0 + tile[0], R))
                for chunk, c0 in enumerate(range(0, V, tile[1])):
                    vocab = slice(c0, min(c0 + tile[1], V))
                    z = logits[:block.stop - block.start, :vocab.stop - vocab.start]
                    readout.logits(rows[block], normed=True, out=z, vocab=vocab)
                    stats.fold(z, block, vocab, chunk, targets[block], greater)

    if workers == 1:
        work(starts)
    else:
        from concurrent.futures import ThreadPoolExecutor

        before = torch.get_num_threads()
        try:
            with ThreadPoolExecutor(workers) as pool:
                list(pool.map(work, [starts[i::workers] for i in range(workers)]))
        finally:
            torch.set_num_threads(before)
    return stats.result(L1, N)


class _Stats:
    """Running per-row statistics of the logits, folded in one tile at a time (rows of different workers never
    overlap)."""

    def __init__(self, k: int, bar: np.ndarray, n_chunks: int) -> None:
        """k: candidates kept per row; bar: [R, n_targets] float32, the targets' logits computed beforehand (the
        rank counts compare with them); n_chunks: tiles across the vocabulary."""
        import torch

        R, n_targets = bar.shape
        self.bar = bar
        self.best = torch.full((R, k), -torch.inf)                # top-k logits so far, [R, k]
        self.best_ids = torch.zeros(R, k, dtype=torch.int64)
        self.peaks = torch.empty(R, n_chunks)                     # each tile's maximum per row
        self.sums = torch.empty(R, n_chunks)                      # each tile's sum of exp(z - maximum) per row
        self.picked = torch.empty(R, n_targets)                   # the targets' logits, read off their tiles
        self.above = np.zeros((R, n_targets), dtype=np.int64)     # entries with a larger logit than each target

    def fold(self, z: Any, block: slice, vocab: slice, chunk: int, targets: Any, greater: np.ndarray) -> None:
        """Folds one tile z = logits[block, vocab] (float32, overwritten) into the rows' statistics."""
        import torch

        r0, c0 = block.start, vocab.start
        peak = torch.amax(z, dim=1, keepdim=True)                                            # [n, 1]
        gain = (peak[:, 0] > self.best[block, -1]).nonzero()[:, 0]
        if len(gain):
            tv, ti = torch.topk(z if len(gain) == len(z) else z[gain], min(self.best.shape[1], z.shape[1]), dim=1)
            where = gain + r0
            values = torch.cat([self.best[where], tv], 1)
            merged = torch.cat([self.best_ids[where], ti + c0], 1)
            keep_v, keep = torch.topk(values, self.best.shape[1], dim=1)
            self.best[where], self.best_ids[where] = keep_v, merged.gather(1, keep)
        # Ranks: numpy's comparison into a reused buffer and its count are one fast pass each (torch sums a bool
        # tensor several times slower).
        zn, bar, g = z.numpy(), self.bar[block], greater[:len(z), :z.shape[1]]
        for column in range(bar.shape[1]):
            np.greater(zn, bar[:, column:column + 1], out=g)
            self.above[block, column] += np.count_nonzero(g, axis=1)
        inside = ((targets >= c0) & (targets < vocab.stop)).nonzero()
        if len(inside):
            rows, columns = inside[:, 0], inside[:, 1]
            own = z[rows, targets[rows, columns] - c0]
            self.picked[rows + r0, columns] = own
            counted = (own.numpy() > bar[rows.numpy(), columns.numpy()])   # the target itself, counted above
            np.subtract.at(self.above, ((rows + r0).numpy()[counted], columns.numpy()[counted]), 1)
        self.peaks[block, chunk] = peak[:, 0]
        self.sums[block, chunk] = z.sub_(peak).exp_().sum(dim=1)

    def result(self, L1: int, N: int) -> LensResult:
        peaks, sums = self.peaks.double().numpy(), self.sums.double().numpy()
        top = peaks.max(axis=1, keepdims=True)
        lse = top + np.log((sums * np.exp(peaks - top)).sum(axis=1, keepdims=True))               # [R, 1]
        values, order_ids = self.best.numpy(), self.best_ids.numpy()
        order = np.lexsort((order_ids, -values), axis=-1)       # by logit, descending; equal logits: lower id first
        k = values.shape[1]
        top_ids = np.take_along_axis(order_ids, order, axis=-1)
        top_probs = np.exp(np.take_along_axis(values, order, axis=-1).astype(np.float64) - lse)
        n_targets = self.picked.shape[1]
        probs = np.exp(self.picked.numpy().astype(np.float64) - lse).reshape(L1, N, n_targets)
        ranks = (self.above + 1).reshape(L1, N, n_targets)
        return LensResult(
            top_ids=top_ids.reshape(L1, N, k), top_probs=top_probs.reshape(L1, N, k),
            next_ranks=ranks[:, :-1, 0], next_probs=probs[:, :-1, 0],
            watch_ranks=np.moveaxis(ranks[:, :, 1:], -1, 0), watch_probs=np.moveaxis(probs[:, :, 1:], -1, 0))
