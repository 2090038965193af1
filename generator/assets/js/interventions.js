// Reading the "interventions" payload section (ARCHITECTURE.md, "Section interventions") for the knockout, editing
// and patching views: checks that throw readable errors, number formats and the explained output's words.
import { show } from "./tokens.js";

/** The checked section of a payload, with L, H and N. */
export function section(p) {
  const s = p.interventions;
  if (!s || (s.kind !== "causal" && s.kind !== "similarity")) throw new Error("this payload has no interventions section");
  const L = p.model?.n_layers, H = p.model?.n_heads;
  if (!Number.isInteger(L) || !Number.isInteger(H)) throw new Error("the payload's model has no layer and head counts");
  return { s, L, H, causal: s.kind === "causal" };
}

/** Checked [rows][cols] list of numbers (null allowed). */
export function grid(v, rows, cols, what) {
  if (!Array.isArray(v) || v.length !== rows || v.some((r) => !Array.isArray(r) || r.length !== cols))
    throw new Error(`${what} must be ${rows} x ${cols} numbers`);
  return v;
}

/** The explained output in words: log p(“ Paris”) / p(“ Paris”) / the similarity. */
export function outputName(s, metric) {
  if (s.kind === "similarity") return "similarity";
  const t = `“${show(s.output.token)}”`;
  return metric === "logprob" ? `log p(${t})` : `p(${t})`;
}

/** A signed change with a real minus sign: percentage points for a probability. */
export function delta(v, metric) {
  if (v == null || Number.isNaN(v)) return "—";
  const sign = v < 0 ? "−" : v > 0 ? "+" : "±";
  return metric === "prob" ? `${sign}${Math.abs(100 * v).toFixed(1)} pts` : `${sign}${Math.abs(v).toFixed(3)}`;
}

/** A value of the metric: a percentage for a probability, else 3 decimals. */
export function value(v, metric) {
  if (v == null || Number.isNaN(v)) return "—";
  return metric === "prob" ? `${(100 * v).toFixed(1)}%` : (v < 0 ? "−" : "") + Math.abs(v).toFixed(3);
}

/** Largest |v| over nested lists (1 when all are 0 or missing). */
export function maxAbs(rows) {
  let m = 0;
  for (const x of rows.flat(2)) if (x != null && Number.isFinite(x)) m = Math.max(m, Math.abs(x));
  return m || 1;
}

/** A round-ish bound at or above m for a legend (1, 2 or 5 times a power of 10). */
export function niceMax(m) {
  const p = 10 ** Math.floor(Math.log10(m)), f = m / p;
  return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * p;
}

/** Words of an edit factor: 0 blocks, others multiply. */
export const factorName = (f) => (f === 0 ? "block" : f < 1 ? `×${f}` : `×${f}`);
export const factorLong = (f) => (f === 0 ? "attention to it blocked" : f === 0.5 ? "attention to it halved" : f === 2 ? "attention to it doubled" : `attention to it ×${f}`);

/** A grid cell's number in at most five characters, with the decimals its scale needs: the colour bound `bound`
 * (the legend's end) sets them, two significant digits of the bound (at most three decimals), and a leading zero
 * is dropped (".004"); probabilities in points. */
export function short(v, bound) {
  const decimals = Math.max(0, Math.min(3, 1 - Math.floor(Math.log10(bound > 0 ? bound : 1))));
  return v.toFixed(decimals).replace(/^(-?)0\./, "$1.").replace("-", "−");
}
