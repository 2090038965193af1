"""The widgets' shipped files, read from the installed package (no node, no network at build time).

The classic scripts (`assets/bundle/`) are made from the ES modules of `assets/js/` by esbuild (`npm run bundle`)
and committed; tests/test_bundle.py fails when they are older than the modules.
"""

from __future__ import annotations

from importlib import resources

STYLES = "bundle/explorables.css"   # minified by scripts/bundle.mjs
WORKER_SHIM = "offline/iframe-worker.js"


def asset_text(name: str) -> str:
    """Text of one file under generator/assets/, e.g. STYLES. Raises FileNotFoundError if the package lacks it."""
    return (resources.files("generator") / "assets" / name).read_text(encoding="utf-8")


def asset_bytes(name: str) -> bytes:
    return (resources.files("generator") / "assets" / name).read_bytes()
