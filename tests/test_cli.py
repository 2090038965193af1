"""The command line: `check` validates without running models, `bake` fills the cache."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

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


def test_bake_on_two_processes_counts_and_names_every_spec_it_baked(tmp_path, tiny_models, capsys):
    """`bake --workers 2`: the specs this process bakes while a child bakes others are baked too, not 'from
    cache' (the count said only the child's); the count is the number of entries the cache gained."""
    names = ("one", "two", "three", "four")
    curated = "".join(f"- id: {name}\n  model: {tiny_models['gpt2']}\n  text: example number {name}\n"
                      for name in names)
    root = project(tmp_path, "# Page\n", curated=curated)
    assert main(["--root", str(root), "bake", "--workers", "2"]) == 0
    out = capsys.readouterr().out
    assert len(list((root / ".cache" / "explorables").glob("*/*.json"))) == 4
    assert "4 explorables: 4 baked, 0 from cache" in out, out
    assert sorted(line for line in out.splitlines() if line.startswith("baked ")) == \
        sorted(f"baked {name}" for name in names)
    assert main(["--root", str(root), "bake", "--workers", "2"]) == 0
    assert "4 explorables: 0 baked, 4 from cache" in capsys.readouterr().out


def test_bake_counts_from_cache_only_specs_it_read_from_the_cache(tmp_path, tiny_models, capsys):
    """A block that is not even a spec (an unknown field) is an error, not one fewer 'from cache': the count said
    '-1 from cache'."""
    root = project(tmp_path, "# Page\n\n```explorable\nuse: one\ntext: not allowed with use\n```\n",
                   curated=f"- id: one\n  model: {tiny_models['gpt2']}\n  text: first example\n")
    assert main(["--root", str(root), "bake"]) == 1
    out, err = capsys.readouterr()
    assert "1 explorable: 1 baked, 0 from cache" in out, out
    assert "docs/index.md:5: field 'text'" in err
    assert main(["--root", str(root), "bake"]) == 1
    assert "1 explorable: 0 baked, 1 from cache" in capsys.readouterr().out


def test_assets_are_copied_for_sites_without_the_plugin(tmp_path):
    assert main(["assets", str(tmp_path / "out")]) == 0
    assert (tmp_path / "out" / "js" / "explorables.js").exists()
    assert (tmp_path / "out" / "css" / "explorables.css").exists()


def test_check_catches_what_the_build_rejects_from_the_models_files_without_torch(tmp_path, tiny_models):
    long_text = " ".join(["word"] * 200)          # tiny GPT-2 reads at most 128 positions
    root = project(tmp_path, f"""\
        # Page

        ```explorable
        model: smolm2
        text: a misspelt bundled name
        ```

        ```explorable
        model: minilm
        text: an encoder cannot continue this
        generate: 3
        ```

        ```explorable
        model: smollm2
        pair: [a causal model, reads no pairs]
        ```

        ```explorable
        model: smollm2
        text: Only six tokens here.
        views: [factors]
        factors: {{counts: [3, 20]}}
        ```

        ```explorable
        model: {tiny_models['gpt2']}
        text: {long_text}
        max_tokens: 1000
        ```

        ```explorable
        model: minilm
        text: one sentence where a pair is needed
        views: [saliency]
        ```

        ```explorable
        model: {tiny_models['gpt2']}
        text: fine
        views: [factors]
        factors: {{layers: 5}}
        ```

        ```explorable
        model: smollm2
        text: The cat sat on the
        generate: 2
        views: [ranks]
        lens: {{watch: [" is", " unbelievably"]}}
        ```
        """)
    # torch is made unimportable: any import of it fails the run.
    code = ("import sys; sys.modules['torch'] = None; from generator.cli import main; "
            "sys.exit(main(['--root', sys.argv[1], 'check']))")
    result = subprocess.run([sys.executable, "-c", code, str(root)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 1, result.stderr
    err = result.stderr
    assert "docs/index.md:4: field 'model': unknown model 'smolm2': did you mean the bundled 'smollm2'?" in err
    assert "docs/index.md:11: field 'generate':" in err and "encoder" in err
    assert "docs/index.md:16: field 'pair':" in err and "cannot read a sentence pair" in err
    assert "docs/index.md:23: field 'factors.counts': 20 factors asked for" in err
    assert "docs/index.md:28: field 'text':" in err and "reads at most 128 positions" in err
    assert "docs/index.md:34: field 'text':" in err and "similarity of two sentences" in err
    assert "docs/index.md:42: field 'factors.layers':" in err and "layers 0-1" in err
    assert "docs/index.md:50: field 'lens.watch' (entry 2): \" unbelievably\" is not a single token of SmolLM2" in err
    assert "tokenises as" in err and "leading space" in err
    assert "Traceback" not in err and "torch" not in err


@pytest.mark.parametrize("read_from", ["files", "weights cache"])
def test_the_torch_free_tokenizers_count_as_the_models_own(loaded_bundled, read_from, monkeypatch, request):
    """`read_from`: SmolLM2's GGUF file (the weights cache off), or its entry in the weights cache."""
    import yaml

    from generator.models import facts as facts_module
    from generator.models.facts import model_facts
    from generator.models.registry import resolve

    loaded_bundled("smollm2")           # fills the weights cache, where it was empty
    if read_from == "files":
        monkeypatch.setenv("EXPLORABLES_MODEL_CACHE", "off")
    else:
        assert facts_module._cached_entry(resolve("smollm2")) is not None
    facts_module._facts.cache_clear()            # facts are kept per process: read them afresh, and forget them
    request.addfinalizer(facts_module._facts.cache_clear)

    texts = [item["text"] for path in sorted((REPO / "explorables").glob("*.yml"))
             for item in yaml.safe_load(path.read_text(encoding="utf-8")) if item.get("text")]
    texts += ["我爱北京天安门", "pass\u200bword, a\u200c\u200db", "<|im_start|>user\nhi<|im_end|>", "  two  spaces\n\ttab"]
    for alias in ("smollm2", "minilm"):
        facts, loaded = model_facts(resolve(alias)), loaded_bundled(alias)
        for text in texts:
            assert facts.tokenizer.encode(text).ids == loaded.tokenizer(text)["input_ids"], (alias, text)
        assert facts.info == loaded.info and facts.max_positions == loaded.max_positions
        # `check` names the pieces of a watched entry as the bake does: a byte fragment as <0xF0>, so the pieces
        # spell the entry's UTF-8 bytes again
        for entry in (" pizza🍕", "🍕", " naïve", "我爱", " is"):
            shown = facts.info.pieces(entry)
            assert shown == loaded.info.pieces(entry), (alias, entry)
            spelled = re.sub(rb"<0x([0-9A-F]{2})>", lambda m: bytes([int(m.group(1), 16)]),
                             "".join(shown).encode("utf-8"))
            if alias == "smollm2":
                assert spelled == entry.encode("utf-8"), (entry, shown)
                assert "\ufffd" not in "".join(shown)
        assert facts.can_read_pairs == loaded.can_read_pairs
    pair = ["I love pizza", "Pizza is my favourite food"]
    assert model_facts(resolve("minilm")).count(pair=pair) == len(loaded_bundled("minilm").tokenizer(*pair)["input_ids"])
