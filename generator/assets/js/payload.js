// Payload loading and ARRAY decoding (schema_version 1, see ARCHITECTURE.md).
// One load per `.explorable` container, shared by every view inside it.
const loads = new WeakMap();
const arrays = new WeakMap();
const BYTES = { uint8: 1, uint16: 2, float32: 4 };
const LE = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

export const container = (el) => el.closest(".explorable");

/** Promise of the validated payload object of the closest `.explorable` ancestor (memoised). */
export function load(el) {
  const c = container(el);
  if (!c) return Promise.reject(new Error("no .explorable container around this view"));
  let p = loads.get(c);
  if (!p) loads.set(c, (p = read(c)));
  return p;
}

/** Make `payload` (an object in the baked schema) the payload of container `c`: views that start after this read it
 * (the live control's hook: it then replaces the container's views with fresh ones, live-view.js). */
export function replace(c, payload) {
  loads.set(c, Promise.resolve(payload));
}

const bySrc = new Map(); // data-src URL -> promise; the 4 most recent, shared across containers and navigations
// The widgets' own URL: data files live in ../data/ beside it. An ES module knows it from import.meta.url; the
// classic-script bundle of the offline copy (bundle/, where import.meta is empty) from document.currentScript.
const HERE = globalThis.document?.currentScript?.src || import.meta.url;

function read(c) {
  const text = c.dataset.payload;
  if (text != null) return Promise.resolve().then(() => parse(text));
  const src = c.dataset.src;
  if (!src) return Promise.reject(new Error("the container has neither data-payload nor data-src"));
  let p = bySrc.get(src);
  if (!p) {
    bySrc.set(src, (p = file(src).then(parse)));
    p.catch(() => bySrc.delete(src)); // failures are retried by the next container (e.g. after navigation)
    if (bySrc.size > 4) bySrc.delete(bySrc.keys().next().value);
  }
  return p;
}

/** Promise of the text of the data file `src` (in ../data/ beside the widgets' script). */
function file(src) {
  const url = new URL("../data/" + src, HERE).href;
  return globalThis.location?.protocol === "file:" ? script(url, src) : fetch(url).then(
    (r) => (r.ok ? r.text() : Promise.reject(new Error(`could not fetch ${src} (HTTP ${r.status})`))),
    (e) => Promise.reject(new Error(`could not fetch ${src} (${e.message})`)));
}

/**
 * A page opened from file:// may not fetch() its own files, but it may run classic scripts: the offline build
 * writes each data file NAME.json a second time as NAME.js, which stores the same JSON text under
 * self.explorablesData[NAME.json]. Loaded only when a view comes near, like the fetch it replaces.
 */
function script(url, src) {
  return new Promise((resolve, reject) => {
    const s = document.createElement("script");
    const done = () => {
      s.remove();
      const box = globalThis.explorablesData || {}, text = box[src];
      delete box[src];
      if (typeof text === "string") resolve(text);
      else reject(new Error(`${src.replace(/json$/, "js")} did not hold the payload ${src}`));
    };
    s.onload = done;
    s.onerror = () => (s.remove(), reject(new Error(`could not load ${src.replace(/json$/, "js")} next to the page`)));
    s.src = url.replace(/\.json$/, ".js");
    document.head.append(s);
  });
}

/** Parse and validate payload JSON text. Throws a readable Error. */
export function parse(text) {
  let p;
  try {
    p = JSON.parse(text);
  } catch (e) {
    throw new Error(`the payload is not valid JSON (${e.message})`);
  }
  if (!p || typeof p !== "object") throw new Error("the payload is not a JSON object");
  if (p.schema_version !== 1)
    throw new Error(`unsupported payload schema_version ${JSON.stringify(p.schema_version)} (this viewer reads 1)`);
  if (!Array.isArray(p.tokens)) throw new Error("the payload has no tokens list");
  return p;
}

/**
 * Starts loading the payloads of the containers within 200 px of the viewport, and decoding their arrays (up to
 * 200 KB of them each: a view of a larger payload may need only a part), so that the first figures find them ready.
 * Fetching and inflating take task turns; started by the core script, they pass before the parser runs the page's
 * next scripts, and a view in view draws as soon as its own script runs instead of after the theme's script
 * (benchmarks/RESULTS.md, peer.py: first figure). Errors are left for the views to report.
 */
export function warm(doc) {
  const near = [...doc.querySelectorAll(".explorable")].filter((c) => c.getBoundingClientRect().top < innerHeight + 200);
  const found = (o, out) => (o && typeof o === "object" && (typeof o.data === "string" && o.dtype ? out.push(o) : Object.values(o).forEach((v) => found(v, out))), out);
  near.forEach((c) => load(c).then((p) => {
    const a = found(p, []);
    if (a.reduce((n, x) => n + x.data.length, 0) < 2e5) a.forEach((x) => array(x).catch(() => {}));
  }, () => {}));
}

/** Decode an ARRAY object (memoised per object): {shape, values: Float32Array}. An ARRAY with `part` in place of
 * `data` has its data in that data file (generator/payload/parts.py), fetched here once. */
export function array(a) {
  let d = arrays.get(a);
  if (!d) {
    arrays.set(a, (d = a?.part ? file(a.part).then((t) => decode({ ...a, data: JSON.parse(t) })) : decode(a)));
    d.catch(() => arrays.delete(a)); // a failed fetch is tried again next time
  }
  return d;
}

/** Decode an ARRAY without keeping it (a long text's attention layers: attentionParts keeps a few decoded layers
 * at a time, parts.js); one with `part` has its data fetched from that data file. */
export const decodeFresh = (a) => (a?.part ? file(a.part).then((t) => decode({ ...a, data: JSON.parse(t) })) : decode(a));

function b64(s) {
  if (Uint8Array.fromBase64) return Uint8Array.fromBase64(s);
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

export async function decode(a) {
  const { dtype, shape, min = 0, max = 1, layout = "interleaved" } = a || {};
  const size = BYTES[dtype];
  if (!size) throw new Error(`unknown array dtype ${JSON.stringify(dtype)}`);
  if (!Array.isArray(shape) || !shape.every((n) => Number.isInteger(n) && n >= 0))
    throw new Error("array shape must be a list of non-negative integers");
  if (!Number.isFinite(min) || !Number.isFinite(max)) throw new Error("array min/max must be finite numbers");
  const top = dtype === "uint8" ? 255 : 65535, levels = a.levels ?? top;
  if (dtype !== "float32" && !(Number.isInteger(levels) && levels >= 1 && levels <= top))
    throw new Error(`array levels must be an integer from 1 to ${top}, got ${JSON.stringify(a.levels)}`);
  if (layout !== "interleaved" && !((layout === "planes" || layout === "sparse-rows") && dtype === "uint16"))
    throw new Error(`unknown array layout ${JSON.stringify(layout)} for ${dtype}`);
  if (typeof a.data !== "string") throw new Error("array data must be a base64 string");
  if (typeof DecompressionStream !== "function") throw new Error("this browser cannot inflate the data (no DecompressionStream)");
  let buf;
  try {
    const raw = b64(a.data);
    // an in-memory stream (a Blob stream would round-trip through the browser process)
    const s = new ReadableStream({ start: (c) => (c.enqueue(raw), c.close()) }).pipeThrough(new DecompressionStream("deflate"));
    buf = await new Response(s).arrayBuffer();
  } catch (e) {
    throw new Error(`array data is corrupt or truncated (${e.message})`);
  }
  if (layout === "sparse-rows") return sparseRows(a, shape, buf);
  const n = shape.reduce((x, y) => x * y, 1);
  if (buf.byteLength !== n * size)
    throw new Error(`array of shape [${shape}] needs ${n * size} bytes of ${dtype}, got ${buf.byteLength}`);
  const out = new Float32Array(n), k = (max - min) / levels;
  if (dtype === "uint8") {
    const q = new Uint8Array(buf);
    for (let i = 0; i < n; i++) out[i] = min + q[i] * k;
  } else if (layout === "planes") { // all high bytes, then all low bytes
    const b = new Uint8Array(buf);
    for (let i = 0; i < n; i++) out[i] = min + ((b[i] << 8) | b[n + i]) * k;
  } else if (LE) {
    if (dtype === "float32") out.set(new Float32Array(buf));
    else {
      const q = new Uint16Array(buf);
      for (let i = 0; i < n; i++) out[i] = min + q[i] * k;
    }
  } else {
    const v = new DataView(buf);
    for (let i = 0; i < n; i++)
      out[i] = dtype === "float32" ? v.getFloat32(i * 4, true) : min + v.getUint16(i * 2, true) * k;
  }
  return { shape, values: out };
}

/**
 * A sparse-rows layer (generator/payload/sparse_rows.py): the uint16 planes of counts [H * R], rest [H * R], column
 * gaps [K], values [K] -> {shape, values: dense Float32Array [H * R * C] (left-out weights 0; made on first read),
 * rest: Float32Array
 * [H * R] (each row's left-out mass), keep, rows: {start: Int32Array [H * R + 1], col: Int32Array [K], val:
 * Float32Array [K]} (the kept entries row by row, columns ascending: what a view iterates instead of R x C)}.
 */
function sparseRows(a, shape, buf) {
  if (shape.length !== 3) throw new Error(`sparse-rows array needs shape [heads, rows, columns], got [${shape}]`);
  const [H, R, C] = shape, rows = H * R, K = a.kept, n = 2 * rows + K * 2;
  if (!Number.isInteger(K) || K < 0 || buf.byteLength !== 2 * n)
    throw new Error(`sparse-rows data of ${buf.byteLength} bytes does not fit shape [${shape}] with ${K} kept`);
  const b = new Uint8Array(buf), at = (i) => (b[i] << 8) | b[n + i], k = 1 / 65535;
  const rest = new Float32Array(rows);
  const start = new Int32Array(rows + 1), col = new Int32Array(K), val = new Float32Array(K);
  let e = 0;
  for (let r = 0; r < rows; r++) {
    const count = at(r);
    rest[r] = at(rows + r) * k;
    start[r] = e;
    let c = 0;
    for (let x = 0; x < count; x++, e++) {
      c = x ? c + at(2 * rows + e) : at(2 * rows + e);
      if (c >= C || e >= K) throw new Error(`sparse-rows data is corrupt (column ${c} of ${C})`);
      col[e] = c;
      val[e] = at(2 * rows + K + e) * k;
    }
  }
  if (e !== K) throw new Error(`sparse-rows counts add up to ${e}, not ${K}`);
  start[rows] = K;
  // the dense form on first use only: a 2,048-token SmolLM2 layer is 151 MB of zeros to allocate and fill, and the
  // head view draws from the rows (measured: a third of a layer's decode time; benchmarks/RESULTS.md)
  let values = null;
  return { shape, rest, keep: a.keep ?? 0.99, rows: { start, col, val },
    get values() {
      if (!values) {
        values = new Float32Array(H * R * C);
        for (let r = 0; r < rows; r++) for (let x = start[r], base = r * C; x < start[r + 1]; x++) values[base + col[x]] = val[x];
      }
      return values;
    } };
}

/** Attention [L, H, N, N] of a payload, checked against its tokens. */
export async function attention(p) {
  const a = p.attention && p.attention.values;
  if (!a) throw new Error("this payload has no attention values");
  const { shape, values } = await array(a);
  const N = p.tokens.length;
  if (shape.length !== 4 || shape[2] !== N || shape[3] !== N)
    throw new Error(`attention shape [${shape}] does not fit ${N} tokens (expected [layers, heads, ${N}, ${N}])`);
  return { L: shape[0], H: shape[1], N, v: values };
}
