"""The classic scripts the site's pages load (generator/widgets.py) are made from the current modules, and a page
gets the scripts of the views it shows."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from generator.widgets import group_scripts, view_groups

REPO = Path(__file__).resolve().parent.parent
BUNDLE = REPO / "generator" / "assets" / "bundle"


def test_committed_scripts_are_made_from_the_current_modules(tmp_path):
    """The site build needs no node: it ships the committed scripts. This fails when a module changed since."""
    if not (REPO / "node_modules" / ".bin" / "esbuild").exists():
        pytest.fail("node_modules/.bin/esbuild is missing; run scripts/setup --test (npm install)")
    command = json.loads((REPO / "package.json").read_text())["scripts"]["bundle"].split()
    assert command[:2] == ["node", "scripts/bundle.mjs"]
    result = subprocess.run(command + [str(tmp_path)], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    made = {path.name: path.read_bytes() for path in tmp_path.iterdir()}
    committed = {path.name: path.read_bytes() for path in BUNDLE.iterdir()}
    assert sorted(made) == sorted(committed), "the scripts differ in number: run `npm run bundle` and commit them"
    for name, content in made.items():
        assert content == committed[name], f"{name} is stale: run `npm run bundle` and commit it"


def test_every_view_element_the_modules_declare_has_one_group_script():
    declared = set()
    for module in (REPO / "generator" / "assets" / "js").glob("*-view.js"):
        declared.update(line.split('"')[1] for line in module.read_text().splitlines() if "static tag = " in line)
    assert declared and set(view_groups()) == declared
    for tag, group in view_groups().items():
        assert (BUNDLE / f"explorables-{group}.iife.js").is_file(), tag


def test_a_page_gets_the_scripts_of_the_views_it_shows_and_no_other():
    page = ('<div class="explorable"><explorable-head-view></explorable-head-view>'
            '<explorable-model-view></explorable-model-view><explorable-ranks-view></explorable-ranks-view></div>'
            "<p>&lt;explorable-neuron-view&gt; is written as text here</p>")
    assert group_scripts(page) == ["js/explorables-attention.iife.js", "js/explorables-lens.iife.js"]
    assert group_scripts("<p>no figure</p>") == []
