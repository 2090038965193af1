// Pure helpers of the counterfactual views (payload section "counterfactuals", see ARCHITECTURE.md).

/** Validate the section: {kind, causal, original, versions} or a readable Error. Each version: {key, label, record
 * (the edited input, or null when a search found no flip), search (the search's record, or null)}. */
export function check(p) {
  const s = p && p.counterfactuals;
  if (!s || typeof s !== "object") throw new Error("this payload has no counterfactuals section");
  if (s.kind !== "causal" && s.kind !== "similarity") throw new Error(`unknown counterfactuals kind ${JSON.stringify(s.kind)}`);
  const o = s.original;
  if (!o || !Array.isArray(o.tokens) || !Array.isArray(o.saliency) || o.saliency.length !== o.tokens.length)
    throw new Error("the counterfactuals section has no original input with its saliency");
  const versions = [];
  (s.contrasts || []).forEach((c, i) => {
    checkVersion(c, `contrast ${i + 1}`);
    versions.push({ key: `c${i}`, label: `contrast ${i + 1}`, record: c, search: null });
  });
  for (const [kind, label] of [["minimal", "smallest edit"], ["adversarial", "adversarial edit"]]) {
    const search = s.searches?.[kind];
    if (!search) continue;
    if (!Array.isArray(search.steps)) throw new Error(`the ${kind} search has no steps`);
    if (search.result) checkVersion(search.result, label);
    versions.push({ key: kind, label, record: search.result || null, search });
  }
  return { kind: s.kind, causal: s.kind === "causal", section: s, original: o, versions };
}

function checkVersion(v, name) {
  if (!v || !Array.isArray(v.tokens) || !Array.isArray(v.saliency) || v.saliency.length !== v.tokens.length)
    throw new Error(`${name}: tokens and saliency do not match`);
  if (!v.align || !Array.isArray(v.align.ops) || !Array.isArray(v.align.words)) throw new Error(`${name} has no alignment`);
}

/** Word spans [start, end) of tokens, as the section's `words` (a new word at a space, a special token, or where
 * letters meet other characters). Used for the original, whose spans the section does not repeat. */
export function words(tokens) {
  const out = [], an = (c) => /[\p{L}\p{N}]/u.test(c || "");
  tokens.forEach((t, i) => {
    const b = tokens[i - 1], x = t.text, y = b ? b.text : "";
    const fresh = !b || t.special || b.special || /^\s/.test(x) || /\s$/.test(y) || an(x[0]) !== an(y[y.length - 1]) || t.segment !== b.segment;
    if (fresh || !out.length) out.push([i, i + 1]);
    else out[out.length - 1][1] = i + 1;
  });
  return out;
}

/** Aligned chunks from the diff: [{changed, top: [token indices of the original], bottom: [of the version]}];
 * unchanged runs give one chunk per word, so lines can wrap between words. */
export function chunks(ops, topWords, bottomWords) {
  const span = (ws, a, b) => ws.slice(a, b).flatMap(([s, e]) => Array.from({ length: e - s }, (_, k) => s + k));
  const out = [];
  for (const [tag, i1, i2, j1, j2] of ops) {
    if (tag === "equal") for (let k = 0; k < i2 - i1; k++) out.push({ changed: false, top: span(topWords, i1 + k, i1 + k + 1), bottom: span(bottomWords, j1 + k, j1 + k + 1) });
    else out.push({ changed: true, top: span(topWords, i1, i2), bottom: span(bottomWords, j1, j2) });
  }
  return out;
}

/** The original tokens with a step's edit ([[position, new text], ...]) put in: copies, edited ones marked. */
export function edited(tokens, edit) {
  const out = tokens.map((t) => ({ ...t }));
  for (const [i, text] of edit || []) if (out[i]) out[i] = { ...out[i], text, edited: true };
  return out;
}

/** Token-for-token alignment of an edit of the original (same length): the diff of words the view draws. */
export function sameLengthOps(tokens, changedSet) {
  const ws = words(tokens), ops = [];
  ws.forEach(([s, e], w) => {
    let changed = false;
    for (let i = s; i < e; i++) changed ||= changedSet.has(i);
    const tag = changed ? "replace" : "equal", last = ops[ops.length - 1];
    if (last && last[0] === tag && tag === "equal") (last[2] = w + 1), (last[4] = w + 1);
    else ops.push([tag, w, w + 1, w, w + 1]);
  });
  return { ops, words: ws };
}

/** Largest value of a list (0 when empty or all below). */
export const peak = (values) => values.reduce((m, v) => (v > m ? v : m), 0);

/** A probability as a percentage: one decimal, "<0.1%" for tiny ones. */
export const pc = (v) => (v == null ? "?" : v > 0 && v < 0.0005 ? "<0.1%" : (100 * v).toFixed(1) + "%");

/** Attention counterfactual rows: [{label, spread: {min, q25, median, q75, max}, uniform, flips, flipped}] for a metric
 * ("tvd" or "dprob") and the axis [lo, hi] they share: the measure's whole range, not the data's. A total variation
 * distance lies in [0, 1]; the change of the explained token's probability p (`a.prob`) in [-p, 1 - p] (it can fall
 * to 0 or rise to 1); so both axes are one unit wide, and a small change never fills the figure as a large one would.
 * A value past its bound (rounding) widens the axis to hold it. */
export function attentionRows(a, metric) {
  if (!a || !Array.isArray(a.permuted) || !Array.isArray(a.uniform) || a.permuted.length !== a.uniform.length)
    throw new Error("the counterfactual attention record is incomplete");
  const L = a.layers;
  if (a.permuted.length !== L + 1) throw new Error(`counterfactual attention: ${a.permuted.length} rows for ${L} layers (expected ${L + 1})`);
  const rows = a.permuted.map((r, i) => ({ label: i === L ? "all" : String(i), layer: i === L ? null : i, spread: r[metric], uniform: a.uniform[i][metric], flips: r.flips, flipped: a.uniform[i].flipped }));
  const p = Number.isFinite(a.prob) && a.prob >= 0 && a.prob <= 1 ? a.prob : null;
  let [lo, hi] = metric === "tvd" ? [0, 1] : p == null ? [-1, 1] : [-p, 1 - p];
  for (const r of rows) for (const v of [r.spread.min, r.spread.max, r.uniform]) (lo = Math.min(lo, v)), (hi = Math.max(hi, v));
  return { rows, lo, hi };
}
