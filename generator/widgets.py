"""The widgets' files (ES modules and CSS under generator/assets/), as the site and the CLI ship them.

Beside the modules ships their classic-script bundle (`assets/bundle/explorables.iife.js`, made by esbuild with
`npm run bundle` and committed; tests/test_bundle.py fails when it is older than the modules) as `js/ENTRY`: the
site's pages load that one file `async`, so the figures in view are drawn without waiting for a second round of
module requests nor for the end of parsing (and Material's own script); see benchmarks/RESULTS.md.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

FOLDERS = ("js", "css")
BUNDLE = "bundle/explorables.iife.js"
ENTRY = "js/explorables.iife.js"   # where the bundle ships, beside the modules (data files resolve from ../data/)


def asset_files() -> list[tuple[str, bytes]]:
    """Every shipped asset as (path relative to the assets folder, e.g. "js/view.js", bytes), sorted by path."""
    root = resources.files("generator") / "assets"
    files = []
    for folder in FOLDERS:
        for asset in (root / folder).iterdir():
            if asset.name.endswith((".js", ".css")):
                files.append((f"{folder}/{asset.name}", asset.read_bytes()))
    files.append((ENTRY, (root / BUNDLE).read_bytes()))
    return sorted(files)


def copy_assets(target: Path) -> int:
    """Write every asset under `target` (js/..., css/...); returns how many files were written."""
    for relative, content in asset_files():
        path = target / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    return len(asset_files())
