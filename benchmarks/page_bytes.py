"""The widgets' code each page of a built site loads: JS + CSS, gzipped (issue 14's budget: 30 KB per page).

    .venv/bin/mkdocs build -d /tmp/site && .venv/bin/python benchmarks/page_bytes.py /tmp/site

For every page: the widget scripts and stylesheet it references (the core, the scripts of the views it shows, the
CSS), each gzipped at level 9 as a server would send it, and their sum. The scripts that instant navigation fetches
later (a page's views it did not show first) are counted on the page that shows them.
"""

from __future__ import annotations

import gzip
import re
import sys
from pathlib import Path

ASSETS = "assets/explorables/"


def gz(path: Path) -> int:
    return len(gzip.compress(path.read_bytes(), 9))


def main(site: Path) -> None:
    rows = []
    for page in sorted(site.rglob("*.html")):
        if page.relative_to(site).as_posix().startswith(ASSETS):
            continue   # the standalone downloads inline their code (their own budget: benchmarks/export.py)
        text = page.read_text(encoding="utf-8")
        files = sorted(set(re.findall(r'(?:src|href)="([^"]*' + ASSETS + r'(?:js|css)/[^"]+)"', text)))
        if not any("-view" in t for t in re.findall(r"<explorable-[a-z-]+", text)):
            continue
        sizes = {Path(f).name: gz((page.parent / f).resolve()) for f in files}
        rows.append((page.relative_to(site).as_posix(), sizes))
    print(f"{'page':32} {'JS + CSS gzipped':>17}  files (bytes gzipped)")
    for name, sizes in rows:
        total = sum(sizes.values())
        print(f"{name:32} {total / 1000:>14.1f} KB  " + ", ".join(f"{f} {b:,}" for f, b in sizes.items()))
    print(f"largest: {max(sum(s.values()) for _, s in rows) / 1000:.1f} KB (budget 30 KB)")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "site"))
