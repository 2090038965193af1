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

/** Spearman's rho as text with a real minus sign ("–" where undefined). */
export const rho = (v) => (v == null || !Number.isFinite(v) ? "–" : v.toFixed(2).replace("-", "−"));
