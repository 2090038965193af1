"""The widgets' files (ES modules and CSS under generator/assets/), as the site and the CLI ship them."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

FOLDERS = ("js", "css")


def asset_files() -> list[tuple[str, bytes]]:
    """Every shipped asset as (path relative to the assets folder, e.g. "js/view.js", bytes), sorted by path."""
    root = resources.files("generator") / "assets"
    files = []
    for folder in FOLDERS:
        for asset in (root / folder).iterdir():
            if asset.name.endswith((".js", ".css")):
                files.append((f"{folder}/{asset.name}", asset.read_bytes()))
    return sorted(files)


def copy_assets(target: Path) -> int:
    """Write every asset under `target` (js/..., css/...); returns how many files were written."""
    for relative, content in asset_files():
        path = target / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    return len(asset_files())
