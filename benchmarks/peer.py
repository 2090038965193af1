"""Side by side with BertViz: bytes, time to first figure, interaction latency and renderer memory, one run.

    .venv/bin/python benchmarks/peer.py                 # everything: both models, 16/64/128/256 tokens, 5 runs
    .venv/bin/python benchmarks/peer.py --sizes 16 64 --runs 3
    .venv/bin/python benchmarks/peer.py --trace         # also: where our time goes (Chrome trace breakdown)

Installs BertViz (pinned) into an environment of its own under .cache/peer/ (benchmarks/peer_pages.py says why),
serves RequireJS, d3 and jQuery from npm on loopback (nothing from a CDN), builds BertViz's head and model views
and ours (a real Material page of a bench site with the project's theme settings) from the same texts, token ids
and models, and measures both in headless Chromium (benchmarks/peer_browser.py says how). Medians over --runs fresh
loads; ratios are us / BertViz (below 1: we are faster or smaller). The machine's load average is printed with the
figures: the machine is shared, so wall times move with it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import peer_browser as pb  # noqa: E402
import peer_pages as pp    # noqa: E402


def fmt(x, unit="", digits=0):
    return "—" if x is None else f"{x:,.{digits}f}{unit}"


def ratio(a, b):
    return "—" if a is None or b is None or not b else f"{a / b:.2f}"


def summarise(runs: list[dict]) -> dict:
    """Medians of a case's runs: first figure, DCL, draw, rss, heap, and per action ms / longest frame."""
    ok = [r for r in runs if r.get("first") is not None]
    out = {"runs": len(runs), "ok": len(ok), "fail": next((r["fail"] for r in runs if "fail" in r), None),
           "errors": sorted({e for r in runs for e in r["errors"]})[:3]}
    for key in ("first", "dcl", "draw_ms", "rss", "heap"):
        out[key] = pb.median([r.get(key) for r in ok])
    if not ok:
        out["rss"] = pb.median([r.get("rss") for r in runs])
    actions = {}
    for r in ok:
        for name, reps in (r.get("actions") or {}).items():
            actions.setdefault(name, []).extend(reps)
    out["actions"] = {name: {"ms": pb.median([x["ms"] for x in reps]), "longest": max(x["longest"] for x in reps),
                             "cpu": pb.median([x.get("cpu") for x in reps]), "n": len(reps)}
                      for name, reps in actions.items()}
    out["urls"] = runs[0]["urls"]
    return out


def measure(browser, url: str, tool: str, view: str, runs: int, timeout: float) -> dict:
    results = []
    for i in range(runs):
        r = pb.measure_page(browser, url, tool, view, timeout, interact=i < 3 or tool == "ours")
        results.append(r)
        if r.get("first") is None:  # timed out: once is enough
            break
    return summarise(results)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=["smollm2", "minilm"])
    ap.add_argument("--sizes", nargs="+", type=int, default=[16, 64, 128, 256])
    ap.add_argument("--views", nargs="+", default=["head", "model"])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--timeout", type=float, default=90.0, help="seconds to wait for a figure")
    ap.add_argument("--no-peer", action="store_true", help="measure our pages only")
    ap.add_argument("--trace", nargs="*", metavar="PAGE", help="also trace one load of our pages (all, or those named "
                    "like smollm2-16-head) and print where the time goes")
    ap.add_argument("--json", type=Path, help="write every figure here too")
    ap.add_argument("--tables", type=Path, metavar="JSON", help="only print the tables of a report written by --json")
    args = ap.parse_args()
    if args.tables:
        return print_tables(json.loads(args.tables.read_text()))
    print(f"# Peer benchmark, load average at start {pb.load_average()} ({os.cpu_count()} cores)")
    python = None if args.no_peer else pp.peer_env()
    cases = [pp.Case(m, n, pp.text_of(m, n)) for m in args.models for n in args.sizes]
    site, peer_dir = pp.WORK / "site", pp.WORK / "bertviz"
    t = time.perf_counter()
    ours = pp.build_ours(cases, site)
    print(f"built our bench site in {time.perf_counter() - t:.0f} s", file=sys.stderr)
    theirs = {} if args.no_peer else pp.build_bertviz(cases, python, peer_dir)
    server = pb.Server({"/site/": site, "/peer/": peer_dir, "/npm/": pp.NPM / "node_modules"})
    from playwright.sync_api import sync_playwright
    report: dict = {"load_start": pb.load_average(), "timeout": args.timeout, "cases": {}}
    with sync_playwright() as playwright:
        browser = pb.launch(playwright)
        for case in cases:
            for view in args.views:
                key = f"{case.slug}-{view}"
                row = report["cases"][key] = {"model": case.model, "n": case.n, "view": view}
                row["ours"] = measure(browser, f"{server.base}/site/{ours[key]}", "ours", view, args.runs,
                                      args.timeout)
                row["ours"]["bytes"] = pb.page_bytes(server, row["ours"].pop("urls"))
                if not args.no_peer:
                    row["bertviz"] = measure(browser, f"{server.base}/peer/{theirs[key]}", "bertviz", view,
                                             args.runs, args.timeout)
                    row["bertviz"]["bytes"] = pb.page_bytes(server, row["bertviz"].pop("urls"))
                print_row(key, row)
        for view, _ in pp.CURATED:
            key = f"curated-{view}"
            row = report["cases"][key] = {"model": "smollm2", "n": None, "view": view}
            row["ours"] = measure_curated(browser, f"{server.base}/site/{ours[key]}", view, args.runs)
            row["ours"]["bytes"] = pb.page_bytes(server, row["ours"].pop("urls"))
            print_row(key, row)
        if args.trace is not None:
            traces = report["traces"] = {}
            for case in cases:
                for view in args.views:
                    key = f"{case.slug}-{view}"
                    if args.trace and key not in args.trace:
                        continue
                    traces[key] = pb.trace_page(browser, f"{server.base}/site/{ours[key]}", pb.DRAWN["ours"],
                                                pp.WORK / f"trace-{key}.json")
                    print_trace(key, traces[key])
        browser.close()
    server.close()
    report["load_end"] = pb.load_average()
    print(f"\nload average at end {report['load_end']}")
    print_tables(report)
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))


CURATED_ACTIONS = {
    "saliency": {
        "method switch": "document.querySelectorAll('explorable-saliency-view .xp-mbtn')[arg ? 0 : 2].click();",
        "hover": "const t = document.querySelectorAll('explorable-saliency-view .xp-tok')[arg ? 3 : 5];"
                 " t.dispatchEvent(new PointerEvent('pointerover', {bubbles: true}));",
    },
    "factors": {
        "count switch": "const s = document.querySelector('explorable-factor-view select');"
                        " s.value = String(arg ? 0 : s.options.length - 1); s.dispatchEvent(new Event('change'));",
        "factor pick": "document.querySelectorAll('explorable-factor-view .xp-frow')[arg ? 1 : 2].click();",
        "hover": "const t = document.querySelectorAll('explorable-factor-view .xp-tok')[arg ? 3 : 5];"
                 " t.dispatchEvent(new PointerEvent('pointerover', {bubbles: true}));",
    },
    "layers": {
        "hover": "const c = document.querySelector('explorable-layers-view canvas'), r = c.getBoundingClientRect();"
                 " c.dispatchEvent(new PointerEvent('pointermove', {bubbles: true,"
                 " clientX: r.left + (arg ? 20 : 60), clientY: r.top + (arg ? 10 : 70)}));",
    },
    "neuron": {
        "query change": "document.querySelectorAll('explorable-neuron-view .xp-q .xp-tok')[arg ? 3 : 5].click();",
        "layer switch": "const s = document.querySelector('explorable-neuron-view select');"
                        " s.value = String(arg ? 0 : s.options.length - 1); s.dispatchEvent(new Event('change'));",
    },
    "explanations": {
        "token pick": "const t = document.querySelectorAll('explorable-explanations-view .xp-pick');"
                      " t[arg ? 0 : t.length - 1].click();",
        "sort": "document.querySelectorAll('explorable-explanations-view .xp-sort')[arg ? 0 : 1].click();",
    },
}


def measure_curated(browser, url: str, view: str, runs: int) -> dict:
    pb.ACTIONS[("ours", view)] = CURATED_ACTIONS.get(view, {})   # (first figure only where none is written)
    return measure(browser, url, "ours", view, runs, 60)


def print_row(key: str, row: dict) -> None:
    o, b = row["ours"], row.get("bertviz")
    acts = "; ".join(f"{n} {fmt(a['ms'])} ms (frame ≤{fmt(a['longest'])})" for n, a in o["actions"].items())
    print(f"{key}: ours first {fmt(o['first'])} ms (DCL {fmt(o['dcl'])}, draw {fmt(o['draw_ms'], '', 1)}), "
          f"{acts}; rss {fmt(o['rss'])} MB" + (f"; errors {o['errors']}" if o["errors"] else ""), file=sys.stderr)
    if b:
        acts = "; ".join(f"{n} {fmt(a['ms'])} ms" for n, a in b["actions"].items())
        print(f"{key}: bertviz first {fmt(b['first'])} ms{' (' + b['fail'] + ')' if b['fail'] else ''}, {acts}; "
              f"rss {fmt(b['rss'])} MB", file=sys.stderr)


def print_trace(key: str, tr: dict) -> None:
    if "error" in tr:
        print(f"\n### trace {key}: {tr['error']}")
        return
    print(f"\n### trace {key}: first figure {tr['first']:.0f} ms, main thread busy {tr['busy']:.0f} ms; marks "
          + ", ".join(f"{k} {v:.0f}" for k, v in tr["marks"].items()))
    print("main thread by kind (ms): " + ", ".join(f"{k} {v:.0f}" for k, v in
                                                     sorted(tr["kinds"].items(), key=lambda kv: -kv[1])))
    print("long tasks (start, ms): " + ", ".join(f"{a:.0f}+{d:.0f}" for a, d in tr["long_tasks"]))
    for r in tr["waterfall"]:
        url = r["url"].split("/site/", 1)[-1][-60:]
        print(f"  {r['send']:7.0f} → {fmt(r.get('finish')):>6}  {r.get('priority', ''):9} {url}")


def print_tables(report: dict) -> None:
    cases = report["cases"]
    print(f"\nload average (1, 5, 15 min) {report['load_start']} at start, {report.get('load_end')} at end, 2 cores")
    print("\n## First figure (ms from navigation start, median) and bytes (gzip, all files the page requested)\n")
    print("| case | view | ours | BertViz | ratio | ours KB | BertViz KB | ratio | ours RSS MB | BertViz RSS MB | ratio |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for key, row in cases.items():
        o, b = row["ours"], row.get("bertviz") or {}
        bfirst = b.get("first") if b else None
        bshow = fmt(bfirst) if bfirst is not None or not b else (
            "none: " + b["fail"].split(" (")[0] if "renderer stopped" in (b["fail"] or "")
            else f"none in {report.get('timeout', '?')} s")
        ob, bb = o["bytes"][1] / 1e3, (b["bytes"][1] / 1e3 if b else None)
        label = f"{row['model']} {row['n']}" if row["n"] else f"{row['model']} (curated)"
        print(f"| {label} | {row['view']} | {fmt(o['first'])} | {bshow} | {ratio(o['first'], bfirst)} | "
              f"{fmt(ob, '', 1)} | {fmt(bb, '', 1)} | {ratio(ob, bb)} | {fmt(o['rss'])} | {fmt(b.get('rss'))} | "
              f"{ratio(o['rss'], b.get('rss'))} |")
    print("\n## Interaction: ms from the event to the end of the first frame showing it (median; the longest frame "
          "from the event until one frame after it in brackets), and the main thread's CPU time in that span\n")
    print("| case | view | interaction | ours wall (longest frame) | ours CPU | BertViz wall (longest frame) | BertViz CPU "
          "| ratio wall | ratio CPU |")
    print("|---|---|---|---|---|---|---|---|---|")
    for key, row in cases.items():
        o, b = row["ours"], row.get("bertviz") or {}
        label = f"{row['model']} {row['n']}" if row["n"] else f"{row['model']} (curated)"
        for name, a in o["actions"].items():
            ba = (b.get("actions") or {}).get(name)
            print(f"| {label} | {row['view']} | {name} | {fmt(a['ms'])} ({fmt(a['longest'])}) | {fmt(a.get('cpu'))} | "
                  f"{fmt(ba['ms']) + ' (' + fmt(ba['longest']) + ')' if ba else '—'} | "
                  f"{fmt(ba.get('cpu')) if ba else '—'} | {ratio(a['ms'], ba['ms'] if ba else None)} | "
                  f"{ratio(a.get('cpu'), ba.get('cpu') if ba else None)} |")


if __name__ == "__main__":
    main()
