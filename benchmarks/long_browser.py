"""Long inputs in the page (issue 22): bytes, bytes fetched before the first figure, first figure and layer switch
of the head and model views in headless Chromium, for payloads baked by benchmarks/long_inputs.py --save DIR.

Each payload is split as the site splits it (generator/payload/parts.py: every attention layer but the first is a
data file) and served from 127.0.0.1 with the committed bundles, on a page holding one view. Per page and run, a
fresh browser context:
- first figure: navigation start to the first frame after the view set data-first-paint-ms (benchmarks/
  peer_browser.py's probe);
- bytes before the first figure: the resources whose responseEnd precedes it (Resource Timing, uncompressed bytes:
  the loopback server does not gzip; the gzip column is what a host that gzips would send);
- head view, layer switch: the <select> set to the next layer 2 s after the first figure (the view decodes the
  layers next to the shown one in idle time), until the first frame after the view recorded data-layer-switch-ms
  (its first chunk of lines drawn); "far" switches to the middle layer, which is fetched and decoded then;
- model view, enlarge: a click on head 0 of the middle layer until the enlarged heatmap is drawn (fetch included).
Medians of --runs runs; the load average is printed with the figures (the machine is shared).

    .venv/bin/python benchmarks/long_browser.py /tmp/longbench [--runs 5]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from peer_browser import CHROMIUM_ARGS, FIRST_FIGURE, Server  # noqa: E402

from generator.methods import REGISTRY  # noqa: E402
from generator.payload.parts import data_name, split  # noqa: E402

PAGE = """<!doctype html><html><head><meta charset="utf-8"><link rel="stylesheet" href="bundle/explorables.css">
<script>{probe}</script></head><body><h1>{title}</h1>
<div class="explorable" data-src="{name}"><{tag}></{tag}></div>
<script src="bundle/explorables.iife.js" fetchpriority="high"></script>
<script src="bundle/explorables-attention.iife.js" fetchpriority="high"></script></body></html>"""

BYTES_BEFORE = """() => performance.getEntriesByType("resource").filter((e) => e.responseEnd <= window.__fig)
  .reduce((n, e) => n + (e.decodedBodySize || e.encodedBodySize || 0), 0)"""

SWITCH = """async (layer) => {
  const v = document.querySelector("explorable-head-view"), s = v.querySelector("select");
  delete v.dataset.layerSwitchMs;
  const t0 = performance.now();
  s.value = String(layer);
  s.dispatchEvent(new Event("change", { bubbles: true }));
  while (!v.dataset.layerSwitchMs) await new Promise((r) => requestAnimationFrame(r));
  await new Promise((r) => requestAnimationFrame(() => { const c = new MessageChannel(); c.port1.onmessage = r; c.port2.postMessage(0); }));
  return performance.now() - t0;
}"""

ENLARGE = """async (layer) => {
  const v = document.querySelector("explorable-model-view"), c = v.querySelector("canvas.xp-grid");
  const r = c.getBoundingClientRect(), t = parseFloat(getComputedStyle(v).getPropertyValue("--tr")) + 4;
  const title = v.querySelector(".xp-detail strong");
  const t0 = performance.now();
  c.dispatchEvent(new MouseEvent("click", { bubbles: true, clientX: r.left + 3, clientY: r.top + t * layer + 3 }));
  while (!title.textContent || title.textContent.includes("loading")) await new Promise((r) => requestAnimationFrame(r));
  await new Promise((r) => requestAnimationFrame(() => { const c = new MessageChannel(); c.port1.onmessage = r; c.port2.postMessage(0); }));
  return performance.now() - t0;
}"""


def site(payloads: list[Path]) -> tuple[Path, dict[str, dict]]:
    """A folder with bundle/, data/ and one page per payload and view; {page: facts}."""
    root = Path(tempfile.mkdtemp(prefix="long-browser-"))
    shutil.copytree(REPO / "generator" / "assets" / "bundle", root / "bundle")
    (root / "data").mkdir()
    pages = {}
    for path in payloads:
        payload = path.read_bytes()
        main, parts = split(payload, REGISTRY.parts(), REGISTRY.detached())
        name = data_name(main)
        (root / "data" / name).write_bytes(main)
        for part, data in parts.items():
            (root / "data" / part).write_bytes(data)
        layers = len(json.loads(main)["attention"].get("layers", [])) or 1
        for view in ("head", "model"):
            page = f"{path.stem}-{view}.html"
            (root / page).write_text(PAGE.format(probe=FIRST_FIGURE % "!!document.querySelector('[data-first-paint-ms]')",
                                                 title=path.stem, name=name, tag=f"explorable-{view}-view"))
            pages[page] = {"payload": path.stem, "view": view, "layers": layers,
                           "bytes": len(payload), "gzip": len(gzip.compress(payload, 6)),
                           "main": len(main), "main_gzip": len(gzip.compress(main, 6))}
    return root, pages


def measure(browser, base: str, page: str, facts: dict) -> dict:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    tab = context.new_page()
    tab.goto(f"{base}/{page}")
    tab.wait_for_function("window.__fig != null", timeout=120_000)
    out = {"first": tab.evaluate("window.__fig"), "before": tab.evaluate(BYTES_BEFORE)}
    middle = facts["layers"] // 2
    if facts["view"] == "head":
        tab.wait_for_timeout(2000)
        out["switch"] = tab.evaluate(SWITCH, 1)
        out["far"] = tab.evaluate(SWITCH, middle)
    else:
        out["enlarge"] = tab.evaluate(ENLARGE, middle)
    context.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--views", default="head,model", help="which views to measure (head, model)")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright
    root, pages = site(sorted(args.folder.glob("*.json")))
    pages = {page: facts for page, facts in pages.items() if facts["view"] in args.views.split(",")}
    server = Server({"/": root})
    print(f"load average before: {' '.join(f'{x:.1f}' for x in os.getloadavg())} (2 cores)")
    print("| payload | view | bytes (gzip) | before first figure (gzip of main) | first figure ms | layer switch ms "
          "(next / middle) | enlarge ms | load |")
    print("|---|---|---|---|---|---|---|---|")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=shutil.which("chromium"), args=CHROMIUM_ARGS)
        for page, facts in pages.items():
            runs = [measure(browser, server.base, page, facts) for _ in range(args.runs)]
            med = lambda key: statistics.median(r[key] for r in runs)  # noqa: E731
            switch = f"{med('switch'):.0f} / {med('far'):.0f}" if facts["view"] == "head" else "-"
            enlarge = f"{med('enlarge'):.0f}" if facts["view"] == "model" else "-"
            print(f"| {facts['payload']} | {facts['view']} | {facts['bytes'] / 1e6:.2f} MB ({facts['gzip'] / 1e6:.2f}) | "
                  f"{med('before') / 1e6:.2f} MB ({facts['main_gzip'] / 1e6:.2f}) | {med('first'):.0f} | {switch} | "
                  f"{enlarge} | {os.getloadavg()[0]:.1f} |", flush=True)
        browser.close()
    server.close()
    shutil.rmtree(root)


if __name__ == "__main__":
    main()
