"""A small project (curated specs, a docs page, mkdocs.yml) on the tiny test models, baked once per module that
uses it, for the export and tracking tests. Imported by those modules: `from tiny_project import tiny_project`."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def cli(root: Path, *args: str, cwd: Path | None = None, env: dict | None = None,
        timeout: int = 600) -> subprocess.CompletedProcess:
    """`explorables --root ROOT ARGS...` in a subprocess; its stdout ends with a line TORCH_IMPORTED=True|False."""
    code = ("import sys\nfrom generator.cli import main\ncode = main(sys.argv[1:])\n"
            "print('TORCH_IMPORTED=' + str('torch' in sys.modules))\nsys.exit(code)\n")
    environment = {**os.environ, "PYTHONPATH": str(REPO), "NO_MKDOCS_2_WARNING": "1", **(env or {})}
    return subprocess.run([sys.executable, "-c", code, "--root", str(root), *args], capture_output=True, text=True,
                          timeout=timeout, cwd=cwd or root, env=environment)


@pytest.fixture(scope="module")
def tiny_project(tmp_path_factory, tiny_models) -> Path:
    root = tmp_path_factory.mktemp("tiny-project")
    (root / "explorables").mkdir()
    (root / "explorables" / "tiny.yml").write_text(textwrap.dedent(f"""\
        - id: tiny-all
          title: Every view of a tiny Llama
          caption: Random weights, so the patterns mean nothing.
          model: {tiny_models["llama"]}
          text: One two three four five six seven eight.
          generate: 2
          views: [head, model, saliency, factors]
          factors: {{counts: [2, 3]}}

        - id: tiny-pair
          title: A sentence pair on a tiny BERT
          model: {tiny_models["bert"]}
          pair: [A cat sleeps on the mat., A kitten naps on a rug.]
          views: [saliency, head]
        """), encoding="utf-8")
    (root / "docs").mkdir()
    (root / "docs" / "index.md").write_text(textwrap.dedent(f"""\
        # Tiny

        ```explorable
        use: tiny-all
        title: "An <b>overridden</b> title"
        ```

        ```explorable
        use: tiny-pair
        ```

        ```explorable
        model: {tiny_models["gpt2"]}
        text: A block without an id.
        views: [model]
        ```
        """), encoding="utf-8")
    (root / "mkdocs.yml").write_text(textwrap.dedent("""\
        site_name: Tiny project
        theme: {name: material, font: false}
        plugins:
          - explorables
        """), encoding="utf-8")
    result = cli(root, "bake")
    assert result.returncode == 0, result.stderr[-2000:]
    return root
