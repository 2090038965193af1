"""Logit-lens figures: bake time against the unembedding multiply, peak memory, payload size, first paint.

Run by hand (figures go in benchmarks/RESULTS.md):

    .venv/bin/python benchmarks/lens.py                 # everything
    .venv/bin/python benchmarks/lens.py --parts time --torch-threads 1

Targets (SmolLM2, 30 layers, vocabulary 49,152, d_model 576):
- 64 tokens: the lens bake at most 1.5x the time of the (L+1) N x d x V unembedding multiply alone, both measured
  in the same run (medians of interleaved repeats, after a warm-up);
- 256 tokens: peak memory under 1.5 GB while baking (the whole (L+1) x N x V float32 logits tensor alone would
  take 1.56 GB; the lens never holds it);
- top_k 5 at 64 tokens: payload at most 80 KB gzipped; first paint of the grid under 100 ms in headless Chromium.

"The multiply alone" is one `torch.nn.functional.linear` of the already-normed hidden states [(L+1) N, d] with the
unembedding [V, d], the fastest way to do the work the lens cannot avoid; its (L+1) N V output is allocated once
and reused. The lens is timed twice: its section alone (norm, multiply, softmax statistics, top-k, ranks, payload
encoding) and the whole bake (the capture's forward pass with hidden states, then the section). The model load
(~20 s of GGUF de-quantisation) is not counted.
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
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
import generator  # noqa: E402,F401  (before torch: it sets OpenMP's short spin, as the bake has it)
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from bench_site import one_figure_site  # noqa: E402
from factors import text_of  # noqa: E402  (benchmarks/factors.py: a public-domain text cut to N tokens)

REPEATS = 5


def spec_for(loaded, n_tokens: int, top_k: int = 5, views=("layers", "ranks", "probabilities")):
    from generator.spec import ExplorableSpec

    return ExplorableSpec(model=loaded.source.name, text=text_of(loaded.tokenizer, n_tokens), views=list(views),
                          max_tokens=1024, lens={"top_k": top_k})


def timing(loaded, n_tokens: int = 64) -> dict:
    """Medians over interleaved repeats: bare multiply, lens section, capture + section."""
    import torch

    from generator.capture import run
    from generator.methods import REGISTRY
    from generator.methods.lens.compute import normed_hidden
    from generator.methods.lens.section import hidden_rows

    method = REGISTRY["lens"]
    spec = spec_for(loaded, n_tokens)
    capture = run(spec, loaded, method.needs)
    assert len(capture.ids) == n_tokens
    hidden = torch.as_tensor(hidden_rows(capture.activations, capture.readout, capture.info.n_layers))
    rows = normed_hidden(hidden, capture.readout).reshape(-1, hidden.shape[-1])
    weight = capture.readout.unembed.weight
    out = torch.empty(rows.shape[0], weight.shape[0])

    def multiply():
        with torch.no_grad():
            torch.nn.functional.linear(rows, weight, out=out)

    def section():
        method.section(spec, capture)

    def bake():
        method.section(spec, run(spec, loaded, method.needs))

    figures: dict[str, list[float]] = {"multiply": [], "section": [], "bake": []}
    for attempt in range(REPEATS + 1):
        for name, fn in (("multiply", multiply), ("section", section), ("bake", bake)):
            start = time.perf_counter()
            fn()
            if attempt:                    # the first round warms caches and allocators up
                figures[name].append(time.perf_counter() - start)
    medians = {name: statistics.median(values) for name, values in figures.items()}
    medians["rows"] = rows.shape[0]
    medians["gflop"] = 2 * rows.shape[0] * rows.shape[1] * weight.shape[0] / 1e9
    return medians


def payload_size(loaded, n_tokens: int = 64, top_k: int = 5) -> dict:
    from generator import SCHEMA_VERSION
    from generator.capture import run
    from generator.methods import REGISTRY
    from generator.payload import dumps

    method = REGISTRY["lens"]
    spec = spec_for(loaded, n_tokens, top_k)
    capture = run(spec, loaded, method.needs)
    section = method.section(spec, capture)
    payload = dumps({"schema_version": SCHEMA_VERSION, "model": loaded.info.describe(), "tokens": capture.tokens,
                     "n_prompt": capture.n_prompt, "views": list(spec.views), "lens": section})
    parts = {key: len(json.dumps(value, separators=(",", ":"))) for key, value in section.items()}
    return {"bytes": len(payload), "gzip": len(gzip.compress(payload, 9)), "parts": parts,
            "candidates": len(section["candidates"]["ids"])}


MEMORY_PROBE = r"""
import sys, threading, time, resource, psutil
sys.path.insert(0, {repo!r}); sys.path.insert(0, {bench!r})
from lens import spec_for
from generator.models.loading import POOL
from generator.models.registry import resolve
from generator.capture import run
from generator.methods import REGISTRY
loaded = POOL.get(resolve("smollm2"))
proc = psutil.Process()
after_load = proc.memory_info().rss
peak = [after_load]
done = threading.Event()
def sample():
    while not done.is_set():
        peak[0] = max(peak[0], proc.memory_info().rss)
        time.sleep(0.002)
thread = threading.Thread(target=sample); thread.start()
method = REGISTRY["lens"]
spec = spec_for(loaded, {n})
capture = run(spec, loaded, method.needs)
method.section(spec, capture)
done.set(); thread.join()
print(after_load, peak[0], resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
"""


def memory(n_tokens: int = 256) -> dict:
    """Peak RSS of a fresh process while it bakes the lens at n_tokens (sampled every 2 ms), after the model load."""
    code = MEMORY_PROBE.format(repo=str(REPO), bench=str(REPO / "benchmarks"), n=n_tokens)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                            env={**os.environ, "TQDM_DISABLE": "1"})
    after_load, peak, maxrss = (int(v) for v in result.stdout.split()[-3:])
    return {"after_load": after_load, "peak": peak, "maxrss": maxrss}


PAINT_PROBE = """
  const mark = (n) => performance.mark(n);
  new MutationObserver(() => {
    const v = document.querySelector('explorable-layers-view');
    if (!v) return;
    if (v.dataset.state === 'loading' && !window.__near) (window.__near = true), mark('xp-near');
    if (v.dataset.firstPaintMs && !window.__framed) {
      window.__framed = true;
      window.__drawMs = v.dataset.drawMs;
      mark('xp-drawn');
      // a task after the frame, at the scheduler's top priority: a plain timeout would also wait behind the
      // next long task the page had queued (Material's script, at page load), after the frame was rendered
      const after = (f) => (globalThis.scheduler?.postTask ? scheduler.postTask(f, {priority: 'user-blocking'}) : setTimeout(f, 0));
      requestAnimationFrame(() => after(() => {
        mark('xp-frame');
        console.log('xp-paint ' + v.dataset.visiblePaintMs + ' ' + (performance.now() - v.nearAt) + ' ' + window.__drawMs);
      }));
    }
  }).observe(document, {subtree: true, attributes: true, attributeFilter: ['data-first-paint-ms', 'data-state']});
"""


def trace_cpu(trace: bytes) -> tuple[float, float]:
    """Main-thread CPU (ms) of the page's renderer from the view coming near to its draw done, and from there to the
    frame after it: the thread time (`tdur`, not the wall time: the machine may be shared) of the thread's top-level
    tasks within each span, a task cut by a span's edge counted in proportion (Chrome trace, devtools.timeline)."""
    events = json.loads(trace)["traceEvents"]
    marks = {e["name"]: (e["ts"], (e["pid"], e["tid"])) for e in events if e.get("name", "").startswith("xp-")}
    thread = marks["xp-frame"][1]
    near, drawn, frame = (marks[k][0] for k in ("xp-near", "xp-drawn", "xp-frame"))
    tasks, end = [], 0
    for e in sorted((e for e in events if (e["pid"], e["tid"]) == thread and e.get("ph") == "X" and "dur" in e),
                    key=lambda e: (e["ts"], -e["dur"])):
        if e["ts"] >= end and e["name"] in ("RunTask", "ThreadControllerImpl::RunTask"):
            tasks.append(e)
            end = e["ts"] + e["dur"]

    def cpu(a, b):
        return sum(e.get("tdur", e["dur"]) * max(0, min(b, e["ts"] + e["dur"]) - max(a, e["ts"])) / max(1, e["dur"])
                   for e in tasks) / 1000
    return cpu(near, drawn), cpu(drawn, frame)


def first_paint(loaded, n_tokens: int = 64, loads: int = 5, against: Path | None = None, trace: bool = False) -> dict:
    """The grid's first paint in headless Chromium at 1280 x 900: the view's own data-visible-paint-ms (in view ->
    first draw done), the time until the frame after that draw was rendered (layout and paint included) and the
    first draw() call alone (data-draw-ms), as medians over `loads` page loads. The page reports them through the
    console, so no script of the test driver runs in the page while it is measured. With `against` (a checkout), the
    same site is served a second time with that checkout's widget scripts (generator/assets/bundle), and the loads
    alternate between the two. With `trace`, each load is traced and the main thread's CPU time of both spans is
    reported too."""
    from playwright.sync_api import sync_playwright

    text = text_of(loaded.tokenizer, n_tokens)
    with tempfile.TemporaryDirectory() as temp:
        root = Path(temp)
        one_figure_site(root, text, ["layers"], REPO / ".cache" / "explorables")
        sites = {"this": root / "site"}
        if against:
            other = sites["against"] = root / "against"
            shutil.copytree(root / "site", other)
            for script in (against / "generator" / "assets" / "bundle").glob("*.js"):
                shutil.copy(script, other / "assets" / "explorables" / "js" / script.name)

        class Quiet(http.server.SimpleHTTPRequestHandler):
            def log_message(self, *args):
                pass
        servers = {name: http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(d)))
                   for name, d in sites.items()}
        for server in servers.values():
            threading.Thread(target=server.serve_forever, daemon=True).start()
        figures = {name: {"draw": [], "frame": [], "first_draw": [], "cpu_draw": [], "cpu_frame": []} for name in sites}
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=shutil.which("chromium"), args=[
                "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--no-first-run"])
            for _ in range(loads):
                for name, server in servers.items():
                    page = browser.new_page(viewport={"width": 1280, "height": 900})
                    page.add_init_script(PAINT_PROBE)
                    if trace:
                        browser.start_tracing(page=page, categories=[
                            "devtools.timeline", "disabled-by-default-devtools.timeline", "blink.user_timing", "toplevel"])
                    with page.expect_console_message(lambda m: m.text.startswith("xp-paint "), timeout=30000) as message:
                        page.goto(f"http://127.0.0.1:{server.server_address[1]}/")
                    draw, frame, first = (float(v) for v in message.value.text.split()[1:])
                    figures[name]["draw"].append(draw)
                    figures[name]["first_draw"].append(first)
                    figures[name]["frame"].append(frame)
                    if trace:
                        page.wait_for_timeout(100)
                        cpu_draw, cpu_frame = trace_cpu(browser.stop_tracing())
                        figures[name]["cpu_draw"].append(cpu_draw)
                        figures[name]["cpu_frame"].append(cpu_frame)
                    page.close()
            browser.close()
        for server in servers.values():
            server.shutdown()
    return {name: {**{k: statistics.median(v) for k, v in f.items() if v}, "frames": f["frame"]}
            for name, f in figures.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", default="time,size,memory,paint",
                        help="comma-separated: time, size, memory, paint (default: all)")
    parser.add_argument("--torch-threads", type=int, default=0, help="torch intra-op threads (default: torch's)")
    parser.add_argument("--loads", type=int, default=5, help="page loads for the first paint (default: 5)")
    parser.add_argument("--against", type=Path, help="paint: alternate loads with this checkout's widget scripts")
    parser.add_argument("--trace", action="store_true", help="paint: also the main thread's CPU time, from traces")
    args = parser.parse_args()

    import torch

    from generator.models.loading import POOL
    from generator.models.registry import resolve

    if args.torch_threads:
        torch.set_num_threads(args.torch_threads)
    start = time.perf_counter()
    loaded = POOL.get(resolve("smollm2"))
    print(f"SmolLM2 loaded in {time.perf_counter() - start:.1f} s; torch threads {torch.get_num_threads()}; "
          f"load average {os.getloadavg()[0]:.1f}")

    parts = set(args.parts.split(","))
    if "time" in parts:
        time_figures(loaded)
    if "size" in parts:
        size_figures(loaded)
    if "memory" in parts:
        memory_figures()
    if "paint" in parts:
        paint_figures(loaded, args.loads, args.against, args.trace)


def time_figures(loaded) -> None:
    t = timing(loaded)
    print(f"\n## Time, 64 tokens, {t['rows']} rows x 576 x 49,152 = {t['gflop']:.0f} GFLOP (medians of {REPEATS})")
    print(f"multiply alone {t['multiply']:.2f} s; lens section {t['section']:.2f} s "
          f"({t['section'] / t['multiply']:.2f}x; target 1.5x); capture + section {t['bake']:.2f} s "
          f"({t['bake'] / t['multiply']:.2f}x: the capture is the block's one forward pass, which its other views "
          f"share); load average {os.getloadavg()[0]:.1f}")


def size_figures(loaded) -> None:
    size = payload_size(loaded)
    print(f"\n## Payload, 64 tokens, top_k 5: {size['bytes'] / 1000:.1f} KB, {size['gzip'] / 1000:.1f} KB gzipped "
          f"(target 80 KB); {size['candidates']} distinct candidates; section parts (bytes): {size['parts']}")
    for n, k in ((256, 5), (64, 20)):
        other = payload_size(loaded, n, k)
        print(f"   {n} tokens, top_k {k}: {other['bytes'] / 1000:.1f} KB, {other['gzip'] / 1000:.1f} KB gzipped")


def memory_figures() -> None:
    m = memory(256)
    print(f"\n## Memory, 256 tokens (fresh process): RSS after the model load {m['after_load'] / 1e9:.2f} GB, "
          f"peak while baking {m['peak'] / 1e9:.2f} GB (target 1.5 GB), process maximum including the load "
          f"{m['maxrss'] / 1e9:.2f} GB; the full 31 x 256 x 49,152 float32 logits would be "
          f"{31 * 256 * 49152 * 4 / 1e9:.2f} GB (GB = 10^9 bytes)")


def paint_figures(loaded, loads: int, against: Path | None, trace: bool) -> None:
    runs = first_paint(loaded, loads=loads, against=against, trace=trace)
    print(f"\n## First paint of the grid, 64 tokens (31 x 64 cells), headless Chromium, {loads} loads each "
          f"(medians; target 100 ms), load average {os.getloadavg()[0]:.1f}")
    for name, p in runs.items():
        who = "this checkout" if name == "this" else str(against)
        cpu = f"; main-thread CPU {p['cpu_draw']:.0f} / {p['cpu_frame']:.0f} ms" if trace else ""
        print(f"{who}: in view -> draw done {p['draw']:.0f} ms, -> next frame rendered {p['frame']:.0f} ms "
              f"(the first draw() {p['first_draw']:.1f} ms){cpu}; "
              f"all frames: {[round(v) for v in p['frames']]}")


if __name__ == "__main__":
    main()
