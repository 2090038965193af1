"""The one-figure Material site the browser benchmarks load (attention.py, lens.py, neuron.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def one_figure_site(root: Path, text: str, views: list[str], cache: Path, *, repo: Path = REPO,
                    before: str = "") -> Path:
    """Build, under `root`, a Material page holding `before` (Markdown) and then one SmolLM2 block of `text` with
    `views`, baked into the cache folder `cache` by the generator of checkout `repo`; returns the built site's
    folder. The build runs from `root`: `python -m` puts the working folder first on sys.path, before PYTHONPATH,
    so running from a checkout would import that checkout's generator whatever `repo` says."""
    (root / "docs").mkdir(parents=True)
    (root / "docs" / "index.md").write_text(
        f"# Bench\n\n{before}\n\n```explorable\nmodel: smollm2\ntext: {json.dumps(text)}\n"
        f"views: [{', '.join(views)}]\n```\n")
    (root / "mkdocs.yml").write_text(
        f"site_name: bench\ntheme: {{name: material, font: false}}\nplugins:\n  - explorables:\n"
        f"      cache_dir: {cache}\nmarkdown_extensions:\n  - pymdownx.superfences\n")
    subprocess.run([sys.executable, "-m", "mkdocs", "build", "-q", "-f", str(root / "mkdocs.yml")], check=True,
                   cwd=root, env={**os.environ, "NO_MKDOCS_2_WARNING": "1", "PYTHONPATH": str(repo)})
    return root / "site"
