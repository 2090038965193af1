"""A site baked ahead (`explorables bake`, on Ray or anywhere) is built by MkDocs reading the cache only: with the
plugin's `bake: false` (or EXPLORABLES_BAKE=0) a block without a payload is an error placed at the block, and
`mkdocs build --strict` fails on it, without running a model; a bad cache location or device stops the build
with a message naming the setting."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def site(root: Path, model: Path, plugin: str) -> Path:
    (root / "docs").mkdir(parents=True, exist_ok=True)
    (root / "docs" / "index.md").write_text(textwrap.dedent(f"""\
        # Page

        ```explorable
        model: {model}
        text: A block baked ahead.
        ```
        """), encoding="utf-8")
    (root / "mkdocs.yml").write_text(f"site_name: T\nplugins:\n  - explorables{plugin}\n", encoding="utf-8")
    return root


def build(root: Path, **env: str) -> subprocess.CompletedProcess:
    code = ("import sys, runpy\nsys.argv = ['mkdocs', 'build', '--strict']\n"
            "try:\n    runpy.run_module('mkdocs', run_name='__main__')\nexcept SystemExit as end:\n"
            "    print('TORCH_IMPORTED=' + str('torch' in sys.modules))\n    raise\n")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=900, cwd=root,
                          env={**os.environ, "PYTHONPATH": str(REPO), "NO_MKDOCS_2_WARNING": "1", **env})


def test_a_build_that_only_reads_places_a_missing_payload_and_never_bakes(tmp_path, tiny_models):
    root = site(tmp_path, tiny_models["gpt2"], ": {bake: false}")
    missing = build(root)
    assert missing.returncode != 0
    assert "docs/index.md:4" in missing.stderr and "no baked payload" in missing.stderr
    assert "explorables bake" in missing.stderr
    assert "TORCH_IMPORTED=False" in missing.stdout, "a build that only reads never imports torch"
    assert not list((root / ".cache").rglob("??/*.json")) if (root / ".cache").exists() else True
    baked = subprocess.run([sys.executable, "-m", "generator.cli", "--root", str(root), "bake"], capture_output=True,
                           text=True, timeout=900, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert baked.returncode == 0, baked.stderr[-2000:]
    reads = build(root)
    assert reads.returncode == 0, reads.stderr[-2000:]
    assert "TORCH_IMPORTED=False" in reads.stdout
    by_env = build(site(tmp_path / "env", tiny_models["gpt2"], ""), EXPLORABLES_BAKE="0")
    assert by_env.returncode != 0 and "no baked payload" in by_env.stderr


def test_a_bad_site_setting_stops_the_build_naming_it(tmp_path, tiny_models):
    root = site(tmp_path, tiny_models["gpt2"], ": {device: tpu}")
    result = build(root)
    assert result.returncode != 0 and "device" in result.stderr and "tpu" in result.stderr
    remote = build(site(tmp_path / "s3", tiny_models["gpt2"], ": {cache_dir: 's3://no-bucket/x', "
                                                              "cache_options: {anon: true, endpoint_url: "
                                                              "'http://127.0.0.1:9'}}"))
    assert remote.returncode != 0 and "s3://no-bucket/x" in remote.stderr and "cache_dir" in remote.stderr
    assert "Traceback" not in remote.stderr
