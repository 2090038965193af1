"""`explorables export` of every curated example and docs block from a warm cache: wall time (best and median of
5 runs, a new process each, imports included) and whether PyTorch was imported; sizes of the files.

    .venv/bin/python benchmarks/export.py          (bake first: .venv/bin/explorables bake)
"""

from __future__ import annotations

import gzip
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RUN = ("import sys, time\nt = time.perf_counter()\nfrom generator.cli import main\ncode = main(sys.argv[1:])\n"
       "print('SECONDS', time.perf_counter() - t, 'TORCH', 'torch' in sys.modules)\nsys.exit(code)\n")


def main() -> None:
    times, inner = [], []
    with tempfile.TemporaryDirectory() as temp:
        for _ in range(5):
            start = time.perf_counter()
            result = subprocess.run([sys.executable, "-c", RUN, "--root", str(REPO), "export", "--out", temp],
                                    capture_output=True, text=True, check=True,
                                    env={**os.environ, "PYTHONPATH": str(REPO)})
            times.append(time.perf_counter() - start)
            seconds, torch = re.search(r"SECONDS (\S+) TORCH (\S+)", result.stdout).groups()
            inner.append(float(seconds))
            assert torch == "False", "a warm export must not import torch"
            assert "0 baked" in result.stdout, "bake first: the cache is not warm"
        files = sorted(Path(temp).glob("*.html"))
        code_gz = []
        for path in files:
            page = path.read_text(encoding="utf-8")
            code = "".join(re.findall(r"<(?:script|style)>(.*?)</(?:script|style)>", page, flags=re.S))
            code_gz.append(len(gzip.compress(code.encode(), 9)))
        sizes = [path.stat().st_size for path in files]
    print(f"{len(files)} standalone files; process wall time best {min(times):.2f} s, median "
          f"{statistics.median(times):.2f} s (inside main(): median {statistics.median(inner):.2f} s); "
          "torch imported: False")
    print(f"file sizes {min(sizes):,}-{max(sizes):,} B; inlined JS+CSS {max(code_gz):,} B gzipped "
          f"(budget 40,000)")


if __name__ == "__main__":
    main()
