"""The classic-script bundle the site's pages load (generator/widgets.py ENTRY) is made from the current modules."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
BUNDLE = REPO / "generator" / "assets" / "bundle" / "explorables.iife.js"


def test_committed_bundle_is_made_from_the_current_modules(tmp_path):
    """The site build needs no node: it ships the committed bundle. This fails when a module changed since."""
    esbuild = REPO / "node_modules" / ".bin" / "esbuild"
    if not esbuild.exists():
        pytest.fail("node_modules/.bin/esbuild is missing; run scripts/setup --test (npm install)")
    command = json.loads((REPO / "package.json").read_text())["scripts"]["bundle"].split()
    assert command[0] == "esbuild"
    out = tmp_path / "bundle.js"
    command = [str(esbuild)] + [f"--outfile={out}" if arg.startswith("--outfile=") else arg for arg in command[1:]]
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert out.read_bytes() == BUNDLE.read_bytes(), "the bundle is stale: run `npm run bundle` and commit it"
