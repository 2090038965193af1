"""The "lens" payload section: each layer's next-token prediction at every position, the ranks of the tokens that
came next and of watched tokens, and the probabilities of the top candidates. (Definitions in `compute`.)

L + 1 rows of layers (0 = the embedding output, l = after block l, L = the model's output), N positions, k = top_k:

    {"top_k": 5, "n_layers": 30, "vocab_size": 49152, "norm": "LlamaRMSNorm", "token_ids": [N ids read],
     "candidates": {"text": [" the", ...], "ids": [260, ...], "partial": [indices], "special": [indices]},
     "top": ARRAY uint16 [L+1, N, k]         index into candidates, most probable first,
     "top_probs": ARRAY uint16 [L+1, N, k] over [0, 1],
     "next_ranks": ARRAY [L+1, N-1]          exact integers: rank of token p+1 in the prediction at p,
     "next_probs": ARRAY uint16 [L+1, N-1] over [0, 1],
     "watch": [{"text": " is", "id": 314, "ranks": ARRAY [L+1, N], "probs": ARRAY uint16 [L+1, N] over [0, 1]}]}

`candidates` lists every token that appears in some top-k, each read on its own, most frequent first (so the
indices are small and compress well). Ranks are stored exactly: uint16 over [0, 65535] while the vocabulary fits
(quantisation step 1), float32 (exact below 2^24) beyond. Probabilities are uint16 (error below 7.7e-6, far under
the 0.1 % the views print).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ...payload import encode_array
from ..registry import Method, Needs
from .options import LensOptions

if TYPE_CHECKING:
    from ...capture import Capture
    from ...models.facts import ModelInfo
    from ...spec import SpecBase

# the residual stream entering every block, and what the unembedding reads after the last one: the last block's
# output, or the final norm's output where the library applies the norm (`hidden_rows`)
LENS_POINTS = ("blocks.*.hook_resid_pre", "blocks.*.hook_resid_post", "ln_final.hook_normalized")

VIEWS = {"layers": "explorable-layers-view", "ranks": "explorable-ranks-view",
         "probabilities": "explorable-probabilities-view"}


def check(spec: "SpecBase", model: "ModelInfo", n_tokens: int | None = None) -> None:
    """Each `lens.watch` entry is one token of the model's vocabulary (when its tokenizer is at hand: `model.pieces`;
    else `watched_ids` checks after the run). An encoder without a language-model head, which predicts no next token,
    is refused before this check with the views that do work on it (`generator.rules.family_problem`)."""
    if not model.causal or model.pieces is None:
        return
    for index, entry in enumerate(spec.options("lens").watch):
        pieces = model.pieces(entry)
        if len(pieces) != 1:
            raise _not_one_token(spec, index, entry, pieces, model.label)


def watched_ids(spec: "SpecBase", capture: "Capture") -> list[int]:
    """The token id of each `lens.watch` entry. Raises SpecError on `lens.watch.<i>` for an entry that is not a
    single token of the model's vocabulary, saying how it tokenises."""
    vocabulary = capture.vocabulary
    out = []
    for index, entry in enumerate(spec.options("lens").watch):
        ids = vocabulary.encode(entry)
        if len(ids) == 1:
            out.append(ids[0])
            continue
        raise _not_one_token(spec, index, entry, [record["text"] for record in vocabulary.display(ids)],
                             capture.info.label)
    return out


def _not_one_token(spec: "SpecBase", index: int, entry: str, pieces: list[str], label: str) -> Exception:
    """The SpecError on `lens.watch.<index>` for an entry that is not one token: how it tokenises."""
    shown = " + ".join(f'"{piece}"' for piece in pieces)
    return spec.error(f"lens.watch.{index}", f'"{entry}" is not a single token of {label}: it tokenises as '
                                             f"{len(pieces)} tokens, {shown}",
                      hint="watch single tokens, such as one of those pieces; a leading space belongs to the "
                           "token (' is' and 'is' are different tokens)")


def _integers(values: np.ndarray, largest: int) -> dict:
    """Exact non-negative integers: uint16 (step 1) when they fit, else float32."""
    if largest <= 65535:
        return encode_array(values, dtype="uint16", lo=0.0, hi=65535.0)
    return encode_array(values, dtype="float32")


def _probabilities(values: np.ndarray) -> dict:
    return encode_array(np.clip(values, 0.0, 1.0), dtype="uint16", lo=0.0, hi=1.0)


def candidate_table(top_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct ids of top_ids, most frequent first (equal counts: lower id first), and top_ids as indices
    into that list."""
    unique, inverse, counts = np.unique(top_ids, return_inverse=True, return_counts=True)
    order = np.lexsort((unique, -counts))
    position = np.empty_like(order)
    position[order] = np.arange(order.size)
    return unique[order], position[inverse.reshape(top_ids.shape)]


def hidden_rows(activations: dict[str, np.ndarray], readout: Any, n_layers: int) -> np.ndarray:
    """The lens's rows [L + 1, N, d_model]: row l < L the residual stream entering block l
    (`blocks.{l}.hook_resid_pre`; row 0 the embedding output), row L what follows the last block: the final norm's
    output (`ln_final.hook_normalized`) where the readout takes its last row as already normed
    (`Readout.needs_norm`), else the last block's output (`blocks.{L-1}.hook_resid_post`), which the lens then
    normalises itself. These are the library's `output_hidden_states` (`generator.capture`). Raises KeyError for
    a point not recorded."""
    from ...hooks import FINAL, hook_name

    last = FINAL if not readout.needs_norm(n_layers, n_layers) and readout.norm is not None else \
        hook_name(n_layers - 1, "hook_resid_post")
    return np.stack([activations[hook_name(layer, "hook_resid_pre")] for layer in range(n_layers)] +
                    [activations[last]])


def section(spec: "SpecBase", capture: "Capture") -> dict[str, Any]:
    """The lens section of one capture (layout in this module's docstring). Raises SpecError on `lens.watch.<i>`
    for a watched entry that is not one token."""
    from .compute import logit_lens

    options = spec.options("lens")
    watch = watched_ids(spec, capture)
    readout = capture.readout
    hidden = hidden_rows(capture.activations, readout, capture.info.n_layers)
    result = logit_lens(hidden, readout, capture.ids, watch, options.top_k)
    ids, index = candidate_table(result.top_ids)
    records = capture.vocabulary.display(ids.tolist())
    watch_records = capture.vocabulary.display(watch)
    V = readout.vocab_size
    return {
        "top_k": int(result.top_ids.shape[-1]),
        "n_layers": int(result.top_ids.shape[0] - 1),
        "vocab_size": V,
        "norm": readout.norm_name,
        "token_ids": [int(i) for i in capture.ids],
        "candidates": {"text": [record["text"] for record in records], "ids": ids.tolist(),
                       "partial": [i for i, record in enumerate(records) if record["partial"]],
                       "special": [i for i, record in enumerate(records) if record["special"]]},
        "top": _integers(index, len(ids)),
        "top_probs": _probabilities(result.top_probs),
        "next_ranks": _integers(result.next_ranks, V),
        "next_probs": _probabilities(result.next_probs),
        "watch": [{"text": record["text"], "id": token, "ranks": _integers(result.watch_ranks[w], V),
                   "probs": _probabilities(result.watch_probs[w])}
                  for w, (token, record) in enumerate(zip(watch, watch_records))],
    }


def metrics(section: dict[str, Any]) -> dict[str, float]:
    """Tracker metrics of the lens: `lens_next_top1` is the share of positions whose next token is the model's own
    top prediction (the last row); `lens_settled_layer_median` is, over those positions, the median of the first
    layer from which the next token stays top-1 up to the output (0: the embedding already predicts it)."""
    from ...payload import decode_array

    ranks = decode_array(section["next_ranks"])              # [L + 1, N - 1] exact integers
    if ranks.shape[1] == 0:
        return {}
    top = ranks == 1
    final = top[-1]
    out = {"lens_next_top1": float(final.mean())}
    if final.any():
        # first layer of the final run of top-1 rows: L + 1 minus the length of the all-top-1 suffix of each column
        suffix = np.cumprod(top[::-1], axis=0).sum(axis=0)
        out["lens_settled_layer_median"] = float(np.median((top.shape[0] - suffix)[final]))
    return out


METHOD = Method(
    name="lens",
    views=VIEWS,
    section=section,
    needs=Needs(hooks=LENS_POINTS, readout=True, vocabulary=True, adapter=True),
    options=LensOptions,
    check=check,
    metrics=metrics,
    option_views={"top_k": ("layers", "probabilities"), "watch": ("ranks",)},
    summary=("The next-token prediction after every layer (the logit lens): the top tokens (layers), the rank of "
             "the next token (ranks), its probability (probabilities). Causal models only."),
)
