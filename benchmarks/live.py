"""Live blocks (issue 25): what a reader pays for "try your own text" with MiniLM, in headless Chromium.

    PYTHONPATH=$PWD .venv/bin/python benchmarks/live.py [--runs 5]

Builds a one-block MiniLM site with `live: true` (its own bake cache under a temporary folder; the exported model
comes from the live cache), serves it on loopback with Python's static server (no compression, as plain as a host
gets) and reports:

- transfer: the bytes of the runtime and model files the press fetches (response bodies);
- first live figure after the press (the control's data-live-ms: press -> every view in sight redrawn), cold (nothing
  cached) and with a warm HTTP cache (a second page of the same browser context), at 32 tokens;
- where the warm first figure's time goes (data-live-timings): the loader's steps (manifest; runtime: its JS imported
  and its WASM fetched; model: the graph; weights: the int8 pack; dequantise: the float32 weights made; vocab;
  session: the WASM instantiated and the session created, all counted from the press), then tokenise, forward, payload and draw (each its own duration), medians over the warm presses;
- the renderer's CPU time (user + system of Chromium's renderer processes, psutil) over each warm press, next to its
  wall time: on a shared machine the wall time grows with the load and the CPU time much less;
- forward pass at 64 tokens (data-forward-ms; the model already loaded), median of --runs;
- renderer memory: the resident set of Chromium's renderer processes before the press and after the runs (psutil);
- the load average (1 min) before and after, to print next to every figure.

The browser profile is a temporary folder (a persistent context), so the HTTP cache is on disk as in a reader's
browser.

Goals (issue 25): transfer <= 30 MB, first live figure <= 1.5 s warm, forward <= 300 ms at 64 tokens.
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
import textwrap
import threading
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parent.parent
WORDS = ("the animal did not cross the street because it was too tired and the road was wide open to every car "
         "that came past the old house at the corner of the market square on a cold and windy morning").split()


def text_of(tokens: int) -> str:
    """A text of `tokens` MiniLM tokens ([CLS] and [SEP] included): every word here is one token."""
    return " ".join(WORDS[i % len(WORDS)] for i in range(tokens - 2))


def build(root: Path) -> Path:
    import os
    import subprocess
    import sys

    (root / "docs").mkdir(parents=True)
    (root / "docs" / "index.md").write_text(textwrap.dedent(f"""\
        # Live bench

        ```explorable
        model: minilm
        text: "{text_of(32)}"
        views: [head, model, neuron]
        live: true
        ```
        """))
    (root / "mkdocs.yml").write_text(f"site_name: bench\ntheme: {{name: material, font: false}}\nplugins:\n"
                                     f"  - explorables:\n      cache_dir: {root / 'cache'}\n"
                                     "markdown_extensions:\n  - pymdownx.superfences\n")
    subprocess.run([sys.executable, "-m", "mkdocs", "build", "-q", "-f", str(root / "mkdocs.yml")], check=True,
                   cwd=root, env={**os.environ, "NO_MKDOCS_2_WARNING": "1", "PYTHONPATH": str(REPO)})
    return root / "site"


def serve(folder: Path) -> str:
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(folder)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_port}/"


def renderers():
    for child in psutil.Process().children(recursive=True):
        try:
            if "--type=renderer" in " ".join(child.cmdline()):
                yield child
        except psutil.Error:
            pass


def renderer_cpu() -> float:
    """Seconds of CPU (user + system) used so far by this browser's renderer processes."""
    total = 0.0
    for child in renderers():
        try:
            times = child.cpu_times()
            total += times.user + times.system
        except psutil.Error:
            pass
    return total


def renderer_mb() -> float:
    """RSS of the renderer processes this script's browser started (Playwright's driver is our child, Chromium its)."""
    total = 0
    for child in psutil.Process().children(recursive=True):
        try:
            if "--type=renderer" in " ".join(child.cmdline()):
                total += child.memory_info().rss
        except psutil.Error:
            pass
    return total / 1e6


def press(page, text: str) -> dict:
    page.evaluate("document.querySelector('explorable-live-view details').open = true")
    page.fill("explorable-live-view textarea", text)
    page.evaluate("document.querySelector('explorable-live-view').dataset.liveState = 'pressed'")
    cpu = renderer_cpu()
    page.click("explorable-live-view button >> nth=0")
    page.wait_for_function("['live', 'error', 'idle'].includes(document.querySelector('explorable-live-view').dataset.liveState)",
                           timeout=300_000)
    data = page.evaluate("({...document.querySelector('explorable-live-view').dataset})")
    assert data["liveState"] == "live", page.text_content(".xp-live-status")
    data["cpuS"] = renderer_cpu() - cpu
    return data


def steps(presses: list[dict]) -> str:
    """Medians of the presses' data-live-timings: the loader's steps (ms from the press) and each later step."""
    timings = [json.loads(p["liveTimings"]) for p in presses]
    load = {k: statistics.median(t["load"][k] for t in timings) for k in timings[0]["load"]}
    own = {k: statistics.median(t[k] for t in timings) for k in ("tokenise", "forward", "payload", "draw")}
    return ("  loader, ms after the press: " + ", ".join(f"{k} {v:.0f}" for k, v in load.items()) +
            "\n  then, ms each: " + ", ".join(f"{k} {v:.1f}" for k, v in own.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as work:
        base = serve(build(Path(work)))
        load_before = os.getloadavg()[0]
        with sync_playwright() as pw:
            context = pw.chromium.launch_persistent_context(Path(work) / "profile", executable_path=shutil.which("chromium"),
                                                            args=["--no-sandbox"], viewport={"width": 1280, "height": 900})
            page = context.new_page()
            sizes: dict[str, int] = {}
            page.on("requestfinished", lambda r: ("/live/" in r.url or "/vendor/" in r.url) and
                    sizes.__setitem__(r.url.rsplit("/", 1)[1], r.sizes()["responseBodySize"]))
            page.goto(base)
            page.wait_for_selector("explorable-head-view[data-state=ready]")
            before = renderer_mb()
            cold = press(page, text_of(32))
            forward = [float(press(page, text_of(64))["forwardMs"]) for _ in range(args.runs)]
            after = renderer_mb()
            warm_page = context.new_page()         # same context: the HTTP cache holds the files, the page nothing
            warm_page.goto(base)
            warm_page.wait_for_selector("explorable-head-view[data-state=ready]")
            presses = [press(warm_page, text_of(32))]
            warm_page.close()
            for _ in range(args.runs - 1):
                fresh = context.new_page()
                fresh.goto(base)
                fresh.wait_for_selector("explorable-head-view[data-state=ready]")
                presses.append(press(fresh, text_of(32)))
                fresh.close()
            warm = [float(p["liveMs"]) for p in presses]
            cpu = [p["cpuS"] for p in presses]
            context.close()
        load_after = os.getloadavg()[0]
    print(f"load average (1 min): {load_before:.1f} before, {load_after:.1f} after (2 cores)")
    print("transfer (response bodies):")
    for name, size in sorted(sizes.items()):
        print(f"  {name:34} {size / 1e6:7.2f} MB")
    print(f"  {'total':34} {sum(sizes.values()) / 1e6:7.2f} MB   (goal <= 30 MB)")
    print(f"first live figure, cold (load {int(cold['loadMs'])} ms): {float(cold['liveMs']):.0f} ms")
    print(f"first live figure, warm HTTP cache, 32 tokens: median {statistics.median(warm):.0f} ms of {len(warm)} "
          f"(min {min(warm):.0f}, max {max(warm):.0f})   (goal <= 1500 ms); renderer CPU over the press: median "
          f"{statistics.median(cpu):.2f} s")
    print(steps(presses))
    print(f"forward pass, 64 tokens: median {statistics.median(forward):.0f} ms of {len(forward)} "
          f"(min {min(forward):.0f}, max {max(forward):.0f})   (goal <= 300 ms)")
    print(f"renderer memory (RSS of renderer processes): {before:.0f} MB before the press, {after:.0f} MB after")


if __name__ == "__main__":
    main()
