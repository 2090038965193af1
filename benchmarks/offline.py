"""The offline copy against the served site: bytes shipped and first paint, in headless Chromium.

Builds the project's site three times from the warm bake cache (as configured; with Material's `offline` plugin
added; and offline with every payload written as a data file), then opens the attention article (served over HTTP, and the offline copy from file://) five times each.
First paint = navigation start to the end of the first view's first draw (the view's own t0 + data-first-paint-ms).

    .venv/bin/python benchmarks/offline.py
"""

from __future__ import annotations

import functools
import gzip
import http.server
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PAGE = "attention"
VIEWS = "explorable-head-view, explorable-model-view, explorable-saliency-view, explorable-factor-view"


def build(root: Path, offline: bool, embed_limit: int = 48_000) -> Path:
    config = (REPO / "mkdocs.yml").read_text()
    if offline:
        config = config.replace("plugins:\n  - search\n", "plugins:\n  - search\n  - offline\n")
        assert "- offline" in config
    config += f"docs_dir: {REPO / 'docs'}\n"
    config = config.replace("  - explorables\n", f"  - explorables:\n      cache_dir: {REPO / '.cache/explorables'}\n"
                                                  f"      explorables_dir: {REPO / 'explorables'}\n"
                                                  f"      embed_limit: {embed_limit}\n")
    (root / "mkdocs.yml").write_text(config)
    site = root / "site"
    subprocess.run([sys.executable, "-m", "mkdocs", "build", "-q", "-f", str(root / "mkdocs.yml"), "-d", str(site)],
                   check=True, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    return site


def sizes(paths: list[Path]) -> str:
    raw = sum(path.stat().st_size for path in paths)
    gz = sum(len(gzip.compress(path.read_bytes(), 9)) for path in paths)
    return f"{len(paths)} files, {raw:,} B raw, {gz:,} B gzipped (file by file)"


def byte_figures(served: Path, offline: Path, files: Path) -> None:
    print("## Bytes")
    assets = served / "assets/explorables"
    print("served, ES modules + CSS:   ", sizes(sorted(assets.glob("js/*.js")) + sorted(assets.glob("css/*.css"))))
    off = offline / "assets/explorables"
    print("offline, scripts + CSS:     ", sizes(sorted(off.glob("js/explorables*.iife.js")) + [off / "css/explorables.css"]))
    print("offline, worker shim:       ", sizes([off / "offline/iframe-worker.js"]))
    json_files = sorted(files.glob("assets/explorables/data/*.json"))
    print("every payload as a file, .json:", sizes(json_files))
    print("their script copies, .js:      ", sizes([path.with_suffix(".js") for path in json_files]))


def first_paint(browser, url: str) -> float:
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    page.goto(url)
    view = page.locator(VIEWS).first
    page.wait_for_function("el => el.dataset.firstPaintMs", arg=view.element_handle(), timeout=30000)
    value = view.evaluate("el => el.t0 + parseFloat(el.dataset.firstPaintMs)")
    page.close()
    return value


def paint_figures(served: Path, offline: Path, files: Path) -> None:
    from playwright.sync_api import sync_playwright

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass
    servers = []

    def serve(folder: Path) -> str:
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(folder)))
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/"
    cases = {
        "served site (ES modules, fetch)": serve(served) + f"{PAGE}/",
        "offline copy served (bundle, fetch)": serve(offline) + f"{PAGE}.html",
        "offline copy from file:// (bundle, embedded)": (offline / f"{PAGE}.html").as_uri(),
        "offline copy from file:// (bundle, data .js)": (files / f"{PAGE}.html").as_uri(),
    }
    print(f"\n## First paint of the first view of '{PAGE}', navigation start -> drawn, 5 runs")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=shutil.which("chromium"), args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run"])
        for name, url in cases.items():
            first_paint(browser, url)  # warm-up (disk cache of the OS, not the browser's: a new page each time)
            runs = sorted(first_paint(browser, url) for _ in range(5))
            print(f"{name:44s} median {statistics.median(runs):5.0f} ms (min {runs[0]:.0f}, max {runs[-1]:.0f})")
        browser.close()
    for server in servers:
        server.shutdown()


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as temp:
        for name in "abc":
            (Path(temp) / name).mkdir()
        served_site, offline_site = build(Path(temp) / "a", False), build(Path(temp) / "b", True)
        files_site = build(Path(temp) / "c", True, embed_limit=1000)   # every payload a data file
        byte_figures(served_site, offline_site, files_site)
        paint_figures(served_site, offline_site, files_site)
