"""Live blocks (issue 25): the runtime's start on a returning reader's visit, ways of getting its WASM compiled.

    PYTHONPATH=$PWD .venv/bin/python benchmarks/live_wasm_cache.py [--rounds 5] [--dwell 4] [--variants bytes,kept]
        [--browser-arg=--js-flags=...]   (an extra Chromium switch, repeatable)

A bare page (no site) with the vendored onnxruntime-web and, where the model cache holds one, the MiniLM live entry
(the newest `live-*` folder of format explorables-live/2). Every visit is a fresh page of one browser profile (a
persistent context, so the HTTP cache, Cache Storage and V8's code cache live across visits, as in a reader's
browser); the variants take turns, in reversed order every other round. One visit: the model's files are fetched
and its float32 weights made first (not timed, nor counted in the CPU), then from t0 the runtime's JS is imported, its WASM obtained as the
variant says, onnxruntime started (a one-node graph's session, as live-run.js does), the model's session created
and one forward pass at 32 tokens run; ms from t0 to each. After that the page stays --dwell seconds running
forwards at 64 tokens (a reader looking at the figure; V8 writes its code cache only once TurboFan code exists and
a 2 s timeout has passed), then closes. Variants:

- bytes: today's live-run.js: the gzip fetched (HTTP cache), inflated to bytes, `env.wasm.wasmBinary`;
- stream: the gzip's inflated stream compiled while it arrives, `WebAssembly.compileStreaming` of a Response made
  from the stream (no cache handler: a constructed Response has no URL), the module handed to onnxruntime;
- kept: the inflated WASM kept in Cache Storage (a Response with Content-Type application/wasm under a same-origin
  URL, written on the first visit); later visits `compileStreaming(await cache.match(key))`;
- http: the uncompressed .wasm fetched by URL (14.8 MB, over the transfer cap: only a check of whether V8's code
  cache works at all in this browser) with `compileStreaming(fetch(url))`.

A module is handed to onnxruntime by answering its `WebAssembly.instantiate` of a stand-in 8-byte binary (the
runtime's options pass no Emscripten `instantiateWasm` hook through). Then one more visit per variant is traced
(CDP, categories v8.wasm and devtools.timeline) for V8's code cache events (v8.wasm.moduleCacheHit, cachedModule)
and the main thread's lazy compiles (wasm.CompileLazy). Printed: per variant the median and every visit's ms, the
renderer's CPU (all threads / main thread), the size of the profile's `Code Cache/wasm` folder after each round.
"""

from __future__ import annotations

import argparse
import functools
import gzip
import http.server
import json
import os
import shutil
import statistics
import tempfile
import threading
import time
from pathlib import Path

from live_ab import thread_cpu

REPO = Path(__file__).resolve().parent.parent
VARIANTS = ("bytes", "stream", "kept", "http")
# trace events counted in the traced visit: V8's code cache (Blink's v8.wasm.* events; V8's chunk event that starts
# a cache write) and where the compile went (lazy Liftoff compiles on first call, TurboFan tier-up, the bytes
# path's decode, the streaming path's validation)
TRACED = {"v8.wasm.moduleCacheHit", "v8.wasm.moduleCacheInvalid", "v8.wasm.compiledModule", "v8.wasm.cachedModule",
          "wasm.CompilationChunkFinished", "wasm.CompileLazy", "wasm.TopTierCompilation", "wasm.DecodeModule",
          "wasm.ValidateFunctionsStreaming", "wasm.SyncInstantiate"}
START = "CAgSADo6ChAKAXgSAXkiCElkZW50aXR5EgR3YXJtWg8KAXgSCgoICAESBAoCCAFiDwoBeRIKCggIARIECgIIAUIECgAQEQ=="

PAGE = """<!doctype html><meta charset=utf-8><script type=module>
import { floatWeights } from "./live-weights.js";
const V = new URLSearchParams(location.search).get("v"), DWELL = +new URLSearchParams(location.search).get("dwell");
const WASM = "ort-wasm-simd-threaded.wasm", KEY = new URL("kept/" + WASM, location.href).href;
const wasmType = { "content-type": "application/wasm" };
const inflate = (body) => body.pipeThrough(new DecompressionStream("gzip"));
const get = async (u) => {
  const r = await fetch(u); if (!r.ok) return null;
  const b = new Uint8Array(await r.arrayBuffer());
  return b[0] === 0x1f && b[1] === 0x8b ? new Uint8Array(await new Response(inflate(new Response(b).body)).arrayBuffer()) : b;
};
// the model's files first, not timed (in the page they arrive while the runtime starts)
const manifest = await fetch("live.json").then((r) => (r.ok ? r.json() : null));
let model = null, floats = null, pack = null;
if (manifest) {
  [model, pack] = await Promise.all([get(manifest.files.model.name), get(manifest.files.weights.name)]);
  floats = floatWeights(manifest.weights, pack.buffer.slice(0));
}
await new Promise((go) => ((window.go = go), (window.prepared = true)));
const t0 = performance.now(), T = {}, mark = (k) => (T[k] = +(performance.now() - t0).toFixed(1));
const ort = await import("./ort.wasm.bundle.min.mjs");
mark("import");
ort.env.wasm.numThreads = 1; ort.env.wasm.proxy = false;
let module = null, bytes = null, how = V, put = null;
if (V === "bytes") {
  bytes = new Uint8Array(await new Response(inflate((await fetch(WASM + ".gz")).body)).arrayBuffer());
} else if (V === "stream") {
  module = await WebAssembly.compileStreaming(new Response(inflate((await fetch(WASM + ".gz")).body), { headers: wasmType }));
} else if (V === "kept") {
  const cache = await caches.open("wasm-kept");
  const hit = await cache.match(KEY);
  if (hit) {
    module = await WebAssembly.compileStreaming(hit);
    how = "kept:hit";
  } else {
    const b = new Uint8Array(await new Response(inflate((await fetch(WASM + ".gz")).body)).arrayBuffer());
    module = await WebAssembly.compile(b);
    put = cache.put(KEY, new Response(b, { headers: wasmType }));
    how = "kept:miss";
  }
} else if (V === "http") {
  module = await WebAssembly.compileStreaming(fetch(WASM));
}
mark("wasm");
if (bytes) ort.env.wasm.wasmBinary = bytes;
else {
  ort.env.wasm.wasmBinary = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0]);
  const orig = WebAssembly.instantiate;
  WebAssembly.instantiate = function (src, imports) {
    if (src?.byteLength === 8) {
      WebAssembly.instantiate = orig;
      return orig.call(WebAssembly, module, imports).then((instance) => ({ instance, module }));
    }
    return orig.apply(WebAssembly, arguments);
  };
}
const start = Uint8Array.from(atob("%START%"), (c) => c.charCodeAt(0));
await (await ort.InferenceSession.create(start, { executionProviders: ["wasm"] })).release();
mark("started");
let session = null;
const ids = (n) => Array.from({ length: n }, (_, i) => (i === 0 ? 101 : i === n - 1 ? 102 : 2000 + 37 * i));
const t = (a) => new ort.Tensor("int64", BigInt64Array.from(a, BigInt), [1, a.length]);
const feed = (n) => ({ input_ids: t(ids(n)), token_type_ids: t(ids(n).map(() => 0)) });
if (manifest) {
  session = await ort.InferenceSession.create(model, { executionProviders: ["wasm"], graphOptimizationLevel: "disabled",
    externalData: [{ path: manifest.weights.file, data: floats }, { path: manifest.weights.pack, data: pack }],
    extra: { session: { disable_prepacking: "1" } } });
  mark("session");
  await session.run(feed(32));
  mark("forward");
}
window.result = { how, T };
const until = performance.now() + DWELL * 1000;
while (performance.now() < until) {
  if (session) await session.run(feed(64));
  await new Promise((r) => setTimeout(r, session ? 50 : 250));
}
await put;
window.done = true;
</script>""".replace("%START%", START)


def entry_folder() -> Path | None:
    """The newest cached MiniLM entry of format explorables-live/2, or None."""
    from generator.models.weights_cache import cache_root

    def format_of(folder: Path) -> str | None:
        try:
            return json.loads((folder / "live.json").read_text()).get("format")
        except (OSError, ValueError):
            return None
    root = cache_root()
    found = sorted((p for p in (Path(root).glob("live-*") if root else []) if format_of(p) == "explorables-live/2"),
                   key=lambda p: p.stat().st_mtime)
    return found[-1] if found else None


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) if folder.exists() else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--dwell", type=float, default=4.0)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--browser-arg", action="append", default=[],
                        help="an extra Chromium switch, e.g. --enable-features=WebAssemblyMoreAggressiveCodeCaching")
    args = parser.parse_args()
    variants = args.variants.split(",")
    from playwright.sync_api import sync_playwright

    entry = entry_folder()
    with tempfile.TemporaryDirectory() as work:
        root = Path(work) / "www"
        root.mkdir()
        vendor = REPO / "generator" / "assets" / "vendor" / "onnxruntime-web"
        for name in ("ort.wasm.bundle.min.mjs", "ort-wasm-simd-threaded.wasm.gz"):
            shutil.copy(vendor / name, root / name)
        (root / "ort-wasm-simd-threaded.wasm").write_bytes(gzip.decompress((vendor / "ort-wasm-simd-threaded.wasm.gz").read_bytes()))
        shutil.copy(REPO / "generator" / "assets" / "js" / "live-weights.js", root / "live-weights.js")
        if entry:
            for p in entry.iterdir():
                shutil.copy(p, root / p.name)
        (root / "index.html").write_text(PAGE)

        class Quiet(http.server.SimpleHTTPRequestHandler):
            def log_message(self, *a):
                pass
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(root)))
        threading.Thread(target=server.serve_forever, daemon=True).start()
        base = f"http://127.0.0.1:{server.server_port}/"
        profile = Path(work) / "profile"
        code_cache = profile / "Default" / "Code Cache" / "wasm"
        load_before = os.getloadavg()[0]
        visits: dict[str, list[dict]] = {v: [] for v in variants}
        sizes = []
        with sync_playwright() as pw:
            context = pw.chromium.launch_persistent_context(profile, executable_path=shutil.which("chromium"),
                                                            args=["--no-sandbox", *args.browser_arg])

            def visit(v: str, trace: bool = False) -> dict:
                page = context.new_page()
                events: list[dict] = []
                cdp = None
                if trace:
                    cdp = context.new_cdp_session(page)
                    cdp.on("Tracing.dataCollected", lambda p: events.extend(p["value"]))
                    cdp.send("Tracing.start", {"categories": "v8.wasm,disabled-by-default-v8.wasm.detailed,"
                                               "disabled-by-default-devtools.timeline", "transferMode": "ReportEvents"})
                page.goto(f"{base}?v={v}&dwell={args.dwell}")
                page.wait_for_function("window.prepared === true", timeout=300_000)
                before = thread_cpu()
                page.evaluate("window.go()")
                page.wait_for_function("window.result", timeout=300_000)
                after = thread_cpu()
                data = page.evaluate("window.result")
                data["cpu"] = sum(after.values()) - sum(before.values())
                data["main"] = after.get("main", 0.0) - before.get("main", 0.0)
                page.wait_for_function("window.done === true", timeout=300_000)
                if trace:
                    done = threading.Event()
                    cdp.on("Tracing.tracingComplete", lambda p: done.set())
                    cdp.send("Tracing.end")
                    while not done.is_set():
                        page.wait_for_timeout(100)
                    names = {}
                    for e in events:
                        n = e.get("name", "")
                        if n in TRACED:
                            c, d = names.get(n, (0, 0.0))
                            names[n] = (c + 1, d + e.get("dur", 0) / 1000)
                    data["trace"] = {n: f"{c}x {d:.0f} ms" for n, (c, d) in sorted(names.items())}
                page.close()
                time.sleep(0.5)
                return data

            for r in range(args.rounds + 1):          # round 0: the first visit (fills the caches), not counted
                for v in (variants if r % 2 == 0 else variants[::-1]):
                    d = visit(v)
                    if r:
                        visits[v].append(d)
                    else:
                        print(f"first visit {v}: {d['how']} {d['T']}", flush=True)
                sizes.append(folder_bytes(code_cache))
            traced = {v: visit(v, trace=True) for v in variants}
            context.close()
        server.shutdown()
    print(f"load average (1 min): {load_before:.1f} before, {os.getloadavg()[0]:.1f} after (2 cores); "
          f"entry {entry.name if entry else 'none (runtime start only)'}; {args.rounds} returning visits per variant, "
          f"dwell {args.dwell} s; extra switches {args.browser_arg or 'none'}")
    print("Code Cache/wasm bytes after each round: " + ", ".join(f"{s / 1e6:.2f} MB" for s in sizes))
    steps = ("import", "wasm", "started", "session", "forward")
    for v in variants:
        vs = visits[v]
        med = {k: statistics.median(x["T"][k] for x in vs) for k in steps if k in vs[0]["T"]}
        print(f"{v:7} ({', '.join(sorted({x['how'] for x in vs}))}): medians, ms from t0: "
              + ", ".join(f"{k} {m:.0f}" for k, m in med.items())
              + f"; renderer CPU {statistics.median(x['cpu'] for x in vs):.2f} s, main thread "
              f"{statistics.median(x['main'] for x in vs):.2f} s")
        last = "forward" if "forward" in vs[0]["T"] else "started"
        print(f"         {last} per visit: " + ", ".join(f"{x['T'][last]:.0f}" for x in vs))
        print(f"         traced visit: {traced[v]['how']} {traced[v]['T']} {traced[v]['trace']}")


if __name__ == "__main__":
    main()
