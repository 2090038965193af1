"""The curated site's cold bake: one process (`explorables bake --workers 1`) against this machine's cores
(`--workers 2`: this process and a child, generator/distributed/local.py) and Ray with 1 and 2 workers
(`explorables bake --executor ray --workers N`, a local Ray cluster started by the command), each into a fresh
cache, each one fresh process (wall time of the whole command: torch import, model loads, Ray start included).
Also the per-explorable costs the 1,000-explorable estimate of RESULTS.md uses: each entry's recorded bake
seconds and payload bytes, by model.

    .venv/bin/python benchmarks/ray_bake.py [--only MODEL] [--runs N]

--only keeps the curated entries of one model (e.g. minilm) when the whole site is too long for the machine.
--ways picks and orders the bakes (serial, local-2, ray-1, ray-2; `--ways serial,local-2,serial,local-2 --runs 1`
alternates them); each one's payloads are compared byte for byte with the first's. Every bake runs torch at one
thread (generator.bake.BAKE_THREADS, fixed so that the bytes do not depend on the machine).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent


def site(root: Path, only: str | None) -> int:
    """The curated specs (of one model with `only`) under root/explorables; returns how many."""
    (root / "explorables").mkdir(parents=True)
    (root / "docs").mkdir()
    count = 0
    for path in sorted((REPO / "explorables").glob("*.yml")):
        entries = [entry for entry in yaml.safe_load(path.read_text()) or [] if not only or entry["model"] == only]
        count += len(entries)
        if entries:
            (root / "explorables" / path.name).write_text(yaml.safe_dump(entries, sort_keys=False))
    return count


def bake(root: Path, cache: Path, *extra: str) -> float:
    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1", "RAY_USAGE_STATS_ENABLED": "0"}
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "generator.cli", "--root", str(root), "--cache", str(cache),
                             "bake", *extra], capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - started
    if result.returncode:
        sys.exit(result.stderr[-3000:])
    return seconds


def entries(cache: Path) -> dict[str, tuple[dict, bytes]]:
    out = {}
    for path in cache.glob("??/*.json"):
        header, payload = path.read_bytes().split(b"\n", 1)
        out[path.stem] = (json.loads(header), payload)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--only", help="keep the curated entries of this model only")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--ways", default="serial,local-2",
                        help="which bakes to run, comma-separated, in this order (serial, local-2, ray-1, ray-2; "
                             "default: serial,local-2); a way named twice is run twice")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        count = site(root, args.only)
        print(f"{count} curated explorables{f' of {args.only}' if args.only else ''}; load average "
              f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
        every = {"serial": ("one process (--workers 1)", ["--workers", "1"]),
                 "local-2": ("this machine's cores (--workers 2)", ["--workers", "2"]),
                 "ray-1": ("ray, 1 worker", ["--executor", "ray", "--workers", "1"]),
                 "ray-2": ("ray, 2 workers", ["--executor", "ray", "--workers", "2"])}
        order = [every[way] for way in args.ways.split(",")] * args.runs
        times: dict[str, list[float]] = {name: [] for name, _ in order}
        caches: dict[str, Path] = {}
        for index, (name, extra) in enumerate(order):
            caches.setdefault(name, root / f"cache-{index}")
            cache = root / f"cache-{index}"
            times[name].append(bake(root, cache, *extra))
            if cache != caches[name]:
                same = entries(cache).keys() == entries(caches[name]).keys() and all(
                    entries(cache)[key][1] == payload for key, (_, payload) in entries(caches[name]).items())
                print(f"  (the same bytes as {name}'s first bake: {same})")
            print(f"  {name}: {times[name][-1]:.1f} s (load average {os.getloadavg()[0]:.1f})", flush=True)
        first = next(iter(times))
        for name, values in times.items():
            print(f"{name:34s} median {statistics.median(values):7.1f} s   "
                  f"against {first}: {statistics.median(times[first]) / statistics.median(values):.2f}x")
        reference = entries(caches[first])
        for name in list(times)[1:]:
            same = all(entries(caches[name]).get(key, (None, None))[1] == payload
                       for key, (_, payload) in reference.items())
            print(f"{name}: payloads byte-identical to {first}: {same}")
        print(f"per explorable ({first}): bake seconds (model load in the first of each model) and payload bytes")
        for key, (header, payload) in sorted(reference.items(), key=lambda item: -item[1][0].get("bake_seconds", 0)):
            model = json.loads(payload)["model"]["label"]
            print(f"  {header.get('bake_seconds', 0):7.2f} s {len(payload):>9,} B  {model}")

if __name__ == "__main__":
    main()
