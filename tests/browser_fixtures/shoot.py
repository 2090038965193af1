#!/usr/bin/env python3
"""Render tests/browser_fixtures/widgets.html in headless Chromium, check behaviour, take screenshots.

    .venv/bin/python tests/browser_fixtures/shoot.py [--out DIR]

Regenerates the fixtures (tests/js/make_fixtures.py), serves the repository root on a free 127.0.0.1 port,
then checks: every widget reaches data-state ready/error, broken payloads show a visible message, no console
errors (except the deliberate 404), no request to another host, no page overflow at 375 px, keyboard and
pointer interactions, disconnect/reconnect without double rendering, and the model view's first-paint time.
Screenshots (light, dark, phone) go to --out (default /tmp/explorables-shots). Exit status 1 on a failed check.
"""
import argparse
import contextlib
import json
import os
import socket
import statistics
import subprocess
import sys
import time

from PIL import Image
from playwright.sync_api import sync_playwright

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]
EXPECTED_ERRORS = ["missing-0123456789.json", "404 (File not found)"]  # the deliberate data-src 404 fixture
VIEWS = "explorable-head-view, explorable-model-view"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def server():
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(50):
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
                break
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(5)


class Checks:
    def __init__(self):
        self.failed = []

    def __call__(self, ok, what):
        print(("ok   " if ok else "FAIL ") + what)
        if not ok:
            self.failed.append(what)


def pixel(el, x, y):
    """Colour of one CSS pixel of an element, read from a screenshot (no canvas readback in the page)."""
    path = "/tmp/explorables-pixel.png"
    el.screenshot(path=path)
    return Image.open(path).convert("RGB").getpixel((x, y))


def settle(page):
    """Scroll through the page so every lazy widget starts, then wait until all are ready or errored."""
    y = 0
    while y < page.evaluate("document.documentElement.scrollHeight") + 600:  # the page grows as widgets render
        page.evaluate(f"window.scrollTo(0, {y})")
        page.wait_for_timeout(30)
        y += 600
    page.wait_for_function(f"[...document.querySelectorAll('{VIEWS}')].every(e => ['ready','error'].includes(e.dataset.state))",
                           timeout=15000)
    page.evaluate("window.scrollTo(0, 0)")
    page.wait_for_timeout(100)


def shoot_sections(page, out, tag):
    for i, box in enumerate(page.query_selector_all(".explorable")):
        box.scroll_into_view_if_needed()
        page.wait_for_timeout(60)
        box.screenshot(path=os.path.join(out, f"{tag}-{i}.png"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="/tmp/explorables-shots")
    ap.add_argument("--runs", type=int, default=5, help="page loads for the first-paint median")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    for f in os.listdir(a.out):  # only our own earlier screenshots
        if f.endswith(".png") and f.split("-")[0] in ("light", "dark", "phone", "causal", "pair", "model"):
            os.remove(os.path.join(a.out, f))
    subprocess.run([sys.executable, os.path.join(ROOT, "tests", "js", "make_fixtures.py")], check=True)
    check = Checks()
    report = {"load_average_at_start": os.getloadavg()}
    with server() as base, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS, headless=True)
        # first paint of the model view (30 x 9 heads, 64 tokens) at the top of the page, a fresh page each run:
        # alone on a page (single.html) and with all the other fixtures below it (widgets.html)
        for name in ("single", "widgets"):
            fp = []
            for _ in range(a.runs):
                ctx = browser.new_context(viewport={"width": 1000, "height": 900})
                pg = ctx.new_page()
                pg.goto(f"{base}/tests/browser_fixtures/{name}.html")
                pg.wait_for_function("document.querySelector('explorable-model-view')?.dataset.firstPaintMs", timeout=15000)
                fp.append(pg.evaluate("({...document.querySelector('explorable-model-view').dataset})"))
                ctx.close()
            ms = [float(d["firstPaintMs"]) for d in fp]
            report[f"model_view_first_paint_ms_{name}"] = ms  # run 1 starts a cold browser
            report[f"model_view_draw_ms_{name}"] = [float(d["drawMs"]) for d in fp]
            med = statistics.median(ms)
            check(med <= 200, f"{name}.html: model view first paint median {med:.1f} ms <= 200 ms "
                              f"(runs {ms}, draw median {statistics.median(report[f'model_view_draw_ms_{name}']):.1f} ms)")
        url = base + "/tests/browser_fixtures/widgets.html"

        ctx = browser.new_context(viewport={"width": 1000, "height": 900})
        page = ctx.new_page()
        errors, foreign = [], []
        page.on("console", lambda m: m.type in ("error", "warning") and errors.append(f"{m.type}: {m.text} @ {m.location.get('url')}"))
        page.on("pageerror", lambda e: errors.append(f"pageerror: {e}"))
        page.on("request", lambda r: not r.url.startswith(base) and foreign.append(r.url))
        page.goto(url)
        settle(page)

        states = page.eval_on_selector_all(".explorable", f"bs => bs.map(b => [...b.querySelectorAll('{VIEWS}')].map(e => e.dataset.state))")
        report["states"] = states
        check(all(s == "ready" for s in states[0] + states[1] + states[2]), "good payloads render (ready)")
        check(all(all(s == "error" for s in st) for st in states[3:]), "every broken payload shows an error state")
        msgs = page.eval_on_selector_all(".xp-error", "es => es.map(e => e.offsetHeight > 0 && e.textContent)")
        report["error_messages"] = sorted(set(msgs))
        check(all(msgs) and len(msgs) == 2 * len(states[3:]), f"{len(msgs)} visible inline error messages")
        check(page.evaluate("document.querySelectorAll('.explorable script').length") == 0, "no <script> element created from token text")
        check(page.evaluate("[...document.querySelectorAll('.xp-tok')].some(t => t.textContent.includes('<script>alert(1)</script>'))"),
              "the <script> token is shown as text")

        shoot_sections(page, a.out, "light")

        # head view interactions on the pair (sentence filter, special tokens, hover readout, keyboard)
        hv = page.query_selector_all("explorable-head-view")[1]
        hv.scroll_into_view_if_needed()
        q = hv.query_selector_all(".xp-col")[0].query_selector_all(".xp-tok")
        q[2].hover()
        page.wait_for_timeout(60)
        ro = hv.eval_on_selector(".xp-readout", "e => e.textContent")
        check("head 0: ·cat →" in ro and "head 11:" in ro, f"hover readout lists every head: {ro[:60]}…")
        q[2].focus()
        page.keyboard.press("ArrowDown")
        page.keyboard.press("Enter")
        page.wait_for_timeout(60)
        pinned = hv.evaluate("e => [...e.querySelectorAll('.xp-col')[0].children].findIndex(t => t.getAttribute('aria-selected') === 'true')")
        check(pinned == 3, f"ArrowDown + Enter pins the next query token (pinned {pinned})")
        page.keyboard.press("ArrowRight")
        page.wait_for_timeout(60)
        ro = hv.eval_on_selector(".xp-readout", "e => e.textContent")
        want = hv.evaluate("e => e.matrix(0).m[3 * e.kept.length + 3].toFixed(3)")
        check(ro.startswith(f"head 0: ·sat → ·sat {want}"), f"pinned query + focused key gives the exact pair value: {ro[:50]}…")
        page.keyboard.press("Escape")
        hv.query_selector("input[type=checkbox]").check()
        page.wait_for_timeout(80)
        note = hv.eval_on_selector(".xp-note", "e => !e.hidden && e.offsetHeight > 0 && e.textContent")
        check(bool(note) and "renormalised" in note, f"hide special tokens shows a note: {note!r}")
        check(hv.evaluate("e => e.querySelectorAll('.xp-col')[0].children.length") == 14, "special tokens removed from the columns")
        hv.query_selector("select:nth-of-type(1)")
        hv.eval_on_selector_all("select", "ss => { const s = ss[1]; s.value = '01'; s.dispatchEvent(new Event('change')) }")
        page.wait_for_timeout(80)
        hv.screenshot(path=os.path.join(a.out, "pair-head-hidden-AtoB.png"))
        hv.eval_on_selector_all("select", "ss => { const s = ss[1]; s.value = 'all'; s.dispatchEvent(new Event('change')) }")
        hv.query_selector("input[type=checkbox]").uncheck()

        # causal head view: all 9 heads, hover a late token
        ch = page.query_selector_all("explorable-head-view")[0]
        ch.scroll_into_view_if_needed()
        ch.query_selector("button.xp-btn").click()  # all heads
        t0 = ch.evaluate("e => e.dataset.drawMs")
        ch.query_selector_all(".xp-col")[0].query_selector_all(".xp-tok")[60].hover()
        page.wait_for_timeout(80)
        report["head_view_draw_ms_9_heads_64_tokens"] = float(t0)
        check(float(t0) < 50, f"head view redraw with 9 heads x 64 tokens: {t0} ms of script")
        frame = ch.evaluate("""e => new Promise(ok => { const s = e.querySelector('select'), t = performance.now();
            s.value = '5'; s.dispatchEvent(new Event('change'));
            requestAnimationFrame(() => requestAnimationFrame(() => ok(performance.now() - t))); })""")
        report["head_view_layer_switch_to_next_frame_ms"] = round(frame, 1)
        check(frame < 150, f"head view layer switch (9 heads, all lines) reaches the next frame in {frame:.0f} ms")
        ch.screenshot(path=os.path.join(a.out, "causal-head-hover.png"))

        # model view: click a thumbnail, hover a cell, Escape closes; keyboard navigation
        mv = page.query_selector_all("explorable-model-view")[0]
        mv.scroll_into_view_if_needed()
        g = mv.query_selector("canvas.xp-grid")
        g.click(position={"x": 2 * 68 + 30, "y": 1 * 68 + 30})
        page.wait_for_timeout(80)
        title = mv.eval_on_selector(".xp-detail strong", "e => e.textContent")
        check(title == "Layer 1 · head 2", f"click opens the detail panel ({title})")
        mv.query_selector("canvas.xp-heat").hover(position={"x": 5 * 12 + 3, "y": 40 * 12 + 3})
        page.wait_for_timeout(60)
        ro = mv.eval_on_selector(".xp-detail .xp-readout", "e => e.textContent")
        check(ro.startswith("L1 H2: ") and "→" in ro, f"detail hover readout: {ro}")
        mv.query_selector(".xp-detail").screenshot(path=os.path.join(a.out, "model-detail-light.png"))
        page.keyboard.press("Escape")
        check(mv.eval_on_selector(".xp-detail", "e => e.hidden"), "Escape closes the detail panel")
        check(page.evaluate("document.activeElement.classList.contains('xp-grid')"), "focus returns to the grid")
        page.keyboard.press("ArrowDown")
        page.keyboard.press("ArrowRight")
        page.keyboard.press("Enter")
        page.wait_for_timeout(60)
        title = mv.eval_on_selector(".xp-detail strong", "e => e.textContent")
        check(title == "Layer 2 · head 3", f"arrow keys + Enter open the next head ({title})")
        page.keyboard.press("Escape")
        # linked views in one block: opening a head in the pair's model view selects it in the pair's head view
        pm = page.query_selector_all("explorable-model-view")[1]
        pm.scroll_into_view_if_needed()
        pm.query_selector("canvas.xp-grid").click(position={"x": 3 * (pm.evaluate("e => e.thumb") + 4) + 5, "y": 5})
        page.keyboard.press("Escape")
        page.wait_for_timeout(60)
        linked = page.query_selector_all("explorable-head-view")[1].evaluate(
            "e => [e.querySelector('select').value, [...e.querySelectorAll('.xp-head')].map(b => b.getAttribute('aria-pressed')).join()]")
        check(linked[0] == "0" and linked[1].split(",").index("true") == 3 and linked[1].count("true") == 1,
              f"head view follows the model view selection in the same block {linked}")

        # dark palette
        page.evaluate("document.body.dataset.mdColorScheme = 'slate'")
        page.wait_for_timeout(150)
        shoot_sections(page, a.out, "dark")
        mv.scroll_into_view_if_needed()
        g.click(position={"x": 30, "y": 30})
        page.wait_for_timeout(60)
        mv.query_selector(".xp-detail").screenshot(path=os.path.join(a.out, "model-detail-dark.png"))
        page.keyboard.press("Escape")
        px = pixel(g, 60, 2)
        check(sum(px[:3]) < 3 * 90, f"model view canvas redrawn for the dark palette (empty cell {px})")
        page.evaluate("document.body.dataset.mdColorScheme = 'default'")
        page.wait_for_timeout(100)
        px = pixel(g, 60, 2)
        check(sum(px[:3]) > 3 * 200, f"and back for the light palette (empty cell {px})")

        # instant navigation: disconnect + reconnect the same elements, then clone a container (new elements)
        before = page.evaluate("document.querySelectorAll('.explorable canvas').length")
        page.evaluate("""() => { const b = document.querySelectorAll('.explorable')[2];
                                 const kids = [...b.children]; kids.forEach(k => k.remove()); b.append(...kids); }""")
        page.wait_for_timeout(200)
        after = page.evaluate("document.querySelectorAll('.explorable canvas').length")
        check(before == after, f"reconnect does not double-render ({before} -> {after} canvases)")
        page.evaluate("""() => { const a = document.querySelector('article');
                                 const c = document.querySelectorAll('.explorable')[2].cloneNode(false);
                                 c.innerHTML = '<explorable-head-view></explorable-head-view>'; a.prepend(c); scrollTo(0, 0); }""")
        page.wait_for_function("document.querySelector('article > .explorable explorable-head-view').dataset.state === 'ready'", timeout=5000)
        check(True, "a fresh container (as after instant navigation) renders from its data-* attributes")

        unexpected = [e for e in errors if not any(x in e for x in EXPECTED_ERRORS)]
        report["console_expected"] = [e for e in errors if e not in unexpected]
        check(not unexpected, f"no unexpected console errors/warnings {unexpected}")
        check(not foreign, f"no request to another host {foreign}")
        ctx.close()

        # phone
        ctx = browser.new_context(viewport={"width": 375, "height": 740}, device_scale_factor=2, has_touch=True, is_mobile=True)
        page = ctx.new_page()
        perrors = []
        page.on("pageerror", lambda e: perrors.append(str(e)))
        page.goto(url)
        settle(page)
        sw = page.evaluate("document.documentElement.scrollWidth")
        check(sw <= 375, f"no page overflow at 375 px (scrollWidth {sw})")
        shoot_sections(page, a.out, "phone")
        hv = page.query_selector_all("explorable-head-view")[1]
        hv.scroll_into_view_if_needed()
        hv.query_selector_all(".xp-col")[0].query_selector_all(".xp-tok")[2].tap()
        page.wait_for_timeout(100)
        ro = hv.eval_on_selector(".xp-readout", "e => e.textContent")
        check("·cat →" in ro, f"tap isolates a token on a phone: {ro[:40]}…")
        hv.screenshot(path=os.path.join(a.out, "phone-pair-tap.png"))
        pm = page.query_selector_all("explorable-model-view")[1]
        pm.scroll_into_view_if_needed()
        pm.query_selector("canvas.xp-grid").tap(position={"x": 10, "y": 10})
        page.wait_for_timeout(100)
        check(not pm.eval_on_selector(".xp-detail", "e => e.hidden"), "tap on a thumbnail opens the detail on a phone")
        pm.query_selector(".xp-detail").screenshot(path=os.path.join(a.out, "phone-model-detail.png"))
        sw = page.evaluate("document.documentElement.scrollWidth")
        check(sw <= 375, f"still no page overflow with the detail open (scrollWidth {sw})")
        check(not perrors, f"no page errors on the phone {perrors}")
        ctx.close()
        browser.close()
    print(json.dumps(report, indent=1, ensure_ascii=False))
    print("screenshots in", a.out)
    sys.exit(1 if check.failed else 0)


if __name__ == "__main__":
    main()
