"""Live blocks (issue 25): warm first live figures of several built sites, pressed alternately in one browser.

    PYTHONPATH=$PWD .venv/bin/python benchmarks/live_ab.py --rounds 6 main=/tmp/a/site branch=/tmp/b/site

Each NAME=FOLDER is a site built with `benchmarks/live.py`'s `build` (from the tree whose live code it should
have: a copy of main, this tree), served on its own port, so each has its own HTTP cache entries. After one cold
press per site (which fills the cache), every round opens a fresh page of each site (order reversed every other
round) and presses "try your own text" at 32 tokens. Per site, medians over the rounds of: the first live figure
(data-live-ms), the renderer's CPU over the press (all its threads, psutil), the CPU of the renderer's main thread
alone (the thread the first figure waits on when another core is free; a worker that has ended is not counted
there), and the loader's steps (data-live-timings). On a shared machine, alternating the sites keeps the load
the same for all of them; the load average is printed before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
from pathlib import Path

from live import press, renderers, serve, text_of


def thread_cpu() -> dict[str, float]:
    """{thread name: CPU seconds so far} over this browser's renderer processes ("main": each one's main thread)."""
    out: dict[str, float] = {}
    for proc in renderers():
        try:
            for t in proc.threads():
                try:
                    name = Path(f"/proc/{proc.pid}/task/{t.id}/comm").read_text().strip()
                except OSError:
                    name = "?"
                name = "main" if t.id == proc.pid else name
                out[name] = out.get(name, 0.0) + t.user_time + t.system_time
        except Exception:       # a process that ended meanwhile
            pass
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("sites", nargs="+", metavar="NAME=FOLDER")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    sites = [item.split("=", 1) for item in args.sites]
    bases = {name: serve(Path(folder)) for name, folder in sites}
    results: dict[str, list[dict]] = {name: [] for name, _ in sites}
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as work, sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(Path(work) / "profile", executable_path=shutil.which("chromium"),
                                                        args=["--no-sandbox"], viewport={"width": 1280, "height": 900})

        def one(name: str) -> dict:
            page = context.new_page()
            page.goto(bases[name])
            page.wait_for_selector("explorable-head-view[data-state=ready]")
            before = thread_cpu()
            data = press(page, text_of(32))
            after = thread_cpu()
            data["mainS"] = after.get("main", 0.0) - before.get("main", 0.0)
            page.close()
            return data

        for name, _ in sites:
            one(name)
        for r in range(args.rounds):
            for name, _ in (sites if r % 2 == 0 else sites[::-1]):
                results[name].append(one(name))
        context.close()
    print(f"load average (1 min): {load_before:.1f} before, {os.getloadavg()[0]:.1f} after (2 cores); "
          f"{args.rounds} warm presses per site, alternating")
    for name, _ in sites:
        presses = results[name]
        ms = [float(p["liveMs"]) for p in presses]
        timings = [json.loads(p["liveTimings"]) for p in presses]
        load = {k: statistics.median(t["load"][k] for t in timings) for k in timings[0]["load"]}
        own = {k: statistics.median(t[k] for t in timings) for k in ("tokenise", "forward", "payload", "draw")}
        print(f"{name}: first figure median {statistics.median(ms):.0f} ms (min {min(ms):.0f}, max {max(ms):.0f}); "
              f"renderer CPU {statistics.median(p['cpuS'] for p in presses):.2f} s, its main thread "
              f"{statistics.median(p['mainS'] for p in presses):.2f} s")
        print("  loader, ms after the press: " + ", ".join(f"{k} {v:.0f}" for k, v in sorted(load.items(), key=lambda kv: kv[1])) +
              "\n  then, ms each: " + ", ".join(f"{k} {v:.0f}" for k, v in own.items()))


if __name__ == "__main__":
    main()
