// Pure helpers of the saliency view (payload section "saliency", see ARCHITECTURE.md).

/** [payload key, button label, long name], in display order. */
export const METHODS = [
  ["gradient_x_input", "grad × input", "gradient × input"],
  ["gradient_norm", "gradient", "gradient norm"],
  ["integrated_gradients", "IG", "integrated gradients"],
  ["occlusion", "occlusion", "occlusion"], // live blocks (live-payload.js): [MASK] in each token's place
];

/** A share in [0, 1] as a percentage with one decimal ("<0.1%" for tiny non-zero shares). */
export const pct = (v) => (v > 0 && v < 0.0005 ? "<0.1%" : (100 * v).toFixed(1) + "%");

/** A score with 4 significant digits, a real minus sign, no exponent for everyday sizes. */
export function num(v) {
  if (v == null || !Number.isFinite(v)) return "?";
  const a = Math.abs(v);
  return (a >= 1e4 || v === 0 ? v.toFixed(0) : a < 1e-3 ? v.toExponential(2) : v.toPrecision(4)).replace("-", "−");
}

/** Indices of the k largest values of v[0..n), largest first, ties by index; zeros left out. */
export function top(v, n, k) {
  const idx = [];
  for (let i = 0; i < n; i++) if (v[i] > 0) idx.push(i);
  return idx.sort((a, b) => v[b] - v[a] || a - b).slice(0, k);
}

/** Where token i is, to tell repeated tokens apart: "token 5" (causal), "B, token 2" (its sentence's own tokens). */
export const place = (i, split, causal) => (causal ? "" : i < split ? "A, " : "B, ") + `token ${causal || i < split ? i : i - split}`;

/** Each of a pair's section tokens (a then b, each sentence read alone) as an index among the payload's tokens: the
 * next of its sentence (segment 0, 1) with the same text and kind, or -1 (none: B's own [CLS]). */
export function pairMap(tokens, a, b) {
  return [a, b].flatMap((own, s) => {
    const theirs = tokens.map((t, i) => [t, i]).filter(([t]) => (t.segment === 1 ? 1 : 0) === s);
    let k = 0;
    return own.map((t) => {
      const j = theirs.findIndex(([u], x) => x >= k && u.text === t.text && !u.special === !t.special);
      if (j < 0) return -1;
      k = j + 1;
      return theirs[j][1];
    });
  });
}

/** Largest of v[0..n) (0 when empty). */
export function peak(v, n) {
  let m = 0;
  for (let i = 0; i < n; i++) if (v[i] > m) m = v[i];
  return m;
}

/** Validate the section against the payload: {kind, tokens, split, outputs} or a readable Error. `split` is the index
 * of the first generated token (causal) or of sentence B's first token (similarity); `outputs` is the number of
 * explained outputs: generated tokens (causal) or 1 (the similarity). */
export function check(p) {
  const s = p && p.saliency;
  if (!s || typeof s !== "object") throw new Error("this payload has no saliency section");
  if (!s.methods || !METHODS.some(([k]) => s.methods[k])) throw new Error("the saliency section has no method scores");
  if (s.kind === "causal") {
    const N = p.tokens.length, split = p.n_prompt;
    if (!Number.isInteger(split) || split < 1 || split >= N) throw new Error(`n_prompt ${JSON.stringify(split)} leaves no generated token to explain`);
    return { kind: s.kind, tokens: p.tokens, split, outputs: N - split };
  }
  if (s.kind === "similarity") {
    if (!Array.isArray(s.tokens_a) || !Array.isArray(s.tokens_b)) throw new Error("the similarity section needs tokens_a and tokens_b");
    return { kind: s.kind, tokens: [...s.tokens_a, ...s.tokens_b], split: s.tokens_a.length, outputs: 1 };
  }
  throw new Error(`unknown saliency kind ${JSON.stringify(s.kind)}`);
}

/** The shape a method's array must have: [G, N] (causal) or [Na + Nb] (similarity). */
export function checkShape(c, shape) {
  const N = c.tokens.length, want = c.kind === "causal" ? [c.outputs, N] : [N];
  if (shape.length !== want.length || shape.some((x, i) => x !== want[i]))
    throw new Error(`saliency scores of shape [${shape}] do not fit the tokens (expected [${want}])`);
}

/** Integrated gradients' completeness: {text, bad} for attribution sum a, f(x) fx, f(baseline) f0, gap. */
export function completeness(a, fx, f0, gap) {
  if (gap == null || a == null) return { text: "completeness gap unknown (f(x) = f(baseline))", bad: true };
  return {
    text: `IG attributions sum to ${num(a)}; f(x) − f(baseline) = ${num(fx)} − ${num(f0)} = ${num(fx - f0)}: completeness gap ${gap < 0.01 ? (100 * gap).toPrecision(2) : (100 * gap).toFixed(gap < 1 ? 1 : 0)}%`,
    bad: gap > 0.05,
  };
}
