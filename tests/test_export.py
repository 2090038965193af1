"""Standalone HTML files: `explorables export`, the site's "download HTML" links, and the file itself opened from
file:// in headless Chromium (every view ready, no request, no console error, the palette follows the system)."""

from __future__ import annotations

import gzip
import html
import json
import re
from pathlib import Path

import pytest

from conftest import CANVAS_PIXELS, build_site, next_frame, ready
from tiny_project import cli, tiny_project  # noqa: F401 (a fixture)

REPO = Path(__file__).resolve().parent.parent
VIEWS = "explorable-head-view, explorable-model-view, explorable-saliency-view, explorable-factor-view"


def cached_payloads(root: Path) -> dict[str, bytes]:
    """id (or digest name) -> payload bytes, read through the project's bake cache (warm: no model runs)."""
    from generator.bake import Baker
    from generator.cli import collect
    from generator.widget_html import download_name

    specs, errors = collect(root, "docs", "explorables")
    assert not errors
    baker = Baker(root / ".cache/explorables", base_dir=root)
    payloads = {download_name(spec): baker.payload(spec) for spec in specs}
    assert baker.baked == 0, "the fixture's bake filled the cache"
    return payloads


def embedded_payload(page: str) -> bytes:
    [raw] = re.findall(r'data-payload="([^"]*)"', page)
    return html.unescape(raw).encode("utf-8")


@pytest.fixture(scope="module")
def exported(tiny_project, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("exported")
    result = cli(tiny_project, "export", "--out", str(out), isolated=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "TORCH_IMPORTED=False" in result.stdout, "a warm export never starts PyTorch"
    return out


def test_export_writes_one_file_per_explorable_holding_its_cached_payload(tiny_project, exported):
    payloads = cached_payloads(tiny_project)
    names = sorted(path.name for path in exported.glob("*.html"))
    assert names == sorted(payloads)
    assert {"tiny-all.html", "tiny-pair.html"} <= set(names) and any(n.startswith("explorable-") for n in names)
    for name, payload in payloads.items():
        assert embedded_payload((exported / name).read_text(encoding="utf-8")) == payload


def test_unknown_id_is_refused_with_the_list_of_known_ids(tiny_project, tmp_path):
    result = cli(tiny_project, "export", "tiny-all", "no-such-id", "--out", str(tmp_path / "out"))
    assert result.returncode == 2
    assert "unknown explorable no-such-id; known: explorable-" in result.stderr
    assert "tiny-all, tiny-pair (a docs block also answers to FILE:LINE" in result.stderr
    assert not (tmp_path / "out").exists(), "nothing is written when an id is unknown"


def test_a_docs_block_is_chosen_by_its_file_and_line_or_by_the_name_export_gave_it(tiny_project, tmp_path):
    by_line = cli(tiny_project, "export", "docs/index.md:13", "--out", str(tmp_path / "a"))   # the block's 'model:' line
    assert by_line.returncode == 0, by_line.stderr
    [written] = [path.name for path in (tmp_path / "a").iterdir()]
    assert written.startswith("explorable-")          # the block without an id, at lines 12-16 of docs/index.md
    by_name = cli(tiny_project, "export", written.removesuffix(".html"), "--out", str(tmp_path / "b"))
    assert by_name.returncode == 0, by_name.stderr
    assert [path.name for path in (tmp_path / "b").iterdir()] == [written]
    assert (tmp_path / "a" / written).read_bytes() == (tmp_path / "b" / written).read_bytes()
    assert cli(tiny_project, "export", "docs/index.md:20", "--out", str(tmp_path / "c")).returncode == 2


def test_a_docs_block_that_cannot_be_read_is_named_as_such_not_as_unknown(tmp_path, tiny_models):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "index.md").write_text(
        f"# Page\n\n```explorable\nmodel: {tiny_models['gpt2']}\ntext: Hi.\nviews: [heads]\n```\n\n"
        f"```explorable\nmodel: {tiny_models['gpt2']}\ntext: Fine.\nviews: [model]\n```\n", encoding="utf-8")
    result = cli(tmp_path, "export", "docs/index.md:4", "--out", str(tmp_path / "out"))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert lines[0].startswith("error: docs/index.md:6: field 'views'"), lines    # the author's error, placed
    assert lines[1] == ("error: docs/index.md:4: no explorable can be read there; fix the error above to export it")
    assert "unknown explorable" not in result.stderr and not (tmp_path / "out").exists()
    # the good block of the same page exports; a line outside any block is unknown, not "broken"
    good = cli(tmp_path, "export", "docs/index.md:11", "--out", str(tmp_path / "good"))
    assert len(list((tmp_path / "good").glob("*.html"))) == 1, good.stderr
    outside = cli(tmp_path, "export", "docs/index.md:2", "--out", str(tmp_path / "none"))
    assert outside.returncode == 2 and "unknown explorable docs/index.md:2" in outside.stderr


def test_chosen_ids_only(tiny_project, tmp_path):
    result = cli(tiny_project, "export", "tiny-pair", "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert [path.name for path in tmp_path.iterdir()] == ["tiny-pair.html"]


def test_the_file_is_self_contained_and_its_code_weighs_at_most_40_kb_gzipped(exported):
    page = (exported / "tiny-all.html").read_text(encoding="utf-8")
    markup = re.sub(r'data-payload="[^"]*"|<script>.*?</script>|<style>.*?</style>', "", page, flags=re.S)
    assert not re.search(r"\b(src|href)\s*=", markup), "the markup loads nothing"
    assert "<link" not in markup and "<img" not in markup and "<iframe" not in markup
    assert not re.search(r"url\(|@import", "".join(re.findall(r"<style>(.*?)</style>", page, flags=re.S)))
    scripts = re.findall(r"<script>(.*?)</script>", page, flags=re.S)
    styles = re.findall(r"<style>(.*?)</style>", page, flags=re.S)
    # the core, the scripts of the four views shown (head and model, saliency, factors) and the save buttons' drawing
    # code (which the site loads on a first click, and a file from disk could not), not the others
    for name in ("explorables.iife.js", "explorables-attention.iife.js", "explorables-saliency.iife.js",
                 "explorables-factors.iife.js", "explorables-export.iife.js"):
        code = (REPO / "generator/assets/bundle" / name).read_text(encoding="utf-8")
        assert code in scripts, f"the same widgets as the site's offline copy: {name}"
    assert (REPO / "generator/assets/bundle/explorables-lens.iife.js").read_text(encoding="utf-8") not in scripts
    code = "".join(scripts + styles).encode("utf-8")
    assert len(gzip.compress(code, 9)) <= 40_000
    # title, caption, model and the text the model read are on the page, as text
    assert "<h1>Every view of a tiny Llama</h1>" in page
    assert "Random weights, so the patterns mean nothing." in page
    assert "One two three four five six seven eight." in page and "Generated (2 tokens, greedy)" in page


def test_the_site_links_each_figure_to_the_same_file(tiny_project, exported, tmp_path):
    build_site(tiny_project / "mkdocs.yml", tmp_path / "site")
    page = (tmp_path / "site" / "index.html").read_text(encoding="utf-8")
    links = re.findall(r'<p class="explorable-download"><a href="([^"]+)" download="([^"]+)"', page)
    assert [name for _, name in links][:2] == ["tiny-all.html", "tiny-pair.html"] and len(links) == 3
    files = {name: (tmp_path / "site" / href).read_text(encoding="utf-8") for href, name in links}
    assert files["tiny-pair.html"] == (exported / "tiny-pair.html").read_text(encoding="utf-8")
    # the page's own title override is the file's heading, as text
    assert "<h1>An &lt;b&gt;overridden&lt;/b&gt; title</h1>" in files["tiny-all.html"]
    assert embedded_payload(files["tiny-all.html"]) == embedded_payload(
        (exported / "tiny-all.html").read_text(encoding="utf-8"))


@pytest.mark.browser
def test_the_file_works_from_disk_and_follows_the_system_palette(exported, browser, tmp_path):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, color_scheme="dark")
    page = context.new_page()
    errors, requests = [], []
    page.on("console", lambda msg: msg.type == "error" and errors.append(msg.text))
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("request", lambda req: requests.append(req.url))
    url = (exported / "tiny-all.html").as_uri()
    try:
        page.goto(url)
        views = page.locator(VIEWS)
        assert [ready(page, views.nth(i)) for i in range(views.count())] == ["ready"] * 4
        assert page.evaluate("document.body.dataset.mdColorScheme") == "slate"

        head = page.locator("explorable-head-view")
        before = head.evaluate(CANVAS_PIXELS)
        head.get_by_text("three", exact=False).first.hover()
        next_frame(page)
        assert head.evaluate(CANVAS_PIXELS) != before, "hovering a token isolates its lines"
        page.mouse.move(0, 0)
        head.locator(".xp-tok[tabindex='0']").first.focus()
        page.keyboard.press("ArrowDown")
        assert page.evaluate("document.activeElement.dataset.i") == "1", "arrow keys move along the tokens"
        page.keyboard.press("Enter")
        next_frame(page)
        assert head.evaluate(CANVAS_PIXELS) != before, "the keyboard isolates a token's lines too"

        model = page.locator("explorable-model-view")
        with page.expect_download() as download:
            model.get_by_role("button", name="save PNG").click()
        assert download.value.suggested_filename == "tiny-all-all-heads.png"
        download.value.save_as(tmp_path / "grid.png")
        assert (tmp_path / "grid.png").read_bytes()[:4] == b"\x89PNG"
        with page.expect_download() as download:
            model.get_by_role("button", name="save SVG").click()
        assert download.value.suggested_filename == "tiny-all-all-heads.svg"
        download.value.save_as(tmp_path / "grid.svg")
        import xml.etree.ElementTree as ET
        texts = ["".join(t.itertext()) for t in ET.parse(tmp_path / "grid.svg").getroot().iter("{http://www.w3.org/2000/svg}text")]
        assert "Every view of a tiny Llama" in texts, "the standalone file saves SVG too, with no request"

        dark = model.evaluate(CANVAS_PIXELS)
        page.emulate_media(color_scheme="light")
        page.wait_for_function("document.body.dataset.mdColorScheme === 'default'")
        next_frame(page)
        assert model.evaluate(CANVAS_PIXELS) != dark, "the views redraw in the light palette"
        assert errors == []
        assert [u for u in requests if u != url and not u.startswith(("data:", "blob:"))] == []
    finally:
        context.close()
