// The attention matrices of a payload as "parts" the head and model views show, one at a time: a decoder-only model
// or an encoder has one (its self-attention); an encoder-decoder model has three (encoder self-attention, decoder
// self-attention, cross-attention: decoder queries over encoder keys). See ARCHITECTURE.md, section "attention".
import { array, decodeFresh } from "./payload.js";
import { h } from "./view.js";

/** Which matrix, which tokens on each side, and how a figure names it, per part key. */
const PARTS = {
  self: { field: "values", label: "Attention", rows: "tokens", cols: "tokens", q: "query", k: "key" },
  encoder: { field: "values", label: "Encoder self-attention", rows: "tokens", cols: "tokens", q: "query (source)", k: "key (source)" },
  decoder: { field: "decoder", label: "Decoder self-attention", rows: "target_tokens", cols: "target_tokens", q: "query (target)", k: "key (target)" },
  cross: { field: "cross", label: "Cross-attention", rows: "target_tokens", cols: "tokens", q: "query (target)", k: "key (source)" },
};

/** The keys of the parts a payload holds, in display order. */
export const partKeys = (p) => (p.attention && p.attention.cross ? ["encoder", "decoder", "cross"] : ["self"]);

// A long text's layers decoded at a time (a 2,048-token SmolLM2 layer is 151 MB of Float32Array)
export const KEEP_LAYERS = 3;

/**
 * Decoded parts: [{ key, label, q, k (axis names), L, H, R (queries), C (keys), rows, cols (token lists),
 * layer(l): Promise of {v: Float32Array [H * R * C], rest, rows (sparse layers, payload.js), sparse},
 * cached(l): the same or null when layer l is not decoded (yet), lines(l) / cachedLines(l): the same for the
 * weights the head view draws (a long text's weights from 0.01, else the layer), layered, thumbnails }].
 * A short text's part holds every layer (`v` [L * H * R * C]); a long text's (attention.layers, see
 * generator/methods/attention.py) decodes a layer when asked, fetching its data file, and keeps the KEEP_LAYERS
 * asked for last; its `thumbnails` ({all, shown}: decoded [L, H, T, T] max-pooled maps) draw the model view's grid.
 * Throws a readable Error when an array is missing or does not fit its tokens.
 */
export async function attentionParts(p) {
  if (p.attention?.layers && !p.attention.values) return [await layeredPart(p)];
  if (!p.attention || !p.attention.values) throw new Error("this payload has no attention values");
  const out = [];
  for (const key of partKeys(p)) {
    const d = PARTS[key], rows = p[d.rows], cols = p[d.cols], a = p.attention[d.field];
    if (!Array.isArray(rows) || !Array.isArray(cols)) throw new Error(`${d.label}: the payload has no ${d.rows}`);
    if (!a) throw new Error(`${d.label}: the payload has no attention "${d.field}" array`);
    const { shape, values } = await array(a);
    if (shape.length !== 4 || shape[2] !== rows.length || shape[3] !== cols.length)
      throw new Error(`${d.label} shape [${shape}] does not fit ${rows.length} × ${cols.length} tokens ` +
        `(expected [layers, heads, ${rows.length}, ${cols.length}])`);
    const L = shape[0], H = shape[1], size = H * rows.length * cols.length, slices = [];
    const cached = (l) => (l >= 0 && l < L ? (slices[l] ??= { v: values.subarray(l * size, (l + 1) * size), rest: null, sparse: false }) : null);
    out.push({ key, label: d.label, q: d.q, k: d.k, L, H, R: rows.length, C: cols.length, v: values, rows, cols,
      cached, layer: async (l) => cached(l), cachedLines: cached, lines: async (l) => cached(l) });
  }
  return out;
}

async function layeredPart(p) {
  const d = PARTS.self, a = p.attention, N = p.tokens.length, L = a.layers.length;
  const H = a.layers[0]?.shape?.[0];
  a.layers.forEach((x, l) => {
    const s = x?.shape;
    if (!Array.isArray(s) || s.length !== 3 || s[0] !== H || s[1] !== N || s[2] !== N)
      throw new Error(`attention layer ${l} of shape [${s}] does not fit ${N} tokens (expected [heads, ${N}, ${N}])`);
  });
  const thumb = async (x) => {
    if (!x) return null;
    const t = await array(x);
    if (t.shape.length !== 4 || t.shape[0] !== L || t.shape[1] !== H) throw new Error(`attention thumbnails of shape [${t.shape}] do not fit ${L} layers × ${H} heads`);
    return t;
  };
  const thumbnails = { all: await thumb(a.thumbnails), shown: await thumb(a.thumbnails_shown) };
  const full = tier(a.layers), lines = a.lines ? tier(a.lines) : full;
  return { key: "self", label: d.label, q: d.q, k: d.k, L, H, R: N, C: N, rows: p.tokens, cols: p.tokens, v: null,
    layered: true, thumbnails, cached: full.cached, layer: full.layer, cachedLines: lines.cached, lines: lines.layer };
}

/** Layers of one list (a long text's full layers, or the head view's lines) decoded when asked, the KEEP_LAYERS
 * asked for last kept: {cached(l) -> decoded or null, layer(l) -> Promise of it}. */
function tier(list) {
  const done = new Map(), pending = new Map();
  const cached = (l) => {
    const x = done.get(l);
    if (x) done.delete(l), done.set(l, x); // most recent last
    return x ?? null;
  };
  const layer = (l) => {
    if (done.has(l)) return Promise.resolve(cached(l));
    if (!pending.has(l)) {
      const q = decodeFresh(list[l]).then((d) => {
        // v read through: a sparse layer makes its dense form on first use (payload.js)
        const x = { get v() { return d.values; }, rest: d.rest ?? null, rows: d.rows ?? null, keep: d.keep, sparse: !!d.rows, lines: list[l].at_least != null };
        done.set(l, x);
        while (done.size > KEEP_LAYERS) done.delete(done.keys().next().value);
        return x;
      }).finally(() => pending.delete(l));
      pending.set(l, q);
    }
    return pending.get(l);
  };
  return { cached, layer };
}

/** A labelled <select> of the parts (null when there is only one); onchange(index). */
export function partSelect(parts, index, onchange) {
  if (parts.length < 2) return null;
  const select = h("select", { "aria-label": "Which attention", onchange: (e) => onchange(+e.target.value) },
    ...parts.map((part, i) => h("option", { value: i }, part.label)));
  select.value = index;
  return h("label", { class: "xp-part" }, select);
}
