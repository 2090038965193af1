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


def cli(root: Path, *args: str, cwd: Path | None = None, env: dict | None = None, timeout: int = 1200,
        isolated: bool = False) -> subprocess.CompletedProcess:
    """`explorables --root ROOT ARGS...`: returncode, stdout, stderr. In this process by default (a fresh interpreter
    costs 3-4 s of imports); `isolated=True` runs it in a subprocess whose stdout ends with a line
    TORCH_IMPORTED=True|False."""
    if not isolated:
        return _cli_here(root, args, cwd or root, env or {})
    code = ("import sys\nfrom generator.cli import main\ncode = main(sys.argv[1:])\n"
            "print('TORCH_IMPORTED=' + str('torch' in sys.modules))\nsys.exit(code)\n")
    environment = {**os.environ, "PYTHONPATH": str(REPO), "NO_MKDOCS_2_WARNING": "1", **(env or {})}
    return subprocess.run([sys.executable, "-c", code, "--root", str(root), *args], capture_output=True, text=True,
                          timeout=timeout, cwd=cwd or root, env=environment)


def _cli_here(root: Path, args: tuple[str, ...], cwd: Path, env: dict) -> subprocess.CompletedProcess:
    import io
    import traceback
    from contextlib import chdir, redirect_stderr, redirect_stdout

    from generator.cli import main

    out, err = io.StringIO(), io.StringIO()
    saved = {name: os.environ.get(name) for name in env}
    os.environ.update(env)
    try:
        with chdir(cwd), redirect_stdout(out), redirect_stderr(err):
            try:
                code = main(["--root", str(root), *args])
            except SystemExit as exc:       # argparse's usage errors
                code = exc.code if isinstance(exc.code, int) else 1
            except Exception:
                traceback.print_exc()
                code = 1
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    return subprocess.CompletedProcess(["explorables", "--root", str(root), *args], code, out.getvalue(),
                                       err.getvalue())


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
