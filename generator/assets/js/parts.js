// The attention matrices of a payload as "parts" the head and model views show, one at a time: a decoder-only model
// or an encoder has one (its self-attention); an encoder-decoder model has three (encoder self-attention, decoder
// self-attention, cross-attention: decoder queries over encoder keys). See ARCHITECTURE.md, section "attention".
import { array } from "./payload.js";
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

/**
 * Decoded parts: [{ key, label, q, k (axis names), L, H, R (queries), C (keys), v: Float32Array [L * H * R * C],
 * rows, cols (token lists) }]. Throws a readable Error when an array is missing or does not fit its tokens.
 */
export async function attentionParts(p) {
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
    out.push({ key, label: d.label, q: d.q, k: d.k, L: shape[0], H: shape[1], R: rows.length, C: cols.length, v: values, rows, cols });
  }
  return out;
}

/** A labelled <select> of the parts (null when there is only one); onchange(index). */
export function partSelect(parts, index, onchange) {
  if (parts.length < 2) return null;
  const select = h("select", { "aria-label": "Which attention", onchange: (e) => onchange(+e.target.value) },
    ...parts.map((part, i) => h("option", { value: i }, part.label)));
  select.value = index;
  return h("label", { class: "xp-part" }, select);
}
