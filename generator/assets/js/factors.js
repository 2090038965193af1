// Pure helpers on factor activations: W is a row-major Float32Array of N positions x K factors.

/** Largest value of each factor (column): Float32Array(K). */
export function colMax(w, N, K) {
  const m = new Float32Array(K);
  for (let n = 0; n < N; n++) for (let k = 0; k < K; k++) if (w[n * K + k] > m[k]) m[k] = w[n * K + k];
  return m;
}

/** Dominant (largest) factor at each position: Int16Array(N); -1 where every factor is 0. Ties: lowest index. */
export function dominant(w, N, K) {
  const d = new Int16Array(N).fill(-1);
  for (let n = 0; n < N; n++) {
    let b = 0;
    for (let k = 0; k < K; k++) if (w[n * K + k] > b) (b = w[n * K + k]), (d[n] = k);
  }
  return d;
}

/** How many positions each factor dominates: Int32Array(K). */
export function tally(dom, K) {
  const c = new Int32Array(K);
  for (const k of dom) if (k >= 0) c[k]++;
  return c;
}

/** Factor indices at position n, largest value first, zeros left out. */
export function ranked(w, n, K) {
  return [...Array(K).keys()].filter((k) => w[n * K + k] > 0).sort((a, b) => w[n * K + b] - w[n * K + a] || a - b);
}

/** Short number: 3 significant digits, no exponent for everyday sizes. */
export const fmt = (v) => (v === 0 ? "0" : Math.abs(v) >= 100 ? v.toFixed(0) : v.toPrecision(3));

/** Check a run of the payload's factors section against the token count; returns the run or throws. */
export function checkRun(r, shape, N) {
  const K = r && r.count;
  if (!Number.isInteger(K) || K < 1) throw new Error(`factor count ${JSON.stringify(K)} is not a positive integer`);
  if (shape.length !== 2 || shape[0] !== N || shape[1] !== K)
    throw new Error(`factor activations of shape [${shape}] do not fit ${N} tokens and ${K} factors`);
  if (!Array.isArray(r.top_neurons) || r.top_neurons.length !== K) throw new Error(`the ${K}-factor run needs one neuron list per factor`);
  return r;
}
