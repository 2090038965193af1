"""Attention weights as the head and model views draw them (BertViz's two attention views).

Payload section "attention": `{"values": ARRAY [L, H, N, N] over [0, 1]}`, the model's own attention probabilities
(`output_attentions`, eager attention), row i of head h in layer l being query i's weights over the keys j. For an
encoder-decoder model `values` is the encoder's self-attention over the source tokens, and two more arrays hold the
decoder's side (T = the payload's `target_tokens`): `"decoder": ARRAY [L_dec, H_dec, T, T]` (causal
self-attention) and `"cross": ARRAY [L_dec, H_dec, T, N]` (decoder queries, encoder keys: the model's
`cross_attentions`).

Encoding (every array): uint16 on a grid of 511 steps over [0, 1], rounded row by row with largest remainders,
stored as byte planes (see generator/payload/arrays.py). Each decoded row sums to exactly what the model's row rounds
to on the grid (1), each value is within 1/511 < 0.002 of the model's. Rounding every value to the nearest uint8
level instead lets the errors of a row add up (up to 0.18 on a 280-token SmolLM2 text); benchmarks/attention_sums.py
measures the alternatives.

Long texts (issue 22): when [L, H, N, N] holds more than LAYERED_WEIGHTS weights (SmolLM2 from 250 tokens, MiniLM
from 342; never on encoder-decoder models), the section is in layers instead, and `values` is absent:

    {"layers": [LAYER] * L, "lines": [LINES] * L, "thumbnails": ARRAY uint8 [L, H, T, T],
     "thumbnails_shown": ARRAY (special tokens only)}

- `layers` is a `Method.parts` field: on the site every layer but the first is a data file of its own, fetched when
  a view shows that layer (generator/payload/parts.py). A LAYER is [H, N, N]: dense (the encoding above) when that
  takes at most DENSE_BYTES of data, else sparse rows (generator/payload/sparse_rows.py: each row's largest weights
  holding at least 0.99 of its mass, the rest summed per row; every decoded weight within that row's rest +
  1/65535 of the model's, the rest at most 0.01). Dense is tried only up to DENSE_WEIGHTS weights a layer, since
  beyond that it cannot compress to DENSE_BYTES.
- `lines` is what the head view draws (its lines start at weight 0.01, head-lines.js MIN): per layer, sparse rows
  holding every weight of at least LINE_WEIGHT (a hair under 0.01, so that no weight the view would draw from the
  full layer is missing), the rest of each row summed. The head view's first figure needs only these; it fetches a
  full layer only to hide special tokens (rows renormalised over every weight). Both lists are parts, and neither
  keeps its first entry in the payload (`Method.detached`): the model view's first figure needs neither.
- `thumbnails` is what the model view draws first without any layer: every head's map max-pooled to T x T pixels
  (T = THUMB; pixel p covers rows floor(p N / T) to max(that + 1, floor((p + 1) N / T)), as the view pools), on 255
  levels; `thumbnails_shown` is the same over the tokens that are not special, rows renormalised (the view's "hide
  special tokens"), present when the text has special tokens.
The model's attention reaches this section one layer at a time (`Capture.attention_by_layer`, generator/
attention_stream.py), so the bake never holds [L, H, N, N] (benchmarks/long_inputs.py: peak memory).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ..payload import encode_array
from ..payload.sparse_rows import encode_sparse_rows
from .registry import Method, Needs

LEVELS = 511
# Encoder-decoder models keep every map in one array: the page decodes all of it into one Float32Array (4 bytes a
# weight), so this bounds the reader's memory at 512 MB.
MAX_WEIGHTS = 1 << 27
# Other models: beyond LAYERED_WEIGHTS weights in all, one layer at a time (module docstring). Payloads below it
# keep the bytes they had before the layered form existed (the curated examples).
LAYERED_WEIGHTS = 1 << 24
# The layered form's limits: a page decodes one layer's H x N x N weights at once into a Float32Array (256 MB at
# MAX_LAYER_WEIGHTS), and bytes, bake memory and the page's first figure were measured up to MAX_TOKENS
# (benchmarks/RESULTS.md, "Long inputs").
MAX_LAYER_WEIGHTS = 1 << 26
MAX_TOKENS = 2048
DENSE_BYTES = 1 << 20          # a layer's data (base64 characters) kept dense up to this size, else sparse rows
DENSE_WEIGHTS = 1 << 23        # dense is not even tried for a layer of more weights than this
LINE_WEIGHT = 0.01 - 1 / 65535  # the lines' threshold: every weight that can decode to 0.01 or more
THUMB = 80                     # thumbnail side, px (the model view's largest thumbnail, model-view.js `side`)

if TYPE_CHECKING:
    from ..capture import Capture
    from ..models.facts import ModelInfo
    from ..spec import ExplorableSpec


def weight_count(info: "ModelInfo", n_tokens: int) -> int:
    """The attention weights a payload holds for `n_tokens` tokens: L x H x N^2, plus, on an encoder-decoder model
    (N source tokens at most, T = n_tokens target tokens at most), its decoder's self- and cross-attention."""
    count = info.n_layers * info.n_heads * n_tokens * n_tokens
    if info.encoder_decoder:
        count += info.n_decoder_layers * info.n_decoder_heads * 2 * n_tokens * n_tokens
    return count


def layered(info: "ModelInfo", n_tokens: int) -> bool:
    """Whether the section of `n_tokens` tokens is in layers (module docstring): more than LAYERED_WEIGHTS weights
    on a model that is not encoder-decoder."""
    return not info.encoder_decoder and weight_count(info, n_tokens) > LAYERED_WEIGHTS


def longest(info: "ModelInfo") -> int:
    """The most tokens (prompt plus generated) the head and model views read on this model: MAX_TOKENS, fewer
    where a layer would pass MAX_LAYER_WEIGHTS; on an encoder-decoder model, MAX_WEIGHTS in all."""
    if not info.encoder_decoder:
        return min(MAX_TOKENS, int((MAX_LAYER_WEIGHTS / max(1, info.n_heads)) ** 0.5))
    n = int((MAX_WEIGHTS / max(1, weight_count(info, 1))) ** 0.5)
    while weight_count(info, n + 1) <= MAX_WEIGHTS:
        n += 1
    while n > 1 and weight_count(info, n) > MAX_WEIGHTS:
        n -= 1
    return n


def check(spec: "ExplorableSpec", info: "ModelInfo", n_tokens: int | None = None) -> None:
    """A text too long for the views (SpecError on `text` or `pair`, saying the limit and why): on an
    encoder-decoder model every layer's and head's N x N map is in the page at once (MAX_WEIGHTS); on others the
    page decodes one layer at a time, measured up to MAX_TOKENS (MAX_LAYER_WEIGHTS a layer)."""
    if n_tokens is None:
        return
    limit = longest(info)
    if n_tokens <= limit:
        return
    views = " and ".join(view for view in spec.shown_views if view in METHOD.views)
    if info.encoder_decoder:
        why = (f"they hold every layer's and head's map of N x N weights ({info.n_layers} x {info.n_heads} maps), "
               f"and {n_tokens} tokens would make {weight_count(info, n_tokens) / 1e6:,.0f} million weights, more "
               f"than a reader's browser can decode at once ({MAX_WEIGHTS / 1e6:,.0f} million)")
    elif limit < MAX_TOKENS:
        why = (f"a reader's browser decodes one layer of {info.n_heads} heads x N x N weights at once, and "
               f"{n_tokens} tokens would make {info.n_heads * n_tokens ** 2 / 1e6:,.0f} million, more than the "
               f"{MAX_LAYER_WEIGHTS / 1e6:,.0f} million a page can hold")
    else:
        why = (f"long texts reach the page one layer at a time, with sparse rows, and bake memory, bytes and the "
               f"page's first figure were measured up to {MAX_TOKENS:,} tokens (benchmarks/RESULTS.md); "
               f"{n_tokens} tokens are more")
    raise spec.error("text" if spec.text is not None else "pair",
                     f"the {views} view{'s' if ' and ' in views else ''} read at most {limit:,} tokens on "
                     f"{info.label}: {why}",
                     hint=f"shorten the text to {limit:,} tokens, or show views that keep less per token (layers, "
                          "ranks, probabilities, saliency)")


def section(spec: "ExplorableSpec", capture: "Capture") -> dict[str, Any]:
    """The attention section of one capture (encoding in this module's docstring)."""
    if layered(capture.info, len(capture.tokens)):
        return layered_section(capture)
    attentions = capture.attentions
    if attentions is None:
        attentions = np.stack(capture.attention_by_layer(lambda _layer, weights: weights))
    section = {"values": encode_weights(attentions)}
    if capture.cross_attentions is not None:
        section["decoder"] = encode_weights(capture.decoder_attentions)
        section["cross"] = encode_weights(capture.cross_attentions)
    return section


def layered_section(capture: "Capture") -> dict[str, Any]:
    """The long texts' section (module docstring), computed one layer at a time as the model finishes it."""
    shown = [i for i, token in enumerate(capture.tokens) if not token.get("special")]
    special = len(shown) < len(capture.tokens)
    results = capture.attention_by_layer(lambda _layer, weights: _reduce(weights, shown if special else None))
    section: dict[str, Any] = {"layers": [layer for layer, _, _, _ in results],
                               "lines": [lines for _, lines, _, _ in results],
                               "thumbnails": encode_array(np.stack([thumbs for _, _, thumbs, _ in results]),
                                                          dtype="uint8", lo=0.0, hi=1.0)}
    if special:
        section["thumbnails_shown"] = encode_array(np.stack([thumbs for _, _, _, thumbs in results]),
                                                   dtype="uint8", lo=0.0, hi=1.0)
    return section


def encode_layer(weights: np.ndarray) -> dict[str, Any]:
    """One layer [H, N, N] of the layered form: the dense ARRAY when its data is at most DENSE_BYTES (tried up to
    DENSE_WEIGHTS weights), else sparse rows (generator/payload/sparse_rows.py)."""
    if weights.size <= DENSE_WEIGHTS:
        dense = encode_weights(weights)
        if len(dense["data"]) <= DENSE_BYTES:
            return dense
    return encode_sparse_rows(weights)


def pool(weights: np.ndarray, side: int = THUMB) -> np.ndarray:
    """[H, R, C] -> [H, side, side]: the largest weight of each pixel's block of rows and columns (pixel p covers
    floor(p n / side) to max(that + 1, floor((p + 1) n / side)), model-view.js `ranges`); side is at most R, C."""
    def edges(n: int) -> tuple[np.ndarray, np.ndarray]:
        start = (np.arange(side) * n) // side
        return start, np.maximum(start + 1, ((np.arange(side) + 1) * n) // side)
    (r0, r1), (c0, c1) = edges(weights.shape[1]), edges(weights.shape[2])
    rows = np.stack([weights[:, a:b].max(axis=1) for a, b in zip(r0, r1)], axis=1)        # [H, side, C]
    return np.stack([rows[:, :, a:b].max(axis=2) for a, b in zip(c0, c1)], axis=2)


def _reduce(weights: np.ndarray, shown: list[int] | None
            ) -> tuple[dict[str, Any], dict[str, Any], np.ndarray, np.ndarray | None]:
    """One layer's (LAYER, LINES, thumbnails, thumbnails over the non-special tokens with rows renormalised, or
    None)."""
    side = min(THUMB, weights.shape[1])
    thumbs = pool(weights, side)
    kept = None
    if shown is not None:
        index = np.asarray(shown)
        sub = weights[:, index][:, :, index].astype(np.float64)
        sums = sub.sum(axis=2, keepdims=True)
        kept = pool(np.divide(sub, sums, out=np.zeros_like(sub), where=sums > 0), min(side, len(shown)))
    return encode_layer(weights), encode_sparse_rows(weights, at_least=LINE_WEIGHT), thumbs, kept


def encode_weights(weights: np.ndarray) -> dict[str, Any]:
    """Attention weights [..., N_query, N_key] in [0, 1] (rows summing to 1) as one dense ARRAY: uint16 planes at
    LEVELS levels with the row sums kept (`encode_array(keep_row_sums=True)`), the form of a short text's section
    and of a long text's dense layers."""
    weights = np.asarray(weights)      # float32 as captured: encode_array widens one layer at a time
    return encode_array(weights if weights.dtype == np.float32 else weights.astype(np.float64), dtype="uint16", lo=0.0, hi=1.0, levels=LEVELS,
                        layout="planes", keep_row_sums=True)


METHOD = Method(
    name="attention",
    views={"head": "explorable-head-view", "model": "explorable-model-view"},
    section=section,
    needs=Needs(attention_layers=True),
    check=check,
    encoder_decoder=True,
    parts=("layers", "lines"),
    detached=("layers", "lines"),
    summary=("The attention weights of every layer and head: one head's lines between the tokens (head), every "
             "head as a thumbnail (model). The only views for encoder-decoder models."),
)
