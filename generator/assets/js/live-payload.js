// A payload made in the page from the live model's outputs, in the schema of baked payloads (ARCHITECTURE.md,
// "Payload format"): the views read it through the same decoder (payload.js `array`), so nothing in them knows it was
// not baked. Attention is a uint16 ARRAY over [0, 1], queries and keys float32 ARRAYs (exact), as zlib streams
// (stored, not compressed: `zlibStored`) and base64-encoded, the form the Python encoder writes them in.

/** Base64 of bytes (chunks keep String.fromCharCode's argument list short). */
function base64(bytes) {
  if (bytes.toBase64) return bytes.toBase64();
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

/** An ARRAY {dtype: "float32", shape, min, max, data} of `values` (a Float32Array, row-major in `shape`). */
export async function floatArray(values, shape) {
  const n = shape.reduce((a, b) => a * b, 1);
  if (values.length !== n) throw new Error(`${values.length} values do not fill shape [${shape}]`);
  const le = new Uint8Array(n * 4), view = new DataView(le.buffer);
  let min = Infinity, max = -Infinity;
  for (let i = 0; i < n; i++) {
    const v = values[i];
    view.setFloat32(i * 4, v, true);
    if (v < min) min = v;
    if (v > max) max = v;
  }
  return { dtype: "float32", shape, min: n ? min : 0, max: n ? max : 0, data: base64(await deflate(le)) };
}

/** An ARRAY {dtype: "uint16", shape, min: 0, max: 1, data} of `values` in [0, 1] (rounded to the nearest of 65,535
 * steps: within 1/131070 of each value, so a row of N weights sums to 1 within N/131070). For attention: 2 bytes a
 * value instead of float32's 4 (a 512-token text has 19 million). */
export async function unitArray(values, shape) {
  const n = shape.reduce((a, b) => a * b, 1);
  if (values.length !== n) throw new Error(`${values.length} values do not fill shape [${shape}]`);
  const le = new Uint8Array(n * 2);
  for (let i = 0; i < n; i++) {
    const q = Math.round(Math.min(1, Math.max(0, values[i])) * 65535);
    le[2 * i] = q & 255;
    le[2 * i + 1] = q >> 8;
  }
  return { dtype: "uint16", shape, min: 0, max: 1, data: base64(await deflate(le)) };
}

/**
 * `bytes` as a zlib stream (RFC 1950) of stored deflate blocks (RFC 1951, BTYPE 00): what the payload's decoder
 * inflates, without compressing. A payload made in the page never leaves it, so its size does not matter, and
 * CompressionStream cost the first live figure tens of ms for a few hundred KB (benchmarks/RESULTS.md, "live.py").
 */
export function zlibStored(bytes) {
  const n = bytes.length, blocks = Math.max(1, Math.ceil(n / 65535)), out = new Uint8Array(2 + 5 * blocks + n + 4);
  out[0] = 0x78, out[1] = 0x01; // deflate, 32 KB window, no dictionary; 0x7801 % 31 == 0
  let o = 2;
  for (let b = 0; b < blocks; b++) {
    const from = b * 65535, len = Math.min(65535, n - from);
    out[o] = b === blocks - 1 ? 1 : 0; // BFINAL, BTYPE 00 (stored)
    out[o + 1] = len & 255, out[o + 2] = len >> 8, out[o + 3] = ~len & 255, out[o + 4] = (~len >> 8) & 255;
    out.set(bytes.subarray(from, from + len), o + 5);
    o += 5 + len;
  }
  let a = 1, s = 0; // Adler-32 (RFC 1950), reduced modulo 65521 every 5552 bytes as zlib does
  for (let i = 0; i < n; ) {
    for (const end = Math.min(n, i + 5552); i < end; i++) (a += bytes[i]), (s += a);
    (a %= 65521), (s %= 65521);
  }
  out[o] = s >> 8, out[o + 1] = s & 255, out[o + 2] = a >> 8, out[o + 3] = a & 255;
  return out;
}

const deflate = async (bytes) => zlibStored(bytes);

/** The entries of axis 0 of a tensor [A, ...rest] listed in `index`, into a new array [index.length, ...rest]. */
function pick(values, dims, index) {
  const size = dims.slice(1).reduce((a, b) => a * b, 1), out = new Float32Array(index.length * size);
  index.forEach((k, i) => out.set(values.subarray(k * size, (k + 1) * size), i * size));
  return out;
}

/**
 * The payload for a text the reader typed.
 *
 * base: the block's baked payload (model, views, title, and the neuron section's choice of layers and heads);
 * tokens: display records (live-wordpiece.js `display`); out: the model's outputs {attentions [L, H, N, N],
 * queries [L, H, N, d], keys [L, H_kv, N, d]} as {data: Float32Array, dims}; scales: per layer factor on q . k.
 */
export async function livePayload(base, tokens, out, scales) {
  const N = tokens.length, p = { ...base, tokens, n_prompt: N };
  delete p.generation;
  delete p.saliency; // made by `occlusion` for a pair; baked methods do not carry over to another text
  const [L, H] = out.attentions.dims;
  if (out.attentions.dims[2] !== N) throw new Error(`the model returned ${out.attentions.dims[2]} positions for ${N} tokens`);
  // every array encoded at once: each is a few awaits on a compression stream, and one after the other they queued
  const attention = unitArray(out.attentions.data, [L, H, N, N]);
  if (base.neuron) {
    const nb = base.neuron, d = out.queries.dims[3], kv = out.keys.dims[1], qs = [], ks = [];
    for (const layer of nb.layers) {
      const q = pick(out.queries.data, out.queries.dims, [layer]), k = pick(out.keys.data, out.keys.dims, [layer]);
      qs.push(floatArray(pick(q, [H, N, d], nb.heads), [nb.heads.length, N, d]));
      ks.push(floatArray(pick(k, [kv, N, d], nb.key_heads), [nb.key_heads.length, N, d]));
    }
    p.neuron = { ...nb, d_head: d, query: Math.min(nb.query, N - 1), scales: nb.layers.map((l) => scales[l]),
      queries: await Promise.all(qs), keys: await Promise.all(ks) };
  }
  p.attention = { values: await attention };
  return p;
}

const cosine = (a, b) => {
  let ab = 0, aa = 0, bb = 0;
  for (let i = 0; i < a.length; i++) ab += a[i] * b[i], aa += a[i] * a[i], bb += b[i] * b[i];
  return ab / Math.sqrt(aa * bb);
};

/**
 * The saliency section of a sentence pair's similarity by occlusion, in the schema of the baked one (kind
 * "similarity"): each sentence read on its own, as a bi-encoder reads it; similarity = cosine of the two pooled
 * embeddings (mean of the last hidden state); a token's score = |similarity - similarity with [MASK] in its
 * place|, special tokens 0, shares normalised over both sentences (all 0 when nothing moves it).
 *
 * a, b: {ids, tokens (display records)}; pooled(ids) -> Promise of the pooled embedding; maskId: [MASK]'s id.
 */
export async function occlusion(a, b, pooled, maskId) {
  const ea = await pooled(a.ids), eb = await pooled(b.ids), sim = cosine(ea, eb), scores = [];
  for (const [own, other, first] of [[a, eb, true], [b, ea, false]]) {
    for (let i = 0; i < own.ids.length; i++) {
      if (own.tokens[i].special) { scores.push(0); continue; }
      const ids = own.ids.slice();
      ids[i] = maskId;
      const e = await pooled(ids);
      scores.push(Math.abs(sim - (first ? cosine(e, other) : cosine(other, e))));
    }
  }
  const total = scores.reduce((x, y) => x + y, 0), shares = Float32Array.from(scores, (x) => (total > 0 ? x / total : 0));
  return { kind: "similarity", similarity: +sim.toPrecision(6), tokens_a: a.tokens, tokens_b: b.tokens,
    methods: { occlusion: await unitArray(shares, [shares.length]) }, occlusion: { token: "[MASK]", runs: scores.length + 2 } };
}
