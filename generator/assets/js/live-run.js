// Loading and running a live model in the page: ONNX Runtime Web (the vendored WASM-only build, one thread, no
// SharedArrayBuffer, so any static host works without special headers) and the model's files from
// assets/explorables/live/<entry>/ (generator/live/assets.py). Nothing here runs before the reader asks; every URL is
// on the site's own host, resolved against the widgets' script.
import { WordPiece } from "./live-wordpiece.js";
import { loadWeights } from "./live-weights.js";

// the widgets' folder (assets/explorables/js/): this group's script, or the core's when the group ran from its queue
const HERE = globalThis.document?.currentScript?.src ||
  globalThis.document?.querySelector?.('script[src*="explorables.iife.js"]')?.src || import.meta.url;
const at = (path) => new URL(path, HERE).href;

const models = new Map(); // entry -> promise of a loaded model (one per page visit, shared by blocks)
let runtime = null;

/** Why this page cannot run a live model here, or null. */
export function unavailable() {
  if (globalThis.location?.protocol === "file:")
    return "the live model needs the page to be served over http(s): a page opened from a file may not fetch its WebAssembly runtime or model";
  if (typeof WebAssembly !== "object") return "this browser has no WebAssembly";
  if (typeof DecompressionStream !== "function") return "this browser cannot inflate the model (no DecompressionStream)";
  return null;
}

/** Bytes of `url`, reporting each chunk as onBytes(n); gzip-inflated when they start with gzip's magic number. */
async function bytes(url, onBytes) {
  let r;
  try {
    r = await fetch(url);
  } catch (e) {
    throw new Error(`could not fetch ${url.split("/").slice(-2).join("/")} (${e.message})`);
  }
  if (!r.ok) throw new Error(`could not fetch ${url.split("/").slice(-2).join("/")} (HTTP ${r.status})`);
  const reader = r.body.getReader(), chunks = [];
  let n = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    n += value.length;
    onBytes(value.length);
  }
  const all = new Uint8Array(n);
  let o = 0;
  for (const c of chunks) all.set(c, o), (o += c.length);
  if (all[0] !== 0x1f || all[1] !== 0x8b) return all; // already inflated (a server that sent Content-Encoding: gzip)
  const s = new ReadableStream({ start: (c) => (c.enqueue(all), c.close()) }).pipeThrough(new DecompressionStream("gzip"));
  return new Uint8Array(await new Response(s).arrayBuffer());
}

/**
 * Promise of the live model `entry`: {manifest, tokenizer: WordPiece, run(ids) -> outputs, timings}. progress(done,
 * total) reports bytes transferred (total from the manifest's file sizes). Loaded once per page visit. timings: ms
 * from the start of the load to the end of each step (manifest, runtime: its JS imported and its WASM fetched,
 * model, weights and vocab: fetched, dequantise: the float32 weights made (the pack fetched and the weights
 * made in a worker, live-weights.js `loadWeights`), started: the runtime's WASM instantiated
 * and onnxruntime initialised, session: the model's session created), for the benchmark
 * (benchmarks/live.py reads them through the control's data-live-timings).
 */
export function loadModel(entry, progress) {
  let p = models.get(entry);
  if (!p) {
    models.set(entry, (p = load(entry, progress)));
    p.catch(() => models.delete(entry));
  }
  return p;
}

const WASM = "../vendor/onnxruntime-web/ort-wasm-simd-threaded.wasm.gz", ORT = "../vendor/onnxruntime-web/ort.wasm.bundle.min.mjs";
const WASM_BYTES = 3.8e6; // about: its exact size is known only once fetched
// base64 of an ONNX graph y = Identity(x), x and y float32 [1], opset 17 (70 bytes; onnx.helper.make_model, ir_version 8;
// tests/test_live_export.py runs it): its session starts the runtime before the model's weights are ready
const START = "CAgSADo6ChAKAXgSAXkiCElkZW50aXR5EgR3YXJtWg8KAXgSCgoICAESBAoCCAFiDwoBeRIKCggIARIECgIIAUIECgAQEQ==";

async function load(entry, progress) {
  const t0 = performance.now(), timings = {}, mark = (name) => (x) => ((timings[name] = +(performance.now() - t0).toFixed(1)), x);
  const base = at(`../live/${entry}/`);
  let done = 0, total = runtime ? 0 : WASM_BYTES; // the model's files are added once the manifest gives their sizes
  const tick = (n) => progress?.((done += n), Math.max(total, done));
  // the manifest's request first (it is small, and the weights wait for it), then the runtime's, without waiting
  // for the manifest: the runtime's start is the longest step on the way
  const manifestReady = fetch(base + "live.json").then((r) => (r.ok ? r : Promise.reject(new Error(`could not fetch live/${entry}/live.json (HTTP ${r.status})`))))
    .then((r) => r.json()).then(mark("manifest"));
  const rt = (runtime ??= Promise.all([import(at(ORT)), bytes(at(WASM), tick)]).then(([ort, wasm]) => {
    ort.env.wasm.numThreads = 1;     // no SharedArrayBuffer needed: works without cross-origin isolation
    ort.env.wasm.proxy = false;
    ort.env.wasm.wasmBinary = wasm;  // fetched (and inflated) here: the runtime fetches nothing itself
    // the runtime's own start (its WASM compiled and instantiated, onnxruntime initialised: most of the session
    // step) begins now, while the weights arrive and are made, through a one-node graph's session; the model's
    // session waits for the same start (onnxruntime-web initialises its backend once)
    const started = ort.InferenceSession.create(Uint8Array.from(atob(START), (c) => c.charCodeAt(0)), { executionProviders: ["wasm"] }).then((s) => s.release());
    return { ort, started };
  }));
  rt.catch(() => (runtime = null));
  const manifest = await manifestReady;
  const { model, weights, vocab } = manifest.files;
  total += model.bytes + weights.bytes + vocab.bytes;
  const [ort, modelBytes, [pack, floats], vocabText] = await Promise.all([
    rt.then(mark("runtime")).then(({ ort, started }) => started.then(mark("started"), () => null).then(() => ort)),
    bytes(base + model.name, tick).then(mark("model")),
    loadWeights(base + weights.name, manifest.weights, { onBytes: tick, onFetched: () => mark("weights")(),
      here: () => bytes(base + weights.name, tick) }).then(mark("dequantise")),
    bytes(base + vocab.name, tick).then((b) => new TextDecoder().decode(b)).then(mark("vocab"))]);
  // the graph comes optimised by the build (generator/live/export.py `optimise`, the same onnxruntime version) and
  // its float32 weights were made above from int8: no graph optimisation and no folding of int8 weights here, which
  // took 1.5-6 s of the first figure (benchmarks/RESULTS.md, "Live blocks"). The embedding tables stay int8: the
  // graph reads them from the pack (its external file manifest.weights.pack) and scales the rows it gathers. No
  // pre-packing of the MatMul weights either: it tripled the session's creation (568 vs 194 ms at load 8) and gave
  // no faster forward in the page (benchmarks/live_session.py)
  const session = await ort.InferenceSession.create(modelBytes, { executionProviders: ["wasm"], graphOptimizationLevel: "disabled",
    externalData: [{ path: manifest.weights.file, data: floats }, { path: manifest.weights.pack, data: pack }],
    extra: { session: { disable_prepacking: "1" } } }).then(mark("session"));
  const tokenizer = new WordPiece(manifest.tokenizer, vocabText.replace(/\n$/, "").split("\n"));
  /** One forward pass (segments: 0 or 1 per id, for a pair): {attentions, queries, keys, pooled} as {data, dims}. */
  async function run(ids, segments = null) {
    const n = ids.length, t = (a) => new ort.Tensor("int64", BigInt64Array.from(a, BigInt), [1, n]);
    const out = await session.run({ input_ids: t(ids), token_type_ids: t(segments || ids.map(() => 0)) });
    const res = {};
    for (const name of manifest.outputs) res[name] = { data: out[name].data, dims: out[name].dims };
    return res;
  }
  return { manifest, tokenizer, run, timings };
}
