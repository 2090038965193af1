"""Whole builds of a small test site: strict builds, errors in place, payload files, warm rebuilds without torch."""

from __future__ import annotations

import html
import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import markdown

from generator.payload import decode_array

REPO = Path(__file__).resolve().parent.parent

BUILD = textwrap.dedent("""
    import logging, sys
    from mkdocs.commands.build import build
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    from mkdocs.config import load_config
    config = load_config(sys.argv[1], strict=sys.argv[2] == "strict")
    build(config)
    print("TORCH_IMPORTED=" + str("torch" in sys.modules))
""")


def make_site(root: Path, pages: dict[str, str], *, embed_limit: int = 48_000) -> Path:
    (root / "docs").mkdir(parents=True, exist_ok=True)
    for name, text in pages.items():
        (root / "docs" / name).write_text(textwrap.dedent(text), encoding="utf-8")
    (root / "mkdocs.yml").write_text(textwrap.dedent(f"""
        site_name: Test site
        theme:
          name: material
          font: false
        plugins:
          - explorables:
              embed_limit: {embed_limit}
        markdown_extensions:
          - admonition
          - pymdownx.superfences
    """), encoding="utf-8")
    return root / "mkdocs.yml"


def build(config: Path, strict: bool = True, *, isolated: bool = False) -> subprocess.CompletedProcess:
    """`mkdocs build` of `config` (strict or lax): returncode, stdout and stderr (MkDocs' log as "LEVEL message").
    In this process by default (models already loaded and libraries imported stay so: a fresh interpreter costs
    3-4 s of imports per build); `isolated=True` for a fresh one, whose stdout ends with TORCH_IMPORTED=True|False."""
    if isolated:
        return subprocess.run([sys.executable, "-c", BUILD, str(config), "strict" if strict else "lax"],
                              capture_output=True, text=True, timeout=600, cwd=config.parent,
                              env={**__import__("os").environ, "NO_MKDOCS_2_WARNING": "1"})
    from conftest import build_in_process
    return build_in_process(config, strict=strict)


def payloads(page: str) -> list[dict]:
    return [json.loads(html.unescape(raw)) for raw in re.findall(r'data-payload="([^"]*)"', page)]


def block(model: Path, body: str) -> str:
    return f"```explorable\nmodel: {model}\n{body.strip()}\n```\n"


def test_strict_build_embeds_real_payloads_and_ships_assets(tmp_path, tiny_models):
    config = make_site(tmp_path, {
        "index.md": "# Home\n\nIntro.\n\n" + block(tiny_models["gpt2"], "text: The cat sat.\ntitle: A <b>title</b>")
                    + "\nAfter the figure.\n",
    })
    result = build(config)
    assert result.returncode == 0, result.stderr
    page = (tmp_path / "site" / "index.html").read_text()
    [payload] = payloads(page)
    attention = decode_array(payload["attention"]["values"])
    assert attention.shape[:2] == (2, 4)
    assert abs(attention.sum(-1) - 1).max() < 0.02
    assert "A &lt;b&gt;title&lt;/b&gt;" in page and "<b>title</b>" not in page
    assert "<explorable-head-view>" in page and "<explorable-model-view>" in page
    assert "After the figure." in page
    for script in ("explorables.iife.js", "explorables-attention.iife.js", "explorables-lens.iife.js"):
        shipped = (tmp_path / "site/assets/explorables/js" / script).read_bytes()
        assert shipped == (REPO / "generator/assets/bundle" / script).read_bytes()
    # the core, then the script of this page's views (head and model: attention), and not the others; before
    # Material's own script, so the figures in view are drawn before it runs
    scripts = re.findall(r'<script src="(?:assets/explorables/js/([^"]+)" fetchpriority="high"|'
                         r'assets/javascripts/(bundle)\.[0-9a-f]+\.min\.js")></script>', page)
    assert ["".join(script) for script in scripts] == ["explorables.iife.js", "explorables-attention.iife.js",
                                                         "bundle"]
    assert page.count("assets/explorables/js/") == 2
    assert 'type="module"' not in page
    assert "data-search-exclude" in page


def test_large_payloads_become_content_hashed_files(tmp_path, tiny_models):
    config = make_site(tmp_path, {"index.md": block(tiny_models["llama"], "text: One two three four five six.")},
                       embed_limit=100)
    assert build(config).returncode == 0
    page = (tmp_path / "site" / "index.html").read_text()
    [name] = re.findall(r'data-src="([^"]+)"', page)
    data_file = tmp_path / "site" / "assets" / "explorables" / "data" / name
    payload = json.loads(data_file.read_bytes())
    assert payload["schema_version"] == 1 and payload["model"]["n_kv_heads"] == 2
    import hashlib
    assert name.startswith(hashlib.sha256(data_file.read_bytes()).hexdigest()[:20])
    assert not payloads(page)


def test_a_bad_block_fails_strict_builds_and_keeps_everything_else(tmp_path, tiny_models):
    pages = {"index.md": "---\ntitle: Front matter\n---\n# Page\n\nBefore.\n\n"
                         + block(tiny_models["bert"], "text: a cat\ngenerate: 3")
                         + "\nBetween.\n\n" + block(tiny_models["gpt2"], "text: still fine") + "\nAfter.\n"}
    config = make_site(tmp_path, pages)
    strict = build(config, strict=True)
    assert strict.returncode != 0
    # The block starts on line 8 of the file (front matter included); 'generate' is its third body line.
    assert "docs/index.md:11: field 'generate'" in strict.stderr + strict.stdout
    lax = build(config, strict=False)
    assert lax.returncode == 0, lax.stderr
    page = (tmp_path / "site" / "index.html").read_text()
    assert 'role="alert"' in page and "cannot generate" in page
    assert "Before." in page and "Between." in page and "After." in page
    assert len(payloads(page)) == 1, "the good block still renders"


def test_a_bad_curated_entry_fails_strict_builds_once_and_spoils_only_the_blocks_using_it(tmp_path, tiny_models):
    pages = {"index.md": "# Page\n\n" + block(tiny_models["gpt2"], "text: my own text")
                         + "\n```explorable\nuse: good\n```\n\n```explorable\nuse: bad\n```\n"}
    config = make_site(tmp_path, pages)
    (tmp_path / "explorables").mkdir()
    (tmp_path / "explorables" / "curated.yml").write_text(
        f"- id: bad\n  model: {tiny_models['gpt2']}\n  text: one\n  text: two\n"
        f"- id: good\n  model: {tiny_models['gpt2']}\n  text: three\n", encoding="utf-8")
    strict = build(config, strict=True)
    assert strict.returncode != 0
    log = strict.stderr + strict.stdout
    assert log.count("explorables: explorables/curated.yml:4: field 'text' (entry 1): 'text' is given a second") == 1
    lax = build(config, strict=False)
    assert lax.returncode == 0, lax.stderr
    page = (tmp_path / "site" / "index.html").read_text()
    assert len(payloads(page)) == 2, "the page's own block and the good curated one still render"
    assert page.count('role="alert"') == 1 and "the curated explorable &#x27;bad&#x27; has an error" in page


def test_warm_rebuild_does_not_import_torch_and_title_edits_do_not_rebake(tmp_path, tiny_models):
    body = "text: The warm cache.\ntitle: First"
    config = make_site(tmp_path, {"index.md": block(tiny_models["gpt2"], body)})
    cold = build(config, isolated=True)
    assert cold.returncode == 0 and "TORCH_IMPORTED=True" in cold.stdout
    make_site(tmp_path, {"index.md": block(tiny_models["gpt2"], body.replace("First", "Second"))})
    warm = build(config, isolated=True)
    assert warm.returncode == 0 and "TORCH_IMPORTED=False" in warm.stdout, warm.stdout + warm.stderr
    assert "Second" in (tmp_path / "site" / "index.html").read_text()


def test_stale_cache_entries_are_evicted_by_a_full_build(tmp_path, tiny_models):
    config = make_site(tmp_path, {"index.md": block(tiny_models["gpt2"], "text: version one")})
    assert build(config).returncode == 0
    make_site(tmp_path, {"index.md": block(tiny_models["gpt2"], "text: version two")})
    assert build(config).returncode == 0
    entries = list((tmp_path / ".cache" / "explorables").glob("??/*.json"))
    assert len(entries) == 1


def test_sites_sharing_a_cache_do_not_evict_each_other(tmp_path, tiny_models):
    cache = tmp_path / "shared-cache"
    first = make_site(tmp_path / "a", {"index.md": block(tiny_models["gpt2"], "text: site a")})
    second = make_site(tmp_path / "b", {"index.md": block(tiny_models["gpt2"], "text: site b")})
    for config in (first, second):
        config.write_text(config.read_text().replace("embed_limit: 48000", f"embed_limit: 48000\n      cache_dir: {cache}"))
        assert build(config).returncode == 0
    assert build(first).returncode == 0
    assert len(list(cache.glob("??/*.json"))) == 2


def test_the_extension_works_without_mkdocs(tmp_path, tiny_models):
    from generator.markdown_ext import ExplorablesExtension
    text = "Text.\n\n!!! note\n    " + block(tiny_models["gpt2"], "text: inside an admonition\nviews: [model]") \
        .replace("\n", "\n    ")
    out = markdown.markdown(text, extensions=["admonition", ExplorablesExtension(cache_dir=str(tmp_path / "c"))])
    [payload] = payloads(out)
    assert payload["model"]["architecture"] == "gpt2"
    assert "<explorable-model-view>" in out and "<explorable-head-view>" not in out
    assert 'class="admonition note"' in out


def test_spec_text_with_markup_is_escaped_in_the_page(tmp_path, tiny_models):
    config = make_site(tmp_path, {"index.md": block(tiny_models["gpt2"],
                                                    'text: "<script>window.pwned = 1</script> & <b>bold</b>"')})
    assert build(config).returncode == 0
    page = (tmp_path / "site" / "index.html").read_text()
    assert "<script>window.pwned" not in page and "<b>bold</b>" not in page
    [payload] = payloads(page)
    assert "".join(t["text"] for t in payload["tokens"]).startswith("<script>window.pwned")


def test_blocks_shown_as_examples_inside_code_fences_stay_code():
    from generator.fences import find_blocks
    text = "````markdown\n```explorable\nmodel: smollm2\ntext: hi\n```\n````\n\n```explorable\nuse: x\n```\n"
    blocks = find_blocks(text.splitlines())
    assert [block.body for block in blocks] == ["use: x"]
    assert blocks[0].start == 7


def test_an_unclosed_block_ends_where_the_next_block_opens():
    from generator.fences import find_blocks
    text = "```explorable\nmodel: smollm2\ntext: hi\n\nProse.\n```explorable\nuse: x\n```\n"
    first, second = find_blocks(text.splitlines())
    assert not first.closed and first.next_block == 5 and first.body == "model: smollm2\ntext: hi\n\nProse."
    assert second.closed and second.start == 5 and second.body == "use: x"

