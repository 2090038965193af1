"""The command line: `check` validates without running models, `bake` fills the cache."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from generator.cli import main

REPO = Path(__file__).resolve().parent.parent


def project(root: Path, page: str, curated: str = "") -> Path:
    (root / "docs").mkdir(parents=True)
    (root / "explorables").mkdir()
    (root / "docs" / "index.md").write_text(textwrap.dedent(page), encoding="utf-8")
    if curated:
        (root / "explorables" / "examples.yml").write_text(textwrap.dedent(curated), encoding="utf-8")
    return root


def test_check_accepts_the_projects_own_specs_without_importing_torch():
    code = ("import sys; from generator.cli import main; code = main(['--root', sys.argv[1], 'check']); "
            "print('TORCH', 'torch' in sys.modules); sys.exit(code)")
    result = subprocess.run([sys.executable, "-c", code, str(REPO)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "all valid" in result.stdout and "TORCH False" in result.stdout


def test_check_reports_every_bad_block_with_its_location(tmp_path, capsys):
    root = project(tmp_path, """\
        # Page

        ```explorable
        model: smollm2
        txt: typo
        ```

        ```explorable
        use: nowhere
        ```

        ```explorable
        model: not a model!
        text: hi
        ```
        """)
    assert main(["--root", str(root), "check"]) == 1
    err = capsys.readouterr().err
    assert "docs/index.md:5: field 'txt': unknown field" in err
    assert "docs/index.md:9: field 'use'" in err
    assert "docs/index.md:13: field 'model'" in err


def test_bake_fills_the_cache_then_reuses_it(tmp_path, tiny_models, capsys):
    root = project(tmp_path, "# Page\n", curated=f"""\
        - id: one
          model: {tiny_models['gpt2']}
          text: first example
        - id: two
          model: {tiny_models['bert']}
          pair: [a question, an answer]
        """)
    assert main(["--root", str(root), "bake"]) == 0
    out = capsys.readouterr().out
    assert "2 baked" in out
    assert "baked one\n" in out and "baked two\n" in out      # it says which blocks it baked
    assert len(list((root / ".cache" / "explorables").glob("*/*.json"))) == 2
    assert main(["--root", str(root), "bake"]) == 0
    assert "0 baked, 2 from cache" in capsys.readouterr().out


def test_assets_are_copied_for_sites_without_the_plugin(tmp_path):
    assert main(["assets", str(tmp_path / "out")]) == 0
    assert (tmp_path / "out" / "js" / "explorables.js").exists()
    assert (tmp_path / "out" / "css" / "explorables.css").exists()
