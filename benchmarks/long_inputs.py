"""Long inputs on the attention views (issue 22): bake time, bake peak memory and payload bytes at 512, 1,024 and
2,048 tokens.

Each bake runs in a fresh process (its peak resident memory is that process's ru_maxrss, model included) with a
fresh cache, showing `views: [head, model]` on a text of exactly N tokens (the head and model views read up to 2,048 tokens:
methods/attention.py, the layered form). `--repo` bakes with another checkout's
generator (to compare before and after a change). Run by hand; figures go to benchmarks/RESULTS.md with the
machine's load average, since this machine is shared:

    .venv/bin/python benchmarks/long_inputs.py smollm2:512 minilm:512 smollm2:1024 [--repo PATH]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PROSE = ("The history of the printing press begins in the fifteenth century, when movable metal type made it possible "
         "to copy books quickly. Within fifty years, presses operated in more than two hundred cities across Europe, "
         "and the price of a book fell so far that students, merchants and craftsmen could own them. ")

CHILD = r"""
import json, resource, sys, tempfile, time
alias, n = sys.argv[1], int(sys.argv[2])
from generator.bake import Baker
from generator.models.loading import POOL
from generator.models.registry import resolve
from generator.spec import spec_from_data
tokenizer = POOL.get(resolve(alias)).tokenizer
words = (sys.argv[3] * (4 * n // 40 + 2)).split(" ")
low, high = 1, len(words)
while low < high:                                   # the fewest words that reach n tokens
    mid = (low + high) // 2
    low, high = (mid + 1, high) if len(tokenizer(" ".join(words[:mid]))["input_ids"]) < n else (low, mid)
ids = tokenizer(" ".join(words[:low]), add_special_tokens=False)["input_ids"]
special = len(tokenizer("x")["input_ids"]) - len(tokenizer("x", add_special_tokens=False)["input_ids"])
text = tokenizer.decode(ids[: n - special])
loaded_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
import generator.methods.attention as attention
attention.MAX_WEIGHTS = 1 << 40                     # an older checkout (--repo): measure past its limit too
spec = spec_from_data({"model": alias, "text": text, "views": ["head", "model"], "max_tokens": 2048}, file="bench")
start = time.perf_counter()
payload = Baker(tempfile.mkdtemp())._compute(spec)
seconds = time.perf_counter() - start
if sys.argv[4]:
    open(sys.argv[4], "wb").write(payload)
print(json.dumps({"tokens": len(json.loads(payload)["tokens"]), "seconds": seconds, "bytes": len(payload),
                  "peak_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, "loaded_kb": loaded_rss,
                  "payload_sha": __import__("hashlib").sha256(payload).hexdigest()[:12],
                  "gzip": len(__import__("gzip").compress(payload, 6))}))
"""


def bake(alias: str, n: int, repo: Path, save: Path | None = None) -> dict:
    out = str(save / f"{alias}-{n}.json") if save else ""
    result = subprocess.run([sys.executable, "-c", CHILD, alias, str(n), PROSE, out], capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": str(repo), "HF_HUB_OFFLINE": "1"}, cwd=tempfile.gettempdir())
    if result.returncode:
        raise SystemExit(result.stderr[-3000:])
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="MODEL:TOKENS, e.g. smollm2:512")
    parser.add_argument("--repo", type=Path, default=REPO, help="checkout whose generator bakes (default: this one)")
    parser.add_argument("--save", type=Path, help="folder to write each payload to, as MODEL-TOKENS.json (for "
                        "benchmarks/long_browser.py)")
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.2f} (2 cores); generator from {args.repo}")
    print("| model | tokens | bake s | peak RSS MB (after load) | payload MB | gzip MB | sha256 |")
    print("|---|---|---|---|---|---|---|")
    for run in args.runs:
        alias, n = run.split(":")
        r = bake(alias, int(n), args.repo, args.save)
        print(f"| {alias} | {r['tokens']} | {r['seconds']:.1f} | {r['peak_kb'] / 1024:,.0f} "
              f"({r['loaded_kb'] / 1024:,.0f}) | {r['bytes'] / 1e6:.2f} | {r['gzip'] / 1e6:.2f} | "
              f"{r['payload_sha']} |", flush=True)
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
