"""The offline copy: a site built with Material's offline plugin, opened from file:// in headless Chromium.

Every view of every page reaches its ready state, interaction, save PNG, the palette toggle and search work, no
console error, and no request leaves the file system.(tests/test_bundle.py checks the classic-script bundle
against the modules it is made from.)"""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

import pytest

from conftest import CANVAS_PIXELS, Reader, build_site, next_frame, ready, write_test_site_config

REPO = Path(__file__).resolve().parent.parent
VIEWS = "explorable-head-view, explorable-model-view, explorable-saliency-view, explorable-factor-view"


@pytest.fixture(scope="module")
def offline_site(tmp_path_factory, tiny_models) -> Path:
    """Two pages (one payload embedded, two large enough to become data files) built with the offline plugin,
    search, instant navigation and a palette toggle, like the project's own site."""
    root = tmp_path_factory.mktemp("offline-site")
    (root / "docs").mkdir()
    (root / "docs" / "index.md").write_text(textwrap.dedent(f"""\
        # Offline home

        Zanzibar is a word for the search test.

        ```explorable
        id: small-one
        model: {tiny_models["gpt2"]}
        text: A small figure embedded in the page.
        views: [head, model]
        ```

        [Every view](all.md)
        """), encoding="utf-8")
    (root / "docs" / "all.md").write_text(textwrap.dedent(f"""\
        # Every view

        ```explorable
        id: every-view
        model: {tiny_models["llama"]}
        text: One two three four five six seven eight.
        generate: 2
        views: [head, model, saliency, factors]
        factors: {{counts: [2, 3]}}
        ```

        ```explorable
        id: pair
        model: {tiny_models["bert"]}
        pair: [A cat sleeps., A kitten naps.]
        views: [saliency, head]
        ```
        """), encoding="utf-8")
    write_test_site_config(root, "Offline test site", offline=True, embed_limit=2000)
    build_site(root / "mkdocs.yml", root / "site")
    return root / "site"


def test_offline_build_ships_the_bundle_the_shim_and_script_copies_of_the_data(offline_site):
    html = {path.name: path.read_text(encoding="utf-8") for path in offline_site.glob("*.html")
            if path.name != "404.html"}   # (the error page of a server, with root-relative links)
    assert {"index.html", "all.html"} <= set(html), "use_directory_urls is off (the offline plugin sets it)"
    for text in html.values():
        assert "unpkg.com" not in text and "https://" not in re.sub(r'<a [^>]*href="https://[^"]*"', "", text)
        assert 'src="assets/explorables/js/explorables.iife.js"' in text
        assert 'type="module"' not in text
        assert 'src="assets/explorables/offline/iframe-worker.js"' in text
    data = sorted((offline_site / "assets/explorables/data").glob("*.json"))
    assert data, "the large payload became a data file"
    for path in data:
        script = path.with_suffix(".js").read_text(encoding="utf-8")
        match = re.fullmatch(r'\(self\.explorablesData=self\.explorablesData\|\|\{\}\)\[("[0-9a-f]{20}\.json")\]='
                             r'(".*");\n', script, flags=re.S)
        assert match, script[:200]
        assert json.loads(match.group(1)) == path.name
        # the string literal is also JSON, so Python reads it back: the same text as the .json file
        assert json.loads(match.group(2)) == path.read_text(encoding="utf-8")


@pytest.fixture
def file_reader(browser):
    readers = []

    def open_(site: Path, page: str, **options):
        reader = Reader(browser, site.as_uri() + "/", **{"viewport": {"width": 1100, "height": 800}, **options})
        reader.requests = []
        reader.page.on("request", lambda req: reader.requests.append(req.url))
        readers.append(reader)
        reader.open(page)
        return reader
    yield open_
    for reader in readers:
        reader.close()


def settle_all(reader) -> list[str]:
    views = reader.page.locator(VIEWS)
    return [ready(reader.page, views.nth(i)) for i in range(views.count())]


def test_every_view_of_every_page_works_from_file(offline_site, file_reader):
    for name, count in (("index.html", 2), ("all.html", 6)):
        reader = file_reader(offline_site, name)
        assert reader.page.url.startswith("file://")
        assert settle_all(reader) == ["ready"] * count, name
        next_frame(reader.page)
        assert reader.errors == [], reader.errors
        leaving = [url for url in reader.requests if not url.startswith(("file://", "data:", "blob:"))]
        assert leaving == [], leaving
    # the data file was read through its script copy, only when the view came near
    assert any(url.endswith(".js") and "/assets/explorables/data/" in url for url in reader.requests)


def test_interaction_png_palette_and_search_from_file(offline_site, file_reader, tmp_path):
    reader = file_reader(offline_site, "all.html")
    page = reader.page
    settle_all(reader)
    head = page.locator("explorable-head-view").first
    before = head.evaluate(CANVAS_PIXELS)
    head.get_by_text("three", exact=False).first.hover()
    next_frame(page)
    assert head.evaluate(CANVAS_PIXELS) != before, "hovering a token redraws its lines"

    with page.expect_download() as download:
        page.locator("explorable-model-view").get_by_role("button", name="save PNG").first.click()
    path = tmp_path / "view.png"
    download.value.save_as(path)
    assert download.value.suggested_filename.startswith("every-view")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    model = page.locator("explorable-model-view").first
    light = model.evaluate(CANVAS_PIXELS)
    page.locator("label.md-header__button[for^='__palette']").first.click()
    page.wait_for_function("document.body.dataset.mdColorScheme === 'slate'")
    next_frame(page)
    assert model.evaluate(CANVAS_PIXELS) != light, "the palette toggle recolours the views"

    # Material's search runs in a worker: from file:// through the shipped shim, not a CDN
    page.locator("input.md-search__input").click()
    page.locator("input.md-search__input").press_sequentially("zanzibar")
    page.wait_for_function("document.querySelectorAll('.md-search-result__item').length > 0", timeout=10000)
    assert "Zanzibar is a word for the search test" in page.locator(".md-search-result").inner_text()
    assert reader.errors == [], reader.errors
    assert [url for url in reader.requests if not url.startswith(("file://", "data:", "blob:"))] == []


def test_the_offline_build_also_works_when_served(offline_site, serve, browser):
    """Someone may still serve the downloaded copy: the bundle then fetches the .json data files."""
    reader = Reader(browser, serve(offline_site), viewport={"width": 1100, "height": 800})
    requests: list[str] = []
    reader.page.on("request", lambda req: requests.append(req.url))
    try:
        reader.open("all.html")
        assert settle_all(reader) == ["ready"] * 6
        assert any(url.endswith(".json") and "/assets/explorables/data/" in url for url in requests)
        assert reader.errors == [] and reader.foreign == []
    finally:
        reader.close()


def test_the_shim_replaces_the_cdn_polyfill_of_materials_offline_plugin():
    """Material's offline plugin on its own lists a CDN script; ours takes its place (whichever runs first)."""
    from material.plugins.offline.plugin import OfflinePlugin

    from generator.export.offline import use_local_worker_shim

    for ours_first in (False, True):
        config = type("Config", (), {"extra": {}, "use_directory_urls": True})()
        plugin = OfflinePlugin()
        plugin.load_config({})
        if ours_first:
            use_local_worker_shim(config)
        plugin.on_config(config)
        if not ours_first:
            assert any("unpkg.com" in url for url in config.extra["polyfills"])
            use_local_worker_shim(config)
        assert config.extra["polyfills"] == ["assets/explorables/offline/iframe-worker.js"]
