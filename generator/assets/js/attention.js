// Pure helpers on attention matrices (row-major Float32Array, n x n).

/** What a figure says when special tokens are hidden: `empty` rows (`scope`: which ones were counted) had no
 * weight left on the shown tokens. */
export const hiddenNote = (empty, scope = "") => "Special tokens hidden: each row's remaining weights were renormalised to sum to 1." +
  (empty ? ` ${empty} row(s)${scope} had no weight left on the shown tokens and are drawn empty.` : "");
/** What a figure says of a long text's sparse layer (generator/payload/sparse_rows.py): the share `keep` kept. */
export const sparseNote = (keep = 0.99) => `Long text: each row shows its largest weights, which hold at least ${Math.round(keep * 100)}% of ` +
  `the row; the rest of each row (at most ${Math.round((1 - keep) * 100)}%) is left out, and the readout gives it.`;
export const HIDDEN_CAPTION = " (special tokens hidden, rows renormalised)";

/** Indices of tokens kept when special tokens are hidden (all when hide is false). */
export const keep = (tokens, hide) => tokens.flatMap((t, i) => (hide && t.special ? [] : [i]));

/**
 * Restrict a matrix of row length n to rows `idx` and columns `cols` (default: the same as the rows, for a square
 * n x n matrix) and renormalise each row to sum to 1. Returns { m: rows x k, k: the kept column count (row stride),
 * empty }: rows with no mass left stay all zero and are counted in `empty`.
 */
export function renorm(m, n, idx, cols = idx) {
  const r = idx.length, k = cols.length, out = new Float32Array(r * k);
  let empty = 0;
  for (let a = 0; a < r; a++) {
    const row = idx[a] * n;
    let s = 0;
    for (let b = 0; b < k; b++) s += out[a * k + b] = m[row + cols[b]];
    if (s > 0) for (let b = 0; b < k; b++) out[a * k + b] /= s;
    else empty++;
  }
  return { m: out, k, empty };
}

/** Index of the largest value of a strided run (or -1 when all are <= 0). */
export function argmax(m, start, step, count, ok = () => true) {
  let best = -1, bv = 0;
  for (let i = 0; i < count; i++) {
    const v = m[start + i * step];
    if (v > bv && ok(i)) (bv = v), (best = i);
  }
  return best;
}
