"""Faults found in the second round of trying the site as readers, authors and maintainers would (issue 21): each
test failed before its fix."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

from generator.cli import main

REPO = Path(__file__).resolve().parent.parent


def project(root: Path, page: str, curated: str = "") -> Path:
    (root / "docs").mkdir(parents=True, exist_ok=True)
    (root / "explorables").mkdir(exist_ok=True)
    (root / "docs" / "index.md").write_text(textwrap.dedent(page), encoding="utf-8")
    if curated:
        (root / "explorables" / "examples.yml").write_text(textwrap.dedent(curated), encoding="utf-8")
    return root


# -- 1. `check` on a broken local model folder ---------------------------------------------------------------------

def test_check_places_a_broken_model_folder_and_goes_on(tmp_path, tiny_models):
    broken = tmp_path / "broken"
    shutil.copytree(tiny_models["gpt2"], broken)
    (broken / "config.json").write_text('{"model_type": "gpt2", ', encoding="utf-8")     # cut short
    countless = tmp_path / "countless"
    shutil.copytree(tiny_models["gpt2"], countless)
    (countless / "config.json").write_text('{"model_type": "gpt2"}', encoding="utf-8")      # valid, but no sizes
    bad_tokenizer = tmp_path / "bad-tokenizer"
    shutil.copytree(tiny_models["gpt2"], bad_tokenizer)
    (bad_tokenizer / "tokenizer.json").write_text("not json", encoding="utf-8")
    root = project(tmp_path / "site", """\
        # Page

        ```explorable
        model: ../broken
        text: a folder whose config is not JSON
        ```

        ```explorable
        model: ../bad-tokenizer
        text: a folder whose tokenizer is not JSON
        ```

        ```explorable
        model: smollm2
        txt: another error, still reported
        ```

        ```explorable
        model: ../countless
        text: a config without layer and head counts
        ```
        """)
    code = "import sys; from generator.cli import main; sys.exit(main(['--root', sys.argv[1], 'check']))"
    result = subprocess.run([sys.executable, "-c", code, str(root)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 1
    err = result.stderr
    assert "Traceback" not in err, err[-3000:]
    assert "docs/index.md:4: field 'model':" in err and "config.json" in err and "not valid JSON" in err
    assert "docs/index.md:9: field 'model':" in err and "tokenizer.json" in err
    assert "docs/index.md:15: field 'txt': unknown field" in err
    assert "docs/index.md:19: field 'model':" in err and "layer and head counts" in err
