// Pure helpers of the explanations view (payload section "explanations", see ARCHITECTURE.md).

/** Payload key -> [row label, long name, what the share is]. */
export const LABELS = {
  raw_attention: ["raw attention", "raw attention (last layer, heads averaged)", "the last layer's attention weight, averaged over heads"],
  rollout: ["rollout", "attention rollout", "attention multiplied through the layers, with the residual added"],
  flow: ["flow", "attention flow", "the maximum flow through the layered attention graph"],
  grad_rollout: ["grad. rollout", "gradient-weighted rollout", "rollout of attention weighted by its gradient (positive part)"],
  attention_x_gradient: ["Grad-SAM", "Grad-SAM (attention × gradient)", "attention weight times its gradient (positive part), summed over heads, queries and layers: Grad-SAM (Barkan et al. 2021) up to normalisation"],
  attention_attribution: ["attn. attribution", "attention attribution (integrated gradients over attention)", "each layer's attention weight times its gradient integrated as the weights are scaled from 0 (Hao et al. 2021), positive part summed over heads, queries and layers"],
  value_weighted: ["value-weighted", "value-weighted attention", "the length of the weighted, transformed value vector"],
  value_zeroing: ["value zeroing", "value zeroing", "how far each token's layer output moves when this token's values are zeroed (Mohebbi et al. 2023), rolled out over the layers"],
  gradient_x_input: ["grad × input", "gradient × input", "the length of embedding times gradient"],
  integrated_gradients: ["IG", "integrated gradients", "the length of the integrated-gradients attribution"],
};

export const label = (key) => (LABELS[key] || [key, key, ""])[0];
export const longName = (key) => (LABELS[key] || [key, key, ""])[1];

/** Validate the section against the payload: {kind, tokens, n0, T, N, M, methods} or a readable Error. */
export function check(p) {
  const s = p && p.explanations;
  if (!s || typeof s !== "object") throw new Error("this payload has no explanations section");
  if (!Array.isArray(s.methods) || !s.methods.length) throw new Error("the explanations section lists no methods");
  const f = s.faithfulness;
  if (!f || !Array.isArray(f.aopc) || !Array.isArray(f.deleted)) throw new Error("the explanations section has no faithfulness scores");
  let c;
  if (s.kind === "causal") {
    const N = p.tokens.length, n0 = p.n_prompt;
    if (!Number.isInteger(n0) || n0 < 1 || n0 >= N) throw new Error(`n_prompt ${JSON.stringify(n0)} leaves no generated token to explain`);
    c = { kind: s.kind, tokens: p.tokens, n0, T: N - n0, N };
  } else if (s.kind === "similarity") {
    if (!Array.isArray(s.tokens_a) || !Array.isArray(s.tokens_b)) throw new Error("the similarity section needs tokens_a and tokens_b");
    const tokens = [...s.tokens_a, ...s.tokens_b];
    c = { kind: s.kind, tokens, n0: s.tokens_a.length, T: 1, N: tokens.length };
  } else throw new Error(`unknown explanations kind ${JSON.stringify(s.kind)}`);
  const M = s.methods.length;
  if (f.aopc.length !== M + 1 || f.aopc.some((r) => !Array.isArray(r) || r.length !== c.T))
    throw new Error(`faithfulness scores do not fit ${M} methods and ${c.T} outputs`);
  return { ...c, M, methods: s.methods };
}

/** The shape [M, T, N] the shares must have. */
export function checkShape(c, shape) {
  const want = [c.M, c.T, c.N];
  if (shape.length !== 3 || shape.some((x, i) => x !== want[i]))
    throw new Error(`explanation shares of shape [${shape}] do not fit (expected [${want}])`);
}

/** Number of inputs of output t: the positions before it (causal), or every token of both sentences. */
export const inputs = (c, t) => (c.kind === "causal" ? c.n0 + t : c.N);

/**
 * Row order: indices 0..M-1, in the payload's order when `key` is null, else by score (AOPC: largest first;
 * sufficiency: smallest first, both more faithful first); undefined scores last; ties keep the payload's order.
 */
export function order(M, scores, key) {
  const idx = [...Array(M).keys()];
  if (!key) return idx;
  const sign = key === "sufficiency" ? 1 : -1, val = (i) => (scores[i] == null ? Infinity : sign * scores[i]);
  return idx.sort((a, b) => val(a) - val(b) || a - b);
}

/** Deletion curve of ranking m (M = random) for output t: [[percent removed, f], ...], starting at [0, f(x)]. */
export function curve(s, m, t) {
  const f = s.faithfulness;
  return [[0, s.values[t]], ...f.steps.map((k, i) => [k, f.deleted[m][t][i]])];
}

/** [min, max] of every curve of output t (a flat range is widened so that a chart can still be drawn). */
export function range(s, t) {
  let lo = Infinity, hi = -Infinity;
  for (let m = 0; m < s.faithfulness.deleted.length; m++)
    for (const [, y] of curve(s, m, t)) if (y != null) (lo = Math.min(lo, y)), (hi = Math.max(hi, y));
  if (!Number.isFinite(lo)) return [0, 1];
  if (hi - lo < 1e-9) return [lo - 0.5, hi + 0.5];
  return [lo, hi];
}

/** The deletion chart's axis titles [x, y], with their units: the share of the inputs removed (%), and the explained
 * score on its own scale (a logit is an unbounded raw score, a probability runs from 0 to 1, a cosine similarity from
 * -1 to 1). Text, never markup. */
export function axisTitles(s) {
  const y = { logit: "logit (raw score)", probability: "probability (0–1)", similarity: "cosine similarity (−1 to 1)" };
  return ["% of the input tokens removed, most relevant first", y[s.target] || String(s.target ?? "score")];
}

/** The methods (indices 0..M-1) whose AOPC is below the random orders' (`aopc[M]`), for one output's scores:
 * removing their top-ranked tokens first lowers the score less than removing tokens at random. */
export function belowRandom(aopc, M) {
  const random = aopc[M];
  if (random == null || !Number.isFinite(random)) return [];
  return [...Array(M).keys()].filter((m) => aopc[m] != null && Number.isFinite(aopc[m]) && aopc[m] < random);
}

/** The note a reader gets when some methods are below random (`below`: their labels), or "" when none is. */
export function belowRandomNote(below, random, target) {
  if (!below.length) return "";
  const many = below.length > 1, names = many ? below.slice(0, -1).join(", ") + " and " + below.at(-1) : below[0];
  return `Below random: ${names} ${many ? "have" : "has"} an AOPC under the random orders' ${random}. Removing ` +
    `${many ? "their" : "its"} top tokens first hurts the ${target} less than removing random ones: ` +
    `${many ? "these rankings are" : "this ranking is"} worse than chance here.`;
}

/** Spearman's rho as text with a real minus sign ("–" where undefined). */
export const rho = (v) => (v == null || !Number.isFinite(v) ? "–" : v.toFixed(2).replace("-", "−"));

/**
 * One row of shares (row[0..n)) with its first `off` tokens set aside (off = 0: nothing set aside): `shade[i]`, the
 * share over the largest of the others (1 for the largest), and `rest[i]`, the share of what the others hold
 * together (share / (1 - the set-aside shares); 0 where they hold nothing). Both 0 for the set-aside tokens.
 */
export function aside(row, n, off = 0) {
  let top = 0, sum = 0;
  for (let i = off; i < n; i++) (top = Math.max(top, row[i])), (sum += row[i]);
  const shade = new Float64Array(n), rest = new Float64Array(n);
  for (let i = off; i < n; i++) (shade[i] = top > 0 ? row[i] / top : 0), (rest[i] = sum > 0 ? row[i] / sum : 0);
  return { shade, rest };
}

/** The method whose share of the first token is largest for output t, when that share is at least `limit` (the
 * other tokens then look blank): {key, share}, else null. v: shares [M, T, N]; n: inputs of output t. */
export function firstHeavy(v, methods, T, N, t, n, limit = 0.5) {
  let best = null;
  if (n < 2) return null;
  methods.forEach((key, m) => {
    const share = v[(m * T + t) * N];
    if (share >= limit && (!best || share > best.share)) best = { key, share };
  });
  return best;
}
