"""Live blocks (issue 25): where the session step of the first live figure goes, variants side by side.

    PYTHONPATH=$PWD .venv/bin/python benchmarks/live_session.py [--rounds 4]

A bare page (no site) with the vendored onnxruntime-web and the cached MiniLM live entry (the newest `live-*` folder
with a weights.pack under the model cache) creates a session for each variant in turn, interleaved over --rounds
rounds in one headless Chromium page (the runtime's WASM instantiated once first), and reports per variant the
medians of: weights made in JS (ms), session creation (ms), first forward at 32 tokens (ms), forward at 64 tokens
(ms, median of 3) and the renderer's CPU (user + system, psutil) over creation + first forward; then the largest
|difference| of every output against the shipped variant at 64 tokens. Variants (graphs made here from the shipped
graph and pack, the same int8 values and scales):

- shipped: the build's float32 graph, weights made in JS from the int8 pack (live-weights.js), as externalData;
- shippednp, gather8np: as shipped, gather8 with session option session.disable_prepacking = 1;
- gather8: the word and position embeddings stay int8 in the graph; the page gathers the token's rows and scales
  them (Gather, Cast, Gather of the scales, Mul: the same float32 product as DequantizeLinear); other weights float32;
- all8: as gather8, and every MatMul weight int8 behind a DequantizeLinear node (de-quantised on every run).
"""

from __future__ import annotations

import argparse
import functools
import http.server
import json
import os
import shutil
import statistics
import tempfile
import threading
from pathlib import Path

import numpy as np
import psutil

REPO = Path(__file__).resolve().parent.parent


def entry_folder() -> Path:
    """The newest cached entry of format explorables-live/1 (every weight in the float file): the variants below
    are made from that layout. Format 2 (embedding tables read int8 by the graph, export.pack) is the gather8
    variant shipped; benchmarks/live.py measures it in the page."""
    from generator.models.weights_cache import cache_root

    def format_of(folder: Path) -> str | None:
        try:
            return json.loads((folder / "live.json").read_text()).get("format")
        except (OSError, ValueError):
            return None
    found = sorted((p for p in Path(cache_root()).glob("live-*")
                    if (p / "weights.pack").exists() and format_of(p) == "explorables-live/1"),
                   key=lambda p: p.stat().st_mtime)
    if not found:
        raise SystemExit("no cached live entry of format explorables-live/1 (made by the export before "
                         "2026-12-07's session 5): this bench compares variants of that layout")
    return found[-1]


def floats(entry: Path) -> bytes:
    """The float32 weights file, made from the pack as live-weights.js does."""
    layout = json.loads((entry / "live.json").read_text())["weights"]
    pack = (entry / "weights.pack").read_bytes()
    out = np.zeros(layout["bytes"] // 4, np.float32)
    for s in layout["segments"]:
        if "int8" not in s:
            out[s["offset"] // 4:(s["offset"] + s["bytes"]) // 4] = np.frombuffer(pack, np.float32, s["bytes"] // 4, s["at"])
            continue
        r, c = s["dims"]
        q = np.frombuffer(pack, np.int8, r * c, s["int8"]).reshape(r, c).astype(np.float32)
        scale = np.frombuffer(pack, np.float32, r if s["axis"] == 0 else c, s["scale"])
        w = q * (scale[:, None] if s["axis"] == 0 else scale[None, :])
        out[s["offset"] // 4:s["offset"] // 4 + r * c] = w.ravel()
    return out.tobytes()


def variant(entry: Path, target: Path, matmuls: bool) -> None:
    """A self-contained graph: embeddings int8 gathered then scaled; MatMul weights int8 + DequantizeLinear when
    `matmuls`, else float32; every other initializer float32."""
    import onnx
    from onnx import helper, numpy_helper

    manifest = json.loads((entry / "live.json").read_text())
    layout, pack = manifest["weights"], (entry / "weights.pack").read_bytes()
    data = floats(entry)
    model = onnx.load(str(entry / "model.onnx"), load_external_data=False)
    seg = {s["offset"]: s for s in layout["segments"]}
    gathers = {n.input[0]: n for n in model.graph.node if n.op_type == "Gather"}
    added, replace = [], {}
    for init in list(model.graph.initializer):
        if init.data_location != onnx.TensorProto.EXTERNAL:
            continue
        place = {e.key: e.value for e in init.external_data}
        offset, size = int(place.get("offset", 0)), int(place["length"])
        s = seg[offset]
        model.graph.initializer.remove(init)
        quantised = "int8" in s
        if quantised and init.name in gathers and s["axis"] == 0:
            r, c = s["dims"]
            q = np.frombuffer(pack, np.int8, r * c, s["int8"]).reshape(r, c)
            sc = np.frombuffer(pack, np.float32, r, s["scale"]).reshape(r, 1)
            model.graph.initializer.extend([numpy_helper.from_array(q, init.name + "_int8"),
                                            numpy_helper.from_array(sc, init.name + "_scale")])
            g = gathers[init.name]
            ids, out = g.input[1], g.output[0]
            replace[id(g)] = [
                helper.make_node("Gather", [init.name + "_int8", ids], [out + "_q"], axis=0),
                helper.make_node("Gather", [init.name + "_scale", ids], [out + "_s"], axis=0),
                helper.make_node("Cast", [out + "_q"], [out + "_f"], to=onnx.TensorProto.FLOAT),
                helper.make_node("Mul", [out + "_f", out + "_s"], [out])]
        elif quantised and matmuls:
            r, c = s["dims"]
            q = np.frombuffer(pack, np.int8, r * c, s["int8"]).reshape(r, c)
            sc = np.frombuffer(pack, np.float32, r if s["axis"] == 0 else c, s["scale"]).copy()
            model.graph.initializer.extend([numpy_helper.from_array(q, init.name + "_int8"),
                                            numpy_helper.from_array(sc, init.name + "_scale")])
            added.append(helper.make_node("DequantizeLinear", [init.name + "_int8", init.name + "_scale"], [init.name],
                                          axis=s["axis"]))
        else:
            dtype = onnx.helper.tensor_dtype_to_np_dtype(init.data_type)
            w = np.frombuffer(data, dtype, size // dtype.itemsize, offset).reshape(list(init.dims))
            model.graph.initializer.append(numpy_helper.from_array(w, init.name))
    nodes = []
    for n in model.graph.node:
        nodes.extend(replace.get(id(n), [n]))
    del model.graph.node[:]
    model.graph.node.extend(added + nodes)
    onnx.save(model, str(target))


PAGE = """<!doctype html><meta charset=utf-8><script type=module>
import * as ort from "./ort.wasm.bundle.min.mjs";
import { floatWeights } from "./live-weights.js";
const get = async (u) => new Uint8Array(await (await fetch(u)).arrayBuffer());
const inflate = async (b) => new Uint8Array(await new Response(new Response(b).body.pipeThrough(new DecompressionStream("gzip"))).arrayBuffer());
ort.env.wasm.numThreads = 1; ort.env.wasm.proxy = false;
ort.env.wasm.wasmBinary = await inflate(await get("ort-wasm-simd-threaded.wasm.gz"));
const manifest = await (await fetch("live.json")).json();
const files = { shipped: await get("model.onnx"), pack: await get("weights.pack"), gather8: await get("gather8.onnx"), all8: await get("all8.onnx") };
const ids = (n) => Array.from({ length: n }, (_, i) => (i === 0 ? 101 : i === n - 1 ? 102 : 2000 + 37 * i));
const t = (a) => new ort.Tensor("int64", BigInt64Array.from(a, BigInt), [1, a.length]);
const feed = (n) => ({ input_ids: t(ids(n)), token_type_ids: t(ids(n).map(() => 0)) });
let ref = null;
window.warm = async () => { const a = performance.now(); const s = await ort.InferenceSession.create(files.all8, { graphOptimizationLevel: "disabled" }); const b = performance.now(); await s.release(); return b - a; };
window.trial = async (name) => {
  const t0 = performance.now(); let opts = { executionProviders: ["wasm"], graphOptimizationLevel: "disabled" }, bytes, w = 0;
  if (name === "shipped" || name === "shippednp") {
    const f = floatWeights(manifest.weights, files.pack.buffer.slice(0));
    w = performance.now() - t0; bytes = files.shipped;
    opts.externalData = [{ path: manifest.weights.file, data: f }];
  } else bytes = files[name.replace("np", "")];
  if (name.endsWith("np")) opts.extra = { session: { disable_prepacking: "1" } };
  const t1 = performance.now();
  const s = await ort.InferenceSession.create(bytes, opts);
  const t2 = performance.now();
  await s.run(feed(32));
  const t3 = performance.now();
  const fw = [];
  let out;
  for (let i = 0; i < 3; i++) { const a = performance.now(); out = await s.run(feed(64)); fw.push(performance.now() - a); }
  fw.sort((a, b) => a - b);
  let diff = 0;
  const res = Object.fromEntries(manifest.outputs.map((k) => [k, out[k].data]));
  if (name === "shipped" && !ref) ref = res;
  if (ref) for (const k of manifest.outputs) for (let i = 0; i < ref[k].length; i++) diff = Math.max(diff, Math.abs(ref[k][i] - res[k][i]));
  await s.release();
  return { weights: w, create: t2 - t1, first32: t3 - t2, forward64: fw[1], diff };
};
window.ready = true;
</script>"""

NAMES = ("shipped", "shippednp", "gather8", "gather8np", "all8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    entry = entry_folder()
    with tempfile.TemporaryDirectory() as work:
        root = Path(work)
        for name in ("live.json", "model.onnx", "weights.pack"):
            shutil.copy(entry / name, root / name)
        vendor = REPO / "generator" / "assets" / "vendor" / "onnxruntime-web"
        for name in ("ort.wasm.bundle.min.mjs", "ort-wasm-simd-threaded.wasm.gz"):
            shutil.copy(vendor / name, root / name)
        shutil.copy(REPO / "generator" / "assets" / "js" / "live-weights.js", root / "live-weights.js")
        variant(entry, root / "gather8.onnx", matmuls=False)
        variant(entry, root / "all8.onnx", matmuls=True)
        sizes = {n: (root / f).stat().st_size for n, f in (("shipped graph + pack", "weights.pack"),
                                                          ("gather8", "gather8.onnx"), ("all8", "all8.onnx"))}
        (root / "index.html").write_text(PAGE)

        class Quiet(http.server.SimpleHTTPRequestHandler):
            def log_message(self, *a):
                pass
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=work))
        threading.Thread(target=server.serve_forever, daemon=True).start()
        load_before = os.getloadavg()[0]
        results: dict[str, list[dict]] = {n: [] for n in NAMES}
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=shutil.which("chromium"), args=["--no-sandbox"])
            page = browser.new_page()
            page.goto(f"http://127.0.0.1:{server.server_port}/")
            page.wait_for_function("window.ready === true", timeout=120_000)
            instantiate = page.evaluate("warm()")
            for _ in range(args.rounds):
                for name in NAMES:
                    c0 = psutil_cpu()
                    r = page.evaluate(f"trial('{name}')")
                    r["cpu"] = psutil_cpu() - c0
                    results[name].append(r)
            browser.close()
        server.shutdown()
    print(f"load average (1 min): {load_before:.1f} before, {os.getloadavg()[0]:.1f} after (2 cores); entry {entry.name}")
    print(f"runtime instantiated + a first session created once: {instantiate:.0f} ms")
    print("bytes: " + ", ".join(f"{k} {v / 1e6:.2f} MB" for k, v in sizes.items()))
    print(f"{'variant':10} {'weights JS':>10} {'create':>8} {'first 32':>9} {'fwd 64':>7} {'CPU s*':>7} {'max|diff|':>9}")
    for name in NAMES:
        m = {k: statistics.median(r[k] for r in results[name]) for k in ("weights", "create", "first32", "forward64", "cpu")}
        d = max(r["diff"] for r in results[name])
        print(f"{name:10} {m['weights']:10.0f} {m['create']:8.0f} {m['first32']:9.0f} {m['forward64']:7.0f} {m['cpu']:7.2f} {d:9.2e}")
    print("* renderer CPU over the whole trial (weights, creation, first forward, three forwards at 64), median")


def psutil_cpu() -> float:
    total = 0.0
    for child in psutil.Process().children(recursive=True):
        try:
            if "--type=renderer" in " ".join(child.cmdline()):
                t = child.cpu_times()
                total += t.user + t.system
        except psutil.Error:
            pass
    return total


if __name__ == "__main__":
    main()
