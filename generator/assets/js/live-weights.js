// The live model's float32 weights, made in the page from the build's pack (generator/live/export.py `pack`): int8
// values with one float32 scale per row or column where the build quantised a weight, float32 bytes elsewhere. The
// result is the external data file the ONNX graph names (layout.file), handed to the runtime as `externalData`.
// The embedding tables are not in it: the graph reads them int8 from the pack itself (layout.pack, also handed over
// as `externalData`) and scales only the rows it gathers.

/**
 * Bytes of the float32 weights file: layout {file, bytes, segments} (export.py `pack`), pack an ArrayBuffer.
 * A quantised segment {offset, dims: [R, C], axis, int8, scale} gives w[r, c] = q[r, c] * scale[axis ? c : r] as a
 * float32 product (what onnxruntime's DequantizeLinear computes); {offset, bytes, at} is copied as it is.
 * Throws when a segment falls outside the pack or the file.
 */
export function floatWeights(layout, pack) {
  if (layout.bytes % 4) throw new Error(`the weights file of ${layout.bytes} bytes is not float32`);
  const out = new Float32Array(layout.bytes / 4);
  const inside = (at, n, total, what) => {
    if (!(at >= 0 && at + n <= total)) throw new Error(`a weight segment runs outside the ${what}`);
  };
  for (const s of layout.segments) {
    if (s.int8 == null) {
      inside(s.at, s.bytes, pack.byteLength, "pack");
      inside(s.offset, s.bytes, layout.bytes, "weights file");
      new Uint8Array(out.buffer, s.offset, s.bytes).set(new Uint8Array(pack, s.at, s.bytes));
      continue;
    }
    const [R, C] = s.dims, n = R * C, o = s.offset / 4;
    inside(s.int8, n, pack.byteLength, "pack");
    inside(s.scale, 4 * (s.axis === 0 ? R : C), pack.byteLength, "pack");
    inside(s.offset, 4 * n, layout.bytes, "weights file");
    const q = new Int8Array(pack, s.int8, n), scale = new Float32Array(pack, s.scale, s.axis === 0 ? R : C);
    if (s.axis === 0) {
      for (let r = 0; r < R; r++) {
        const k = scale[r], row = r * C;
        for (let c = 0; c < C; c++) out[o + row + c] = q[row + c] * k;
      }
    } else {
      for (let r = 0; r < R; r++) {
        const row = r * C;
        for (let c = 0; c < C; c++) out[o + row + c] = q[row + c] * scale[c];
      }
    }
  }
  return new Uint8Array(out.buffer);
}

/** The ArrayBuffer of exactly the bytes of a Uint8Array (its own buffer when the view covers all of it). */
function whole(bytes) {
  return bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength ? bytes.buffer : bytes.slice().buffer;
}

/** In the worker (exported for tests): fetch the pack at `url` (posting {bytes: n} about every MB, then {fetched: true}), make the
 * float32 file, post {pack, out} (both transferred). Throws with the page's wording for a failed fetch. */
export async function work({ url, layout }) {
  const name = url.split("/").slice(-2).join("/");
  let r;
  try {
    r = await fetch(url);
  } catch (e) {
    throw new Error(`could not fetch ${name} (${e.message})`);
  }
  if (!r.ok) throw new Error(`could not fetch ${name} (HTTP ${r.status})`);
  const reader = r.body.getReader(), chunks = [];
  let n = 0, told = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    n += value.length;
    if (n - told >= 1 << 20) postMessage({ bytes: n - told }), (told = n);
  }
  postMessage({ bytes: n - told, fetched: true });
  const pack = new Uint8Array(n);
  let o = 0;
  for (const c of chunks) pack.set(c, o), (o += c.length);
  const out = floatWeights(layout, pack.buffer);
  postMessage({ pack, out }, [pack.buffer, out.buffer]);
}

/**
 * Promise of [pack: Uint8Array, float32 file: Uint8Array] for the pack at `url` (absolute) and its layout: fetched
 * and made in a worker, so the page's main thread stays free for the runtime's start meanwhile; onBytes(n) reports
 * bytes as they arrive, onFetched() once all have. Where a worker cannot start (no Worker, a content security policy
 * without blob: workers), here() makes them on this thread: it returns a promise of the pack's bytes. Rejects with
 * a fetch's error ("could not fetch …") or floatWeights' errors.
 */
export function loadWeights(url, layout, { onBytes = () => {}, onFetched = () => {}, here }) {
  const inPage = () => here().then((b) => (onFetched(), [b, floatWeights(layout, whole(b))]));
  let worker, src;
  try {
    // the two functions' own source, under their own names (which a minifier may have changed, consistently)
    const code = `${floatWeights}\n${work}\nonmessage = (e) => ${work.name}(e.data).catch((error) => postMessage({ error: error.message }));`;
    src = URL.createObjectURL(new Blob([code], { type: "text/javascript" }));
    worker = new Worker(src);
  } catch {
    if (src) URL.revokeObjectURL(src);
    return inPage();
  }
  return new Promise((resolve, reject) => {
    let heard = false;
    const done = () => (worker.terminate(), URL.revokeObjectURL(src));
    worker.onmessage = ({ data }) => {
      heard = true;
      if (data.bytes != null) {
        onBytes(data.bytes);
        if (data.fetched) onFetched();
        return;
      }
      done();
      if (data.error) reject(new Error(data.error));
      else resolve([data.pack, data.out]);
    };
    worker.onerror = (e) => {      // the worker's script did not run (or failed outside `work`)
      e.preventDefault();
      done();
      if (heard) reject(new Error(e.message || "the weights worker failed"));
      else inPage().then(resolve, reject);
    };
    worker.postMessage({ url, layout });
  });
}
