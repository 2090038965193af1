"""The logit lens on captured hidden states, in blocks of rows so the whole [layers, positions, vocabulary] logits
tensor never exists.

Definitions (nostalgebraist 2020, "interpreting GPT: the logit lens"; Ecco's layer predictions and rankings):
for the hidden states h_0 (the embedding output) ... h_L (after block L) at position p,

    z_l = unembed(norm_f(h_l))        the next-token logits after layer l, [V]
    P_l = softmax(z_l)                the distribution the model would have after layer l
    rank_l(t) = 1 + #{v : z_l[v] > z_l[t]}   (tied tokens share the better rank)

norm_f is the model's own final norm module applied to h_l itself, so its statistics (the RMS, or the mean and
variance of a LayerNorm) come from h_l and not from the last layer. transformers returns h_L already after the
final norm; it is not normed again (`Readout.needs_norm`). The last layer therefore reproduces the model's own
output distribution. The position p predicts the token at p + 1.

Cost and memory: the work is the (L+1) N x d x V unembedding multiply. All (L+1) N logits at once would take
(L+1) N V x 4 bytes (SmolLM2 at 256 tokens: 31 x 256 x 49,152 x 4 = 1.56 GB). Rows (layer, position) are flattened
and processed in blocks of at most `block_bytes` of logits (64 MB by default, 341 rows for V = 49,152), each block
reduced at once to its top-k, target ranks and log-sum-exp (the softmax's normaliser, computed in place). Flattening lets the rows of several layers share a
block, so the unembedding matrix (113 MB for SmolLM2) is read once per block rather than once per layer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

BLOCK_BYTES = 64 * 2**20


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
               block_bytes: int = BLOCK_BYTES) -> LensResult:
    """The lens over all layers and positions.

    hidden: [L+1, N, d] hidden states as transformers returns them (`output_hidden_states`); readout: a
    `generator.models.readout.Readout` (final norm, unembedding, soft-cap); ids: the N token ids read (the target
    of position p is ids[p + 1]); watch: token ids whose rank and probability are kept everywhere; top_k: candidates
    kept per row. Raises ValueError for a shape that does not fit the ids, or an id outside the vocabulary.
    """
    import torch

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
    k, W = min(int(top_k), V), len(watch)

    # Targets of each position: the next token (the last position has none: a placeholder, dropped below), then
    # the watched tokens.
    targets = torch.tensor([[nxt, *watch] for nxt in [*ids[1:], 0]], dtype=torch.int64)        # [N, 1 + W]
    rows = normed_hidden(hidden_t, readout).reshape(L1 * N, d)
    top_vals = torch.empty(L1 * N, k)
    top_idx = torch.empty(L1 * N, k, dtype=torch.int64)
    ranks = np.empty((L1 * N, 1 + W), dtype=np.int64)
    picked_all = torch.empty(L1 * N, 1 + W)
    lse = torch.empty(L1 * N, dtype=torch.float64)
    step = max(1, min(L1 * N, block_bytes // (4 * V)))
    greater = np.empty((step, V), dtype=bool)
    logits = torch.empty(step, V)                                                         # reused by every block
    position = torch.arange(L1 * N) % N
    with torch.no_grad():
        for start in range(0, L1 * N, step):
            block = slice(start, min(start + step, L1 * N))
            n = block.stop - block.start
            z = readout.logits(rows[block], normed=True, out=logits[:n])                     # [n, V] float32
            top_vals[block], top_idx[block] = torch.topk(z, k, dim=1)
            picked = z.gather(1, targets[position[block]])                                   # [n, 1 + W]
            picked_all[block] = picked
            # Ranks: numpy's comparison into a reused buffer and its count are one fast pass each (torch sums a
            # bool tensor several times slower).
            zn, pn = z.numpy(), picked.numpy()
            for column in range(1 + W):
                np.greater(zn, pn[:, column:column + 1], out=greater[:n])
                ranks[block, column] = np.count_nonzero(greater[:n], axis=1) + 1
            # log-sum-exp around each row's maximum (the top value), in place: z is not needed any more.
            peak = top_vals[block, :1]
            lse[block] = (peak[:, 0].double() + z.sub_(peak).exp_().sum(dim=1).double().log())

    values, order_ids, lse_np = top_vals.numpy(), top_idx.numpy(), lse.numpy()[:, None]
    order = np.lexsort((order_ids, -values), axis=-1)           # by logit, descending; equal logits: lower id first
    top_ids = np.take_along_axis(order_ids, order, axis=-1)
    top_probs = np.exp(np.take_along_axis(values, order, axis=-1).astype(np.float64) - lse_np)
    probs_np = np.exp(picked_all.numpy().astype(np.float64) - lse_np).reshape(L1, N, 1 + W)
    ranks_np = ranks.reshape(L1, N, 1 + W)
    return LensResult(
        top_ids=top_ids.reshape(L1, N, k), top_probs=top_probs.reshape(L1, N, k),
        next_ranks=ranks_np[:, :-1, 0], next_probs=probs_np[:, :-1, 0],
        watch_ranks=np.moveaxis(ranks_np[:, :, 1:], -1, 0), watch_probs=np.moveaxis(probs_np[:, :, 1:], -1, 0))
