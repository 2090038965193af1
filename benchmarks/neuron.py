"""Neuron view figures: what capturing queries and keys adds to an attention bake, the size of the default neuron
section, its quantisation error against the documented bound, and the view's first paint and query-change latency
in headless Chromium (SmolLM2, 32 tokens).

Run by hand (the figures go in benchmarks/RESULTS.md):

    .venv/bin/python benchmarks/neuron.py
    .venv/bin/python benchmarks/neuron.py --browser-only --compare ../main --loads 7   # page loads interleaved
                                                                                       # with another checkout's
"""

from __future__ import annotations

import functools
import gzip
import http.server
import json
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
import generator  # noqa: E402,F401  (before torch: it sets OpenMP's short spin, as the bake has it)
sys.path.insert(0, str(REPO / "benchmarks"))

from attention import text_of  # noqa: E402  (a prefix of one long text with exactly N tokens)
from bench_site import one_figure_site  # noqa: E402

N_TOKENS = 32
ROUNDS = 15


def capture_figures() -> None:
    """Interleaved rounds of (attention) and (attention + queries and keys) bakes, model loaded once, one torch
    thread: the CPU time of this thread (what the work costs; other jobs on the machine barely change it) and the
    wall time, of the capture alone and of capture + sections + JSON."""
    import torch

    from generator.capture import run
    from generator.methods import Needs
    from generator.models.loading import POOL
    from generator.models.registry import resolve
    from generator.payload import dumps
    from generator.spec import spec_from_data

    torch.set_num_threads(1)
    print(f"## Capture overhead, {N_TOKENS} tokens, model loaded, one torch thread, {ROUNDS} interleaved rounds")
    print("(median ms: capture CPU / bake CPU / bake wall)")
    for alias in ("smollm2", "minilm"):
        loaded = POOL.get(resolve(alias))
        text = text_of(alias, N_TOKENS)
        plain = spec_from_data({"model": alias, "text": text, "views": ["head", "model"]}, file="bench")
        with_qk = spec_from_data({"model": alias, "text": text, "views": ["head", "model", "neuron"]}, file="bench")

        def bake(spec):
            needs = Needs()
            for method in spec.methods:
                needs |= method.needs
            wall, cpu = time.perf_counter(), time.thread_time()
            capture = run(spec, loaded, needs)
            captured = time.thread_time() - cpu
            dumps({"tokens": capture.tokens, **{m.name: m.section(spec, capture) for m in spec.methods}})
            return captured, time.thread_time() - cpu, time.perf_counter() - wall

        bake(plain), bake(with_qk)          # warm up
        times: dict[str, list[tuple[float, float, float]]] = {"attention": [], "attention + q/k": []}
        for _ in range(ROUNDS):
            times["attention"].append(bake(plain))
            times["attention + q/k"].append(bake(with_qk))
        medians = {name: [1000 * statistics.median(r[x] for r in rounds) for x in range(3)]
                   for name, rounds in times.items()}
        for name, (capture, cpu, wall) in medians.items():
            print(f"{alias} {name}: {capture:.0f} / {cpu:.0f} / {wall:.0f}")
        a, b = medians["attention"], medians["attention + q/k"]
        print(f"{alias} overhead of q/k: capture CPU {100 * (b[0] / a[0] - 1):+.1f}%, bake CPU "
              f"{100 * (b[1] / a[1] - 1):+.1f}%, bake wall {100 * (b[2] / a[2] - 1):+.1f}%")


def size_and_error_figures() -> None:
    """The default section's gzipped size and the recomputed weights' error against the ARCHITECTURE.md bound."""
    from generator.capture import run
    from generator.hooks import hook_name
    from generator.methods import Needs
    from generator.models.loading import POOL
    from generator.models.registry import resolve
    from generator.payload import decode_array
    from generator.payload.arrays import max_error
    from generator.spec import spec_from_data

    print(f"\n## Default neuron section, {N_TOKENS} and 64 tokens")
    for alias in ("smollm2", "minilm"):
        loaded = POOL.get(resolve(alias))
        for n in (N_TOKENS, 64):
            spec = spec_from_data({"model": alias, "text": text_of(alias, n), "views": ["neuron"]}, file="bench")
            capture = run(spec, loaded, Needs(hooks=("blocks.*.attn.hook_pattern", "blocks.*.attn.hook_q",
                                                     "blocks.*.attn.hook_k"), adapter=True))
            section = spec.methods[0].section(spec, capture)
            text = json.dumps(section).encode()
            values = sum(int(np.prod(a["shape"])) for a in section["queries"] + section["keys"])
            zipped = len(gzip.compress(text, 6))
            worst_error, worst_bound = 0.0, 0.0
            group = loaded.info.n_heads // loaded.info.n_kv_heads
            for slot, layer in enumerate(section["layers"]):
                q_all, k_all = decode_array(section["queries"][slot]), decode_array(section["keys"][slot])
                dq, dk = max_error(section["queries"][slot]), max_error(section["keys"][slot])
                scale = section["scales"][slot]
                for a, head in enumerate(section["heads"]):
                    q, k = q_all[a], k_all[section["key_heads"].index(head // group)]
                    scores = q @ k.T * scale
                    mask = np.tril(np.ones_like(scores)) > 0 if section["causal"] else np.ones_like(scores) > 0
                    scores = np.where(mask, scores, -np.inf)
                    w = np.exp(scores - scores.max(-1, keepdims=True))
                    w /= w.sum(-1, keepdims=True)
                    worst_error = max(worst_error, float(np.abs(w - capture.attentions[layer, head]).max()))
                    per_pair = scale * (np.abs(q).sum(-1)[:, None] * dk + np.abs(k).sum(-1)[None, :] * dq
                                        + q.shape[-1] * dq * dk)
                    worst_bound = max(worst_bound, float(np.expm1(2 * np.where(mask, per_pair, 0).max())))
            assert hook_name(0, "attn.hook_q") in capture.activations
            print(f"{alias}, {len(capture.ids)} tokens: layers {section['layers']}, {len(section['heads'])} heads; "
                  f"{values:,} values, JSON {len(text):,} B, gzipped {zipped:,} B ({zipped / values:.2f} B/value); "
                  f"max weight error {worst_error:.2e} (bound {worst_bound:.2e})")


def _main_thread_cpu(events: list[dict], start: str, end: str) -> float:
    """Renderer main-thread CPU time (ms) between two user-timing marks of a Chrome trace: the difference of their
    thread timestamps ("tts", the thread's CPU clock). Other jobs on a busy machine stretch wall time but hardly
    this; it is about what an idle machine would take (loopback network aside)."""
    marks = {e["name"]: e["tts"] for e in events if e.get("cat") == "blink.user_timing" and e["name"] in (start, end)}
    return (marks[end] - marks[start]) / 1000


def _bench_site(root: Path, repo: Path, cache: Path) -> Path:
    """Build the one-figure bench page (the neuron view below the fold) with the generator of checkout `repo`."""
    filler = "\n\n".join(f"Paragraph {i} of filler, so that the figure starts below the fold." for i in range(40))
    return one_figure_site(root, text_of("smollm2", N_TOKENS), ["neuron"], cache, repo=repo, before=filler)


def _one_load(browser, url: str) -> dict[str, list[float]]:
    """One page load: first paint (the view starts -> its first draw returns, and -> the frame after it has been
    rendered), in wall and renderer main-thread CPU time, then a query change every third token."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(url, wait_until="load")
    page.wait_for_timeout(300)
    cdp = page.context.new_cdp_session(page)
    events: list[dict] = []
    cdp.on("Tracing.dataCollected", lambda data: events.extend(data["value"]))
    cdp.send("Tracing.start", {"categories": "devtools.timeline,blink.user_timing,toplevel",
                               "transferMode": "ReportEvents"})
    view = page.locator("explorable-neuron-view")
    framed = page.evaluate("""el => new Promise(done => {
      new MutationObserver((_, mo) => {
        if (el.dataset.state === 'loading' && !performance.getEntriesByName('started').length) performance.mark('started');
        if (el.dataset.firstPaintMs) {
          performance.mark('painted');
          mo.disconnect();
          // the frame that shows the draw: its rAF callbacks run before its layout and paint, a task after them
          requestAnimationFrame(() => setTimeout(() => {
            performance.mark('framed');
            done(performance.getEntriesByName('framed')[0].startTime - performance.getEntriesByName('started')[0].startTime);
          }));
        }
      }).observe(el, {attributes: true});
      el.scrollIntoView();
    })""", view.element_handle())
    out = {"paint_wall": [float(view.get_attribute("data-visible-paint-ms"))], "frame_wall": [framed]}
    page.evaluate("""async el => {
      const toks = el.querySelectorAll('.xp-q .xp-tok'), out = [];
      for (let i = 0; i < toks.length; i += 3) {
        await new Promise(r => setTimeout(r, 30));
        performance.mark('change-' + i);
        const t0 = performance.now();
        toks[i].dispatchEvent(new PointerEvent('pointerover', {bubbles: true}));
        await new Promise(r => requestAnimationFrame(() => r()));
        performance.mark('changed-' + i);
        out.push(performance.now() - t0);
      }
      window.__changes = out;
    }""", view.element_handle())
    out["change_wall"] = page.evaluate("window.__changes")
    out["draw"] = [float(view.get_attribute("data-draw-ms"))]
    done = []
    cdp.on("Tracing.tracingComplete", lambda _: done.append(True))
    cdp.send("Tracing.end")
    while not done:
        page.wait_for_timeout(50)
    out["paint_cpu"] = [_main_thread_cpu(events, "started", "painted")]
    out["frame_cpu"] = [_main_thread_cpu(events, "started", "framed")]
    n = page.evaluate("document.querySelectorAll('explorable-neuron-view .xp-q .xp-tok').length")
    out["change_cpu"] = [_main_thread_cpu(events, f"change-{i}", f"changed-{i}") for i in range(0, n, 3)]
    page.close()
    return out


def browser_figures(compare: Path | None = None, loads: int = 5) -> None:
    """First paint (the view starts, having come near the viewport -> first draw done: fetch, parse, decode, build,
    draw; and -> the frame after it) and query change (pointer over a query token -> the frame that repaints), in
    wall time and in renderer main-thread CPU time. With `compare` (another checkout, e.g. /work/main), the same
    page built by its generator too, loads of the two interleaved."""
    from playwright.sync_api import sync_playwright

    print(f"\n## Neuron view in headless Chromium, SmolLM2 default section, {N_TOKENS} tokens, 1280 px ({loads} page loads)")
    checkouts = {"this": REPO, **({"compare": compare.resolve()} if compare else {})}
    with tempfile.TemporaryDirectory() as temp:
        urls, servers = {}, []

        class Quiet(http.server.SimpleHTTPRequestHandler):
            def log_message(self, *args):
                pass
        for name, repo in checkouts.items():
            cache = REPO / ".cache" / ("explorables" if name == "this" else "explorables-compare")
            site = _bench_site(Path(temp) / name, repo, cache)
            server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(site)))
            threading.Thread(target=server.serve_forever, daemon=True).start()
            servers.append(server)
            urls[name] = f"http://127.0.0.1:{server.server_address[1]}/"
        figures: dict[str, dict[str, list[float]]] = {name: {} for name in urls}
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=shutil.which("chromium"), args=[
                "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--no-first-run"])
            for _ in range(loads):
                for name, url in urls.items():
                    for key, values in _one_load(browser, url).items():
                        figures[name].setdefault(key, []).extend(values)
            browser.close()
        for server in servers:
            server.shutdown()
        med = statistics.median
        for name, f in figures.items():
            print(f"[{name}: {checkouts[name]}] load average now {os.getloadavg()[0]:.1f}")
            print(f"first paint from the view's start: wall median {med(f['paint_wall']):.0f} ms (min "
                  f"{min(f['paint_wall']):.0f}), to the frame after it {med(f['frame_wall']):.0f} ms (min "
                  f"{min(f['frame_wall']):.0f}); renderer main-thread CPU median {med(f['paint_cpu']):.1f} ms, to the "
                  f"frame after it {med(f['frame_cpu']):.1f} ms")
            print(f"query change to repainted frame ({len(f['change_wall'])} changes): wall median "
                  f"{med(f['change_wall']):.1f} ms (max {max(f['change_wall']):.1f}); main-thread CPU median "
                  f"{med(f['change_cpu']):.1f} ms (max {max(f['change_cpu']):.1f}); draw call alone median "
                  f"{med(f['draw']):.1f} ms")


if __name__ == "__main__":
    import argparse
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--browser-only", action="store_true", help="only the headless Chromium figures")
    parser.add_argument("--compare", type=Path, help="another checkout whose page is loaded in turn with this one's")
    parser.add_argument("--loads", type=int, default=5, help="page loads of each checkout (default 5)")
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores\n")
    if not args.browser_only:
        capture_figures()
        size_and_error_figures()
    browser_figures(args.compare, args.loads)
