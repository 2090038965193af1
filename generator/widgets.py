"""The widgets' files (ES modules and CSS under generator/assets/), as the site and the CLI ship them.

Beside the modules ship their classic scripts (`assets/bundle/`, made by esbuild with `npm run bundle`, i.e.
scripts/bundle.mjs, and committed; tests/test_bundle.py fails when they are older than the modules), under `js/`:
the core `ENTRY` (the shared modules and the loader) and one script per group of views,
`js/explorables-<group>.iife.js`. A page loads the core and the groups of the views it shows, before Material's own
script (plugin.py), so the figures in view are drawn without waiting for a module graph, for the end of parsing or
for Material's script, and no page pays for views it does not show (benchmarks/RESULTS.md).
"""

from __future__ import annotations

import json
import re
from functools import cache
from importlib import resources
from pathlib import Path

FOLDERS = ("js", "css")
BUNDLE = "bundle"
ENTRY = "js/explorables.iife.js"   # where the core ships, beside the modules (data files resolve from ../data/)
FIGURE = "js/explorables-export.iife.js"   # the save buttons' drawing code, loaded on a first click (export.js)
_TAG = re.compile(r"<(explorable-[a-z]+(?:-[a-z]+)*-view)\b")


def _root():
    return resources.files("generator") / "assets"


def asset_files() -> list[tuple[str, bytes]]:
    """Every shipped asset as (path relative to the assets folder, e.g. "js/view.js", bytes), sorted by path. The
    bundle's files ship beside the sources, its scripts under js/ and its minified stylesheet as css/explorables.css
    in place of the source."""
    root = _root()
    files = {}
    for folder in FOLDERS:
        for asset in (root / folder).iterdir():
            if asset.name.endswith((".js", ".css")):
                files[f"{folder}/{asset.name}"] = asset.read_bytes()
    for asset in (root / BUNDLE).iterdir():
        if asset.name.endswith((".js", ".css")):
            files[f"{'js' if asset.name.endswith('.js') else 'css'}/{asset.name}"] = asset.read_bytes()
    return sorted(files.items())


@cache
def view_groups() -> dict[str, str]:
    """{element tag: group} of every view, as scripts/bundle.mjs wrote it (assets/bundle/views.json)."""
    return json.loads((_root() / BUNDLE / "views.json").read_text(encoding="utf-8"))


def group_scripts(html: str) -> list[str]:
    """The group scripts ("js/explorables-<group>.iife.js", sorted) that the view elements in `html` need."""
    groups = view_groups()
    return sorted({f"js/explorables-{groups[tag]}.iife.js" for tag in _TAG.findall(html) if tag in groups})


def copy_assets(target: Path) -> int:
    """Write every asset under `target` (js/..., css/...); returns how many files were written."""
    for relative, content in asset_files():
        path = target / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    return len(asset_files())
