// Pure helpers of the neuron view (payload section "neuron", see ARCHITECTURE.md): one head's attention recomputed
// from its query and key vectors, as the model computes it.

/**
 * Scores and weights of query i against every key: s_j = scale * q_i . k_j, masked (j > i) when causal, and
 * w = softmax(s) over the unmasked keys. q: Float32Array [N * d] of the query head, k: [N * d] of its key head.
 * Returns { score: Float64Array N (NaN where masked), weight: Float64Array N (0 where masked), dot: Float64Array N }.
 */
export function attend(q, k, N, d, i, scale, causal) {
  const score = new Float64Array(N), weight = new Float64Array(N), dot = new Float64Array(N);
  const last = causal ? i : N - 1, qi = i * d;
  let max = -Infinity;
  for (let j = 0; j < N; j++) {
    if (j > last) {
      score[j] = NaN;
      continue;
    }
    let s = 0;
    for (let c = 0, kj = j * d; c < d; c++) s += q[qi + c] * k[kj + c];
    dot[j] = s;
    score[j] = s * scale;
    if (score[j] > max) max = score[j];
  }
  let sum = 0;
  for (let j = 0; j <= last; j++) sum += weight[j] = Math.exp(score[j] - max);
  for (let j = 0; j <= last; j++) weight[j] /= sum;
  return { score, weight, dot };
}

/** Dimension order: 0..d-1, or by |q_i,c * k_j,c| descending (ties by dimension) for the pair (i, j). */
export function order(q, k, d, i, j, sorted) {
  const o = Array.from({ length: d }, (_, c) => c);
  if (!sorted || j < 0) return o;
  const m = (c) => Math.abs(q[i * d + c] * k[j * d + c]);
  return o.sort((a, b) => m(b) - m(a) || a - b);
}

/** The dimensions that decide most of q_i . k_j: the largest |q_c k_c| first, up to `n`, as [dim, product]. */
export function topDims(q, k, d, i, j, n = 3) {
  return order(q, k, d, i, j, true).slice(0, n).map((c) => [c, q[i * d + c] * k[j * d + c]]);
}

/** Largest |value| of v[from .. from + count) (1 when all are 0, so it can divide). */
export function maxAbs(v, from = 0, count = v.length) {
  let m = 0;
  for (let x = from, e = from + count; x < e; x++) m = Math.max(m, Math.abs(v[x]));
  return m || 1;
}

// Diverging colours live in colour.js (shared with the interventions views); re-exported for this view.
export { divergingRGB, diverging, divergingLut } from "./colour.js";

/** LUT index of a value v over the magnitude m (clamped to [-1, 1]). */
export const lutIndex = (v, m) => Math.max(0, Math.min(510, Math.round(255 + (255 * v) / m)));

/** Key head slot of query head `head` among the stored key heads: head // (n_heads / n_kv_heads). */
export function keySlot(head, keyHeads, nHeads, nKvHeads) {
  const slot = keyHeads.indexOf(Math.floor(head / (nHeads / nKvHeads)));
  if (slot < 0) throw new Error(`the payload has no key head for query head ${head}`);
  return slot;
}

/** Checked neuron section of a payload: { layers, heads, keyHeads, d, causal, scales, queries, keys, group }. */
export function section(p) {
  const s = p.neuron, N = p.tokens.length;
  if (!s || !Array.isArray(s.layers) || !s.layers.length) throw new Error("this payload has no neuron section");
  const n = s.layers.length;
  for (const f of ["queries", "keys", "scales"])
    if (!Array.isArray(s[f]) || s[f].length !== n) throw new Error(`neuron ${f} must list one entry per layer (${n})`);
  const d = s.d_head;
  const fits = (a, rows) => a && Array.isArray(a.shape) && a.shape.length === 3 && a.shape[0] === rows && a.shape[1] === N && a.shape[2] === d;
  s.queries.forEach((a, x) => { if (!fits(a, s.heads.length)) throw new Error(`neuron queries of layer ${s.layers[x]} do not have shape [${s.heads.length}, ${N}, ${d}]`); });
  s.keys.forEach((a, x) => { if (!fits(a, s.key_heads.length)) throw new Error(`neuron keys of layer ${s.layers[x]} do not have shape [${s.key_heads.length}, ${N}, ${d}]`); });
  const nH = p.model?.n_heads ?? s.heads.length, nKv = p.model?.n_kv_heads ?? nH;
  for (const hd of s.heads) keySlot(hd, s.key_heads, nH, nKv);
  return { layers: s.layers, heads: s.heads, keyHeads: s.key_heads, d, causal: !!s.causal, scales: s.scales,
    queries: s.queries, keys: s.keys, nHeads: nH, nKvHeads: nKv, query: s.query };
}

/** Signed number with a fixed count of decimals and a real minus sign. */
export const num = (v, n = 2) => (Number.isNaN(v) ? "—" : (v < 0 ? "−" : v > 0 ? "+" : "") + Math.abs(v).toFixed(n));
