"""Attention pipeline figures: payload size and error, warm rebuild time, model-view first paint, asset size.

Run by hand (the figures go in the closing notes of issues and in docs when they change):

    .venv/bin/python benchmarks/attention.py
"""

from __future__ import annotations

import functools
import gzip
import http.server
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench_site import one_figure_site  # noqa: E402  (benchmarks/bench_site.py)

LONG_TEXT = ("The history of the printing press begins in the fifteenth century, when movable metal type made it "
             "possible to copy books quickly. Within fifty years, presses operated in more than two hundred cities "
             "across Europe, and the price of a book fell so far that students, merchants and craftsmen could own "
             "them. Printers standardised spelling, numbered pages and added indexes, and readers began to expect "
             "that two copies of the same book would say the same thing on the same page.")


@functools.lru_cache(maxsize=None)
def text_of(alias: str, n_tokens: int) -> str:
    """A prefix of LONG_TEXT that the model's tokenizer splits into exactly n_tokens tokens."""
    from generator.models.loading import POOL
    from generator.models.registry import resolve
    tokenizer = POOL.get(resolve(alias)).tokenizer
    words = LONG_TEXT.split(" ")
    for count in range(1, len(words) + 1):
        text = " ".join(words[:count])
        if len(tokenizer(text)["input_ids"]) >= n_tokens:
            ids = tokenizer(text, add_special_tokens=False)["input_ids"]
            special = len(tokenizer(text)["input_ids"]) - len(ids)
            return tokenizer.decode(ids[: n_tokens - special])
    raise ValueError("LONG_TEXT is too short")


def payload_figures() -> None:
    from generator.capture import run
    from generator.methods.attention.section import section
    from generator.models.loading import POOL
    from generator.models.registry import resolve
    from generator.payload import decode_array
    from generator.spec import spec_from_data

    print("## Payload size (attention as the bake encodes it: uint16 on 511 levels, planes, zlib, base64) vs float JSON")
    for alias in ("smollm2", "minilm"):
        loaded = POOL.get(resolve(alias))
        spec = spec_from_data({"model": alias, "text": text_of(alias, 64)}, file="bench")
        capture = run(spec, loaded)
        weights = capture.attentions
        float_json = len(json.dumps(weights.astype(np.float64).tolist()))
        encoded = section(spec, loaded, capture)["values"]
        size = len(json.dumps(encoded))
        error = np.abs(decode_array(encoded) - weights).max()
        print(f"{alias}: shape {list(weights.shape)} ({weights.size:,} values): float JSON {float_json:,} B "
              f"({float_json / weights.size:.1f} B/value); payload {size:,} B ({size / weights.size:.3f} B/value); "
              f"ratio 1/{float_json / size:.0f}; gzip of payload {len(gzip.compress(json.dumps(encoded).encode())):,} B; "
              f"max abs error {error:.5f}; worst row sum error {np.abs(decode_array(encoded).sum(-1) - 1).max():.1e}")


def _build(config: Path, site: Path) -> float:
    code = textwrap.dedent("""
        import sys, time
        start = time.perf_counter()
        from mkdocs.commands.build import build
        from mkdocs.config import load_config
        build(load_config(sys.argv[1], site_dir=sys.argv[2]))
        print(time.perf_counter() - start, "torch" in sys.modules)
    """)
    out = subprocess.run([sys.executable, "-c", code, str(config), str(site)], capture_output=True, text=True,
                         check=True, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"}).stdout.split()
    return float(out[0]), out[1] == "True"


def rebuild_figures() -> None:
    print("\n## Warm rebuild vs the same pages without explorable blocks (in-process build time, best of 5)")
    with tempfile.TemporaryDirectory() as temp:
        site = Path(temp) / "site"
        _build(REPO / "mkdocs.yml", site)  # fills the cache if cold
        warm = [_build(REPO / "mkdocs.yml", site) for _ in range(5)]
        torch_loaded = any(flag for _, flag in warm)
        bare = Path(temp) / "bare"
        shutil.copytree(REPO / "docs", bare / "docs")
        for page in (bare / "docs").rglob("*.md"):
            page.write_text(re.sub(r"```explorable\n.*?\n```\n", "", page.read_text(), flags=re.S))
        shutil.copy(REPO / "mkdocs.yml", bare / "mkdocs.yml")
        plain = [_build(bare / "mkdocs.yml", Path(temp) / "site2") for _ in range(5)]
        best_warm, best_plain = min(t for t, _ in warm), min(t for t, _ in plain)
        print(f"warm rebuild {best_warm:.2f} s (median {statistics.median(t for t, _ in warm):.2f}); "
              f"without blocks {best_plain:.2f} s; ratio {best_warm / best_plain:.2f}x; torch imported: {torch_loaded}")


def first_paint_figures() -> None:
    from playwright.sync_api import sync_playwright

    print("\n## Model view first paint, SmolLM2 (30 layers x 9 heads), 64-token text, headless Chromium")
    with tempfile.TemporaryDirectory() as temp:
        root = Path(temp)
        one_figure_site(root, text_of("smollm2", 64), ["model"], REPO / ".cache" / "explorables")
        class Quiet(http.server.SimpleHTTPRequestHandler):
            def log_message(self, *args):
                pass
        handler = functools.partial(Quiet, directory=str(root / "site"))
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        url = f"http://127.0.0.1:{server.server_address[1]}/"
        figures = []
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=shutil.which("chromium"), args=[
                "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--no-first-run"])
            for _ in range(5):
                page = browser.new_page(viewport={"width": 1200, "height": 900})
                page.goto(url)
                view = page.locator("explorable-model-view")
                page.wait_for_function("el => el.dataset.firstPaintMs", arg=view.element_handle(), timeout=20000)
                figures.append((float(view.get_attribute("data-visible-paint-ms")),
                                float(view.get_attribute("data-draw-ms"))))
                page.close()
            browser.close()
        server.shutdown()
        visible = sorted(f[0] for f in figures)
        draw = sorted(f[1] for f in figures)
        print(f"from start (in view) to first paint: median {visible[2]:.0f} ms "
              f"(min {visible[0]:.0f}, max {visible[-1]:.0f}); draw call alone median {draw[2]:.0f} ms")


def asset_figures() -> None:
    print("\n## JS + CSS shipped to readers")
    files = sorted((REPO / "generator" / "assets").glob("*/*.*"))
    raw = b"".join(path.read_bytes() for path in files)
    per_file = sum(len(gzip.compress(path.read_bytes(), 9)) for path in files)
    print(f"{len(files)} files, {len(raw):,} B raw, {len(gzip.compress(raw, 9)):,} B gzipped together, "
          f"{per_file:,} B gzipped file by file")


if __name__ == "__main__":
    payload_figures()
    rebuild_figures()
    first_paint_figures()
    asset_figures()
