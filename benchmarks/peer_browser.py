"""Browser measurements for the peer benchmark (benchmarks/peer.py): one loopback server for every page, headless
Chromium (the Debian package, the tests' launch arguments), time to first figure, interaction latency with the
longest frame, renderer memory, bytes, and a Chrome trace broken down by kind of work.

Every figure is taken the same way for both tools:
- first figure: from navigation start (performance.timeOrigin) until the end of the first frame that shows the
  figure: a requestAnimationFrame loop started before any page script checks each frame whether the figure is in
  the DOM (our view: data-first-paint-ms set; BertViz: its SVG holds lines), then a task posted from that frame's
  callback runs after the frame's style, layout and paint. The task is posted at the highest priority of the
  scheduler API (`scheduler.postTask`, "user-blocking"): a plain message (a MessageChannel, used before) waited
  behind whatever long task the page had queued next, such as Material's own script when the parser reaches it,
  and so counted that task's time after a frame that already showed the figure (a trace showed the frame committed
  at 367 ms and the message arriving at 513 ms).
- an interaction: a DOM event dispatched on the control, until the end of the first frame after it that has run
  every frame callback queued by then (the same message trick); the longest frame is the largest gap between frame
  callbacks from the event until one frame later.
- memory: the resident set of the largest renderer process after the interactions.
"""

from __future__ import annotations

import gzip
import os
import http.server
import json
import shutil
import statistics
import threading
import time
from collections import defaultdict
from pathlib import Path
from urllib.parse import unquote, urlparse

import psutil

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"]
VIEWPORT = {"width": 1280, "height": 900}


class Server:
    """Static files on 127.0.0.1 from several folders: {"/site/": folder, ...}."""

    def __init__(self, roots: dict[str, Path]):
        self.roots = roots

        class Handler(http.server.SimpleHTTPRequestHandler):
            def translate_path(handler, path):
                return str(self.file(path))

            def log_message(handler, *args):
                pass
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"

    def file(self, path: str) -> Path:
        path = unquote(urlparse(path).path)
        for prefix, root in self.roots.items():
            if path.startswith(prefix):
                return root / path[len(prefix):]
        return Path("/nonexistent")

    def close(self):
        self.server.shutdown()


# -- in-page probes ---------------------------------------------------------------------------------------------

FIRST_FIGURE = """(() => {
  const drawn = () => (%s);
  window.__fig = null;
  const tick = () => {
    if (!drawn()) return requestAnimationFrame(tick);
    const done = () => (window.__fig = performance.now());
    if (globalThis.scheduler?.postTask) return scheduler.postTask(done, { priority: "user-blocking" });
    const c = new MessageChannel();
    c.port1.onmessage = done;
    c.port2.postMessage(0);
  };
  requestAnimationFrame(tick);
})();"""

DRAWN = {
    "ours": "[...document.querySelectorAll('.xp-view')].some(v => v.dataset.firstPaintMs)",
    "bertviz-head": "!!document.querySelector('#vis svg #attention line')",
    "bertviz-model": "!!document.querySelector('#vis svg line')",
}

# act(): the interaction, run inside the measurement below. Returns {ms, longest} in ms.
INTERACT = """async (args) => {
  const [code, arg] = args;
  const act = new Function('arg', code);
  const frame = () => new Promise((r) => requestAnimationFrame(r));
  const painted = () => new Promise((r) => requestAnimationFrame(() => {
    const c = new MessageChannel(); c.port1.onmessage = r; c.port2.postMessage(0);
  }));
  await painted();
  const stamps = [];
  let on = true;
  const loop = (ts) => { stamps.push(ts); if (on) requestAnimationFrame(loop); };
  requestAnimationFrame(loop);
  await frame();
  performance.mark("xp-act-start");
  const t0 = performance.now();
  stamps.push(t0);
  act(arg);
  await painted();
  const ms = performance.now() - t0;
  performance.mark("xp-act-end");
  await frame(); await frame();
  on = false;
  let longest = 0;
  for (let i = 1; i < stamps.length; i++) if (stamps[i - 1] >= t0 - 1) longest = Math.max(longest, stamps[i] - stamps[i - 1]);
  return { ms, longest };
}"""

# Interactions per tool and view: name -> JS body run with `arg` (0 or 1: alternate targets between repetitions).
ACTIONS = {
    ("ours", "head"): {
        "layer switch": "const s = document.querySelector('explorable-head-view select');"
                        " s.value = String(arg ? 1 : 2); s.dispatchEvent(new Event('change', {bubbles: true}));",
        "head toggle": "document.querySelectorAll('explorable-head-view .xp-head')[1].click();",
        "hover": "const t = document.querySelectorAll('explorable-head-view .xp-q .xp-tok')[arg ? 3 : 5];"
                 " t.dispatchEvent(new PointerEvent('pointerover', {bubbles: true}));",
    },
    ("bertviz", "head"): {
        "layer switch": "const s = document.querySelector('#vis').parentNode.querySelector('#layer');"
                        " s.value = String(arg ? 1 : 2); s.dispatchEvent(new Event('change', {bubbles: true}));",
        "head toggle": "document.querySelector('#vis svg > g:last-of-type').children[1]"
                       ".dispatchEvent(new MouseEvent('click', {bubbles: true}));",
        "hover": "document.querySelector('#vis svg #left').children[1].children[arg ? 3 : 5]"
                 ".dispatchEvent(new MouseEvent('mouseover', {bubbles: true}));",
    },
    ("ours", "model"): {
        "enlarge head": "const c = document.querySelector('explorable-model-view canvas.xp-grid'), r = c.getBoundingClientRect(),"
                        " t = parseFloat(getComputedStyle(c.closest('explorable-model-view')).getPropertyValue('--t')) + 4;"
                        " c.dispatchEvent(new MouseEvent('click', {bubbles: true, clientX: r.left + t * (arg ? 1.5 : 2.5),"
                        " clientY: r.top + t * 1.5}));",
        "hover": "const c = document.querySelector('explorable-model-view canvas.xp-heat'), r = c.getBoundingClientRect();"
                 " c.dispatchEvent(new PointerEvent('pointermove', {bubbles: true, clientX: r.left + (arg ? 30 : 50),"
                 " clientY: r.top + (arg ? 50 : 30)}));",
    },
    ("bertviz", "model"): {
        "enlarge head": "const rs = [...document.querySelectorAll('#vis svg > g > rect:last-child')];"
                        " rs[arg ? 10 : 11].dispatchEvent(new MouseEvent('click', {bubbles: true}));",
        "hover": "const g = document.querySelectorAll('#vis svg g.detail')[0];"
                 " g.children[arg ? 3 : 5].dispatchEvent(new MouseEvent('mouseover', {bubbles: true}));",
    },
}


def cpu_of(browser, page, code: str, arg: int) -> float | None:
    """Main-thread CPU time (ms) of one interaction, from a Chrome trace: the thread time of the renderer main
    thread's tasks between the marks INTERACT sets. Unlike wall time it does not grow while the thread waits for a
    core, so it stays comparable on a busy machine."""
    path = Path("/tmp") / f"peer-cpu-{os.getpid()}.json"
    browser.start_tracing(page=page, path=str(path), categories=["toplevel", "blink.user_timing", "devtools.timeline"])
    try:
        page.evaluate(INTERACT, [code, arg])
    finally:
        browser.stop_tracing()
    events = json.loads(path.read_text())
    path.unlink()
    events = events["traceEvents"] if isinstance(events, dict) else events
    marks = {e["name"]: e for e in events if e.get("name") in ("xp-act-start", "xp-act-end")}
    if len(marks) < 2:
        return None
    start, end = marks["xp-act-start"], marks["xp-act-end"]
    pid, tid = start["pid"], start["tid"]
    total = 0.0
    for e in events:
        if e.get("pid") == pid and e.get("tid") == tid and e.get("ph") == "X" and e.get("name") == "ThreadControllerImpl::RunTask":
            if e["ts"] + e.get("dur", 0) > start["ts"] and e["ts"] < end["ts"]:
                share = (min(end["ts"], e["ts"] + e["dur"]) - max(start["ts"], e["ts"])) / max(1, e["dur"])
                total += e.get("tdur", 0) * share
    return total / 1000


def launch(playwright):
    return playwright.chromium.launch(executable_path=shutil.which("chromium"), args=CHROMIUM_ARGS)


def renderer_rss(browser) -> float:
    """Resident memory (MB) of the largest renderer process of this browser."""
    cdp = browser.new_browser_cdp_session()
    try:
        info = cdp.send("SystemInfo.getProcessInfo")["processInfo"]
    finally:
        cdp.detach()
    rss = [psutil.Process(p["id"]).memory_info().rss for p in info if p["type"] == "renderer"
           and psutil.pid_exists(p["id"])]
    return max(rss, default=0) / 1e6


RSS_LIMIT = 4e9  # bytes: a renderer above this is killed (the machine is shared; BertViz can take 10 GB and more)


class Watchdog:
    """Kills any renderer of this process's browsers whose resident memory passes RSS_LIMIT; `.killed` holds the
    largest size it killed at."""

    def __init__(self):
        self.killed, self.on = None, True
        threading.Thread(target=self.run, daemon=True).start()

    def run(self):
        me = psutil.Process()
        while self.on:
            for p in me.children(recursive=True):
                try:
                    if "--type=renderer" in " ".join(p.cmdline()) and p.memory_info().rss > RSS_LIMIT:
                        self.killed = max(self.killed or 0, p.memory_info().rss)
                        p.kill()
                except psutil.Error:
                    pass
            time.sleep(0.5)

    def stop(self):
        self.on = False


def measure_page(browser, url: str, tool: str, view: str, timeout: float, interact: bool = True) -> dict:
    """One fresh load of `url`: first figure (ms), DOMContentLoaded (ms), each interaction (ms, longest frame),
    renderer RSS (MB), JS heap (MB), requested URLs. `first` is None when the figure did not appear in time."""
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    errors, urls = [], []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: m.type == "error" and errors.append(m.text))
    page.on("request", lambda r: urls.append(r.url))
    drawn = DRAWN["ours" if tool == "ours" else f"bertviz-{view}"]
    page.add_init_script(FIRST_FIGURE % drawn)
    out = {"first": None, "errors": errors, "urls": urls}
    dog = Watchdog()
    try:
        page.goto(url, wait_until="commit", timeout=timeout * 1000)
        page.wait_for_function("window.__fig !== null", timeout=timeout * 1000, polling=50)
        out["first"] = page.evaluate("window.__fig")
        out["dcl"] = page.evaluate("performance.getEntriesByType('navigation')[0]?.domContentLoadedEventEnd")
        if tool == "ours":
            v = page.locator(".xp-view").first
            out["draw_ms"] = float(v.get_attribute("data-draw-ms") or "nan")
        if interact and out["first"] < 20_000:  # past 20 s to a figure, each interaction takes minutes
            out["actions"] = {}
            for name, code in ACTIONS.get((tool, view), {}).items():
                runs = []
                for arg in (0, 1, 0):
                    runs.append(page.evaluate(INTERACT, [code, arg]))
                    if runs[-1]["ms"] > 5000:
                        break
                runs[-1]["cpu"] = cpu_of(browser, page, code, 1) if runs[-1]["ms"] <= 5000 else None
                out["actions"][name] = runs
        out["rss"] = renderer_rss(browser)
        cdp = context.new_cdp_session(page)
        cdp.send("Performance.enable")
        metrics = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
        out["heap"] = metrics.get("JSHeapUsedSize", 0) / 1e6
    except Exception as e:  # a timeout: the figure never came
        out["fail"] = type(e).__name__ + ": " + str(e).splitlines()[0][:200]
        if dog.killed:
            out["fail"] = f"renderer stopped at {dog.killed / 1e9:.1f} GB (limit {RSS_LIMIT / 1e9:.0f} GB)"
        try:
            out["rss"] = renderer_rss(browser)
        except Exception:
            pass
    dog.stop()
    if dog.killed:
        out["rss"] = max(out.get("rss") or 0, dog.killed / 1e6)
    try:
        context.close()
    except Exception:
        pass
    return out


def page_bytes(server: Server, urls: list[str]) -> tuple[int, int]:
    """(raw, gzip -6) bytes of every same-host file a page requested (the page itself included)."""
    raw = gz = 0
    for url in dict.fromkeys(urls):
        if not url.startswith(server.base):
            continue
        f = server.file(url[len(server.base):])
        if f.is_dir():
            f = f / "index.html"
        if f.is_file():
            data = f.read_bytes()
            raw += len(data)
            gz += len(gzip.compress(data, 6))
    return raw, gz


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


# -- tracing: where our time goes --------------------------------------------------------------------------------

CATEGORIES = ["devtools.timeline", "disabled-by-default-devtools.timeline", "blink.user_timing", "loading",
              "v8.execute", "v8", "blink", "netlog", "disabled-by-default-devtools.timeline.frame"]

KINDS = {  # trace event name -> kind of main-thread work
    "ParseHTML": "parse HTML", "ParseAuthorStyleSheet": "parse CSS",
    "v8.compile": "compile JS", "v8.compileModule": "compile JS", "V8.CompileCode": "compile JS",
    "v8.produceModuleCache": "compile JS", "v8.evaluateModule": "run JS", "EvaluateScript": "run JS",
    "FunctionCall": "run JS", "TimerFire": "run JS", "FireAnimationFrame": "run JS", "EventDispatch": "run JS",
    "RunMicrotasks": "run JS", "v8.run": "run JS",
    "UpdateLayoutTree": "style", "Layout": "layout", "Paint": "paint", "PrePaint": "paint",
    "Layerize": "paint", "CompositeLayers": "paint", "Commit": "paint",
    "MajorGC": "GC", "MinorGC": "GC", "V8.GC_SCAVENGER": "GC",
    "Decode Image": "images", "ImageDecodeTask": "images",
}


def trace_page(browser, url: str, drawn: str, path: Path) -> dict:
    """Load `url` once under Chrome tracing; returns the request waterfall and main-thread time by kind of work
    from navigation start to the first figure (exclusive time: a nested event's time counts once, to the inner
    kind)."""
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    page.add_init_script(FIRST_FIGURE % drawn)
    browser.start_tracing(page=page, path=str(path), categories=CATEGORIES)
    page.goto(url, wait_until="commit")
    page.wait_for_function("window.__fig !== null", timeout=120_000, polling=50)
    first = page.evaluate("window.__fig")
    page.wait_for_timeout(200)
    browser.stop_tracing()
    context.close()
    events = json.loads(path.read_text())
    events = events["traceEvents"] if isinstance(events, dict) else events
    return breakdown(events, first)


def breakdown(events: list[dict], first_ms: float) -> dict:
    # the page's renderer main thread: where navigationStart was marked for a http document
    nav = [e for e in events if e.get("name") == "navigationStart" and
           str(e.get("args", {}).get("data", {}).get("documentLoaderURL", "")).startswith("http")]
    if not nav:
        return {"error": "no navigationStart in the trace"}
    start = nav[-1]["ts"]
    pid, tid = nav[-1]["pid"], nav[-1]["tid"]
    end = start + first_ms * 1000
    # requests (any thread of the renderer or browser): send -> finish
    reqs: dict[str, dict] = {}
    for e in events:
        data = e.get("args", {}).get("data", {}) or {}
        rid = data.get("requestId")
        if not rid:
            continue
        r = reqs.setdefault(rid, {})
        if e["name"] == "ResourceSendRequest":
            r.update(url=data.get("url"), send=(e["ts"] - start) / 1000, priority=data.get("priority"))
        elif e["name"] == "ResourceFinish":
            r["finish"] = (e["ts"] - start) / 1000
    waterfall = sorted((r for r in reqs.values() if "url" in r and "send" in r and r["send"] >= -1),
                       key=lambda r: r["send"])
    # main thread: exclusive time per kind within [start, end]
    spans = sorted((e for e in events if e.get("pid") == pid and e.get("tid") == tid and e.get("ph") == "X"
                    and e.get("dur") and e["ts"] + e["dur"] >= start and e["ts"] <= end),
                   key=lambda e: (e["ts"], -e["dur"]))
    totals: dict[str, float] = defaultdict(float)
    stack: list[tuple[float, str]] = []  # (end ts, kind) of enclosing events with a kind

    def clip(a, b):
        return max(0.0, min(b, end) - max(a, start))
    # exclusive attribution: walk events in order; a kinded child subtracts its time from its kinded parent
    owned: list[list] = []  # [end, kind, exclusive]
    for e in spans:
        kind = KINDS.get(e["name"])
        if kind is None:
            continue
        a, b = e["ts"], e["ts"] + e["dur"]
        while owned and owned[-1][0] <= a:
            _, k, x = owned.pop()
            totals[k] += x
        d = clip(a, b)
        if owned:
            owned[-1][2] -= d
        owned.append([b, kind, d])
    while owned:
        _, k, x = owned.pop()
        totals[k] += x
    tasks = [e for e in spans if e["name"] in ("RunTask", "ThreadControllerImpl::RunTask")]
    busy = sum(clip(e["ts"], e["ts"] + e["dur"]) for e in tasks) / 1000
    long = sorted(((e["ts"] - start) / 1000, e["dur"] / 1000) for e in tasks if e["dur"] > 20_000)
    marks = {e["name"]: (e["ts"] - start) / 1000 for e in events if e.get("pid") == pid and e.get("name") in (
        "domContentLoadedEventEnd", "firstContentfulPaint", "loadEventEnd", "firstPaint", "domInteractive")}
    return {"first": first_ms, "busy": busy, "kinds": {k: v / 1000 for k, v in sorted(totals.items())},
            "waterfall": waterfall, "long_tasks": long, "marks": marks}


def load_average() -> str:
    import os
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def now() -> float:
    return time.perf_counter()
