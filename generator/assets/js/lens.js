// The "lens" payload section (see ARCHITECTURE.md) decoded and checked, and pure helpers shared by the layers,
// ranks and probabilities views. Rows of layers: 0 = the embedding output, l = after block l, L = the output.
import { array } from "./payload.js";

/** Decode and check the lens section of payload p. Throws a readable Error on anything that does not fit. */
export async function readLens(p) {
  const s = p.lens;
  if (!s || typeof s !== "object") throw new Error("this payload has no lens section");
  const N = p.tokens.length, c = s.candidates || {};
  if (!Array.isArray(c.text) || !Array.isArray(c.ids) || c.text.length !== c.ids.length)
    throw new Error("the lens candidates need a text and an id for each entry");
  const keys = ["top", "top_probs", "next_ranks", "next_probs"], missing = keys.find((k) => !s[k]);
  if (missing) throw new Error(`the lens section has no ${missing}`);
  const [top, topP, nextRank, nextP] = await Promise.all(keys.map((k) => array(s[k])));
  const [L1, n, K] = top.shape;
  if (top.shape.length !== 3 || n !== N || !(L1 >= 1) || !(K >= 1))
    throw new Error(`lens candidates of shape [${top.shape}] do not fit ${N} tokens (expected [layers + 1, ${N}, k])`);
  const same = (a, shape) => a.shape.length === shape.length && a.shape.every((x, i) => x === shape[i]);
  if (!same(topP, top.shape)) throw new Error(`lens probabilities of shape [${topP.shape}] do not match the candidates [${top.shape}]`);
  for (const [a, name] of [[nextRank, "next-token ranks"], [nextP, "next-token probabilities"]])
    if (!same(a, [L1, Math.max(0, N - 1)])) throw new Error(`lens ${name} of shape [${a.shape}] do not fit [${L1}, ${N - 1}]`);
  for (let i = 0; i < top.values.length; i++)
    if (!(top.values[i] >= 0 && top.values[i] < c.text.length)) throw new Error("a lens candidate index is outside the candidate list");
  const watch = [];
  for (const w of Array.isArray(s.watch) ? s.watch : []) {
    const [r, q] = await Promise.all([array(w.ranks), array(w.probs)]);
    if (!same(r, [L1, N]) || !same(q, [L1, N])) throw new Error(`the ranks of watched token ${JSON.stringify(w.text)} do not fit [${L1}, ${N}]`);
    watch.push({ text: String(w.text), id: w.id, ranks: r.values, probs: q.values });
  }
  const flags = (list) => new Set(Array.isArray(list) ? list : []);
  const partial = flags(c.partial), special = flags(c.special);
  return {
    L1, L: L1 - 1, N, K, V: s.vocab_size, norm: s.norm || "", tokens: p.tokens,
    nPrompt: Number.isInteger(p.n_prompt) ? p.n_prompt : N,
    cand: c.text.map((text, i) => ({ text: String(text), id: c.ids[i], partial: partial.has(i), special: special.has(i) })),
    ids: Array.isArray(s.token_ids) && s.token_ids.length === N ? s.token_ids : null,
    top: top.values, topP: topP.values, nextRank: nextRank.values, nextP: nextP.values, watch,
  };
}

/** Candidate j (0 = most probable) after layer l at position p: {token, prob}. */
export function candidate(x, l, p, j) {
  const i = (l * x.N + p) * x.K + j;
  const index = Math.round(x.top[i]);
  return { token: x.cand[index], index, id: x.cand[index].id, prob: x.topP[i] };
}

/** Rank and probability, after layer l, of the token that came after position p (null for the last position). */
export function next(x, l, p) {
  if (p >= x.N - 1) return null;
  const i = l * (x.N - 1) + p;
  return { rank: Math.round(x.nextRank[i]), prob: x.nextP[i] };
}

/** The positions whose next token the ranks and probabilities views explain: those predicting a generated token;
 * without generated tokens, every position that has a next token. */
export function outputs(x) {
  const from = x.nPrompt < x.N ? x.nPrompt - 1 : 0;
  return Array.from({ length: Math.max(0, x.N - 1 - from) }, (_, i) => from + i);
}

/** "embedding", "layer 7", "layer 30 (output)" for row l of L + 1. */
export function layerName(l, L) {
  return l === 0 ? "embedding" : l === L ? `layer ${l} (output)` : `layer ${l}`;
}

/** Short row label of row l of L + 1: "emb", "1", … "30 out". */
export const layerLabel = (l, L) => (l === 0 ? "emb" : l === L ? `${l} out` : String(l));

/** A probability as a percentage with one decimal ("<0.1%" below 0.05 %). */
export function pct(p) {
  if (!(p > 0)) return "0%";
  if (p < 0.0005) return "<0.1%";
  return `${(100 * p).toFixed(1)}%`;
}

/** A rank with thousands separators: "1", "1,234". */
export const rankText = (r) => Math.round(r).toLocaleString("en");

/** Shade of a rank on a log scale: 1 for rank 1, 0 for the last rank of a vocabulary of V tokens. */
export function rankShade(r, V) {
  if (!(r >= 1) || !(V > 1)) return 0;
  return Math.max(0, Math.min(1, 1 - Math.log(r) / Math.log(V)));
}

// Linked views: the position a reader pins in one view of a container is the shared selection's token (selection.js).

/** Tell the other views of `view`'s container that position p (or null) is pinned. */
export function sharePosition(view, p) {
  view.tell({ token: p });
}

/** Call fn(p) for the position pinned before and whenever another view pins one; returns the function that stops. */
export function followPosition(view, fn) {
  const t = view.selection.get().token;
  if (t !== undefined) fn(t);
  return view.selection.subscribe((patch) => "token" in patch && !view.telling && fn(patch.token));
}
