"""The built site in headless Chromium, as a reader sees it: real data drawn, instant navigation, palette toggle,
inert spec text, inline errors, no console errors and no request to any other host."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from conftest import CANVAS_PIXELS, Reader, build_site, next_frame, write_test_site_config

REPO = Path(__file__).resolve().parent.parent
pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="session")
def test_site(tmp_path_factory, serve, tiny_models) -> str:
    """A small site with hostile spec text, a broken payload and two pages for instant navigation."""
    root = tmp_path_factory.mktemp("test-site")
    (root / "docs").mkdir()
    model = tiny_models["gpt2"]
    (root / "docs" / "index.md").write_text(textwrap.dedent(f"""\
        # Hostile text

        ```explorable
        model: {model}
        text: "<script>window.pwned = 1</script><img src=x onerror=window.pwned=2>"
        title: "<img src=x onerror=window.pwned=3>"
        ```

        [Second page](second.md)

        [Open the other views](other.md)
        """), encoding="utf-8")
    (root / "docs" / "other.md").write_text(textwrap.dedent(f"""\
        # Other views

        ```explorable
        model: {model}
        text: One two three
        generate: 2
        views: [probabilities, saliency]
        ```
        """), encoding="utf-8")
    (root / "docs" / "second.md").write_text(textwrap.dedent(f"""\
        # Second

        ```explorable
        model: {model}
        text: A second page with its own figure.
        views: [model]
        ```

        <div class="explorable" data-payload="{{&quot;schema_version&quot;: 99}}">
        <explorable-head-view></explorable-head-view>
        </div>

        [Back](index.md)
        """), encoding="utf-8")
    (root / "docs" / "tokens.md").write_text(textwrap.dedent(f"""\
        # Tokens a reader must see

        ```explorable
        model: {model}
        text: "pass\\u200bword, a\\u200c\\u200db e\\u0301"
        views: [head]
        ```

        ```explorable
        model: {tiny_models["bert"]}
        pair: ["I love pizza 🍕", "Pizza is my favourite food"]
        views: [head]
        ```
        """), encoding="utf-8")
    url = serve(root / "site")
    write_test_site_config(root, "Browser test site", site_url=url)
    build_site(root / "mkdocs.yml", root / "site")
    return url


# `browser` (headless Chromium) is a session fixture of conftest.py: Playwright's sync API allows one instance at a
# time, so every browser test module shares it.


@pytest.fixture
def test_reader(browser, test_site):
    reader = Reader(browser, test_site)
    yield reader
    reader.close()


@pytest.fixture
def reader(browser, real_site):
    reader = Reader(browser, real_site, viewport={"width": 1200, "height": 900})
    yield reader
    reader.close()


CANVAS_INK = """el => {
  const canvases = [...el.querySelectorAll('canvas')];
  let distinct = new Set();
  for (const c of canvases) {
    if (!c.width || !c.height) continue;
    const data = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    for (let i = 0; i < data.length; i += 4 * 7) distinct.add(data[i] << 16 | data[i + 1] << 8 | data[i + 2]);
  }
  return distinct.size;
}"""


def test_attention_article_draws_real_data_without_errors(reader):
    page = reader.open("attention/")
    views = reader.wait_all_settled()
    assert views.count() >= 8
    states = [views.nth(i).get_attribute("data-state") for i in range(views.count())]
    assert states == ["ready"] * len(states)
    for index in range(views.count()):
        assert views.nth(index).evaluate(CANVAS_INK) > 10, "the canvas shows a real heatmap or lines, not a blank"
    tokens = page.locator("explorable-head-view").first.inner_text()
    assert "animal" in tokens and "street" in tokens
    assert reader.foreign == [] and reader.errors == []


def test_hovering_a_token_shows_its_exact_weight(reader):
    page = reader.open("attention/")
    view = page.locator("explorable-head-view").first
    view.scroll_into_view_if_needed()
    page.wait_for_function("el => el.dataset.state === 'ready'", arg=view.element_handle())
    before = view.evaluate(CANVAS_PIXELS)
    token = view.get_by_text("animal", exact=False).first
    token.hover()
    next_frame(page)          # the view repaints within the event, or in the frame after it
    text = view.inner_text()
    assert any(char.isdigit() for char in text) and "0." in text, "a readout with the exact value appears"
    assert view.evaluate(CANVAS_PIXELS) != before, "isolating the token's lines redraws the canvas"


def test_model_view_enlarges_a_head_on_enter(reader):
    page = reader.open("attention/")
    view = page.locator("explorable-model-view").first
    view.scroll_into_view_if_needed()
    page.wait_for_function("el => el.dataset.state === 'ready'", arg=view.element_handle())
    focusable = view.locator("[tabindex='0']").first
    focusable.focus()
    page.keyboard.press("Enter")
    next_frame(page)          # set() repaints once per frame: the frame after the key
    assert "animal" in view.inner_text(), "the enlarged head is labelled with its tokens"
    assert reader.errors == []


def test_model_view_first_paint_is_recorded(reader):
    page = reader.open("attention/")
    view = page.locator("explorable-model-view").nth(1)
    view.scroll_into_view_if_needed()
    page.wait_for_function("el => el.dataset.firstPaintMs", arg=view.element_handle())
    assert float(view.get_attribute("data-first-paint-ms")) > 0


def test_widgets_survive_instant_navigation(test_reader, test_site):
    reader = test_reader
    page = reader.open("")
    reader.wait_all_settled()
    page.get_by_role("link", name="Second page").click()
    page.wait_for_url("**/second/")
    views = reader.wait_all_settled()
    assert [views.nth(i).get_attribute("data-state") for i in range(views.count())] == ["ready", "error"]
    assert views.nth(0).evaluate(CANVAS_INK) > 5
    page.go_back()
    page.wait_for_url(test_site)
    views = reader.wait_all_settled()
    assert views.nth(0).get_attribute("data-state") == "ready"
    assert views.nth(0).evaluate(CANVAS_INK) > 5
    page.get_by_role("link", name="Second page").click()
    page.wait_for_url("**/second/")
    reader.wait_all_settled()
    assert page.locator("explorable-model-view").evaluate(CANVAS_INK) > 5
    unexpected = [e for e in reader.errors if "schema_version" not in e]
    assert unexpected == []


def test_the_project_sets_site_url_so_instant_navigation_can_engage(monkeypatch):
    """Without site_url MkDocs lists no page in sitemap.xml and Material then reloads every page on a click."""
    from mkdocs.config import load_config
    monkeypatch.delenv("SITE_URL", raising=False)
    assert load_config(str(REPO / "mkdocs.yml")).site_url
    monkeypatch.setenv("SITE_URL", "https://example.org/explorables/")
    assert load_config(str(REPO / "mkdocs.yml")).site_url == "https://example.org/explorables/"


@pytest.mark.parametrize("width", [1280, 390])
def test_navigation_is_instant_and_every_view_starts_after_it(browser, test_site, width):
    """A global set on the first page survives a click on a link (no reload: Material swapped the content), and
    the views of the page reached, and of the page returned to, all start."""
    reader = Reader(browser, test_site, viewport={"width": width, "height": 900}, is_mobile=width < 500)
    try:
        page = reader.open("")
        first = [v.get_attribute("data-state") for v in reader.wait_all_settled().all()]
        assert first and set(first) == {"ready"}
        page.evaluate("window.__sameDocument = 'kept'")
        page.get_by_role("link", name="Second page").click()
        page.wait_for_url("**/second/")
        assert page.evaluate("window.__sameDocument") == "kept", "the click reloaded the page"
        views = reader.wait_all_settled()
        assert [v.get_attribute("data-state") for v in views.all()] == ["ready", "error"]
        assert views.nth(0).evaluate(CANVAS_INK) > 5
        page.get_by_role("link", name="Back").click()
        page.wait_for_url(test_site)
        assert page.evaluate("window.__sameDocument") == "kept"
        views = reader.wait_all_settled()
        assert [v.get_attribute("data-state") for v in views.all()] == first
        assert all(view.evaluate(CANVAS_INK) > 5 for view in views.all())
        assert [e for e in reader.errors if "schema_version" not in e] == []
    finally:
        reader.close()


def test_a_page_loads_only_its_views_scripts_and_fetches_others_after_instant_navigation(test_reader):
    """The first page shows attention views only: it loads the core and the attention script. A click to a page of
    other views swaps the content without a reload; the loader then fetches those views' scripts, once, and they
    draw."""
    reader, scripts = test_reader, []
    page = reader.page
    page.on("request", lambda req: "/assets/explorables/js/" in req.url and scripts.append(req.url.rsplit("/", 1)[1]))
    reader.open("")
    first = [v.get_attribute("data-state") for v in reader.wait_all_settled().all()]
    assert first == ["ready", "ready"], "the head and model views"
    assert sorted(scripts) == ["explorables-attention.iife.js", "explorables.iife.js"]
    page.evaluate("window.__sameDocument = 'kept'")
    page.get_by_role("link", name="Open the other views").click()
    page.wait_for_url("**/other/")
    for tag in ("explorable-probabilities-view", "explorable-saliency-view"):
        page.wait_for_selector(f"{tag}.xp-view", state="attached")
    views = reader.wait_all_settled()
    assert [v.get_attribute("data-state") for v in views.all()] == ["ready", "ready"]
    assert page.evaluate("window.__sameDocument") == "kept", "the click reloaded the page"
    assert sorted(scripts[2:]) == ["explorables-lens.iife.js", "explorables-saliency.iife.js"]
    page.go_back()
    page.wait_for_url(reader.base)
    assert [v.get_attribute("data-state") for v in reader.wait_all_settled().all()] == first
    assert len(scripts) == 4, "nothing fetched twice"
    assert reader.errors == [] and reader.foreign == []


VISIBLE_LABELS = """el => [...el.querySelectorAll('.xp-col.xp-q .xp-tok')].map(t => {
  const r = t.getBoundingClientRect();
  return {text: t.innerText, title: t.title, cls: t.className, width: r.width};
})"""


@pytest.mark.parametrize("width", [1280, 390])
def test_every_token_has_a_visible_label(browser, test_site, width):
    """Zero-width and format characters show a mark and are named in the hover; an unknown character ([UNK]
    to the model) shows the text it stands for and stays when special tokens are hidden."""
    reader = Reader(browser, test_site, viewport={"width": width, "height": 900}, is_mobile=width < 500)
    try:
        page = reader.open("tokens/")
        views = reader.wait_all_settled()
        assert [v.get_attribute("data-state") for v in views.all()] == ["ready", "ready"]
        labels = views.nth(0).evaluate(VISIBLE_LABELS)
        invisible = re.compile(r"^[\s\u200b-\u200f\u2060\ufeff\u0300-\u036f]*$")
        assert labels and all(not invisible.match(label["text"]) and label["width"] > 4 for label in labels), labels
        titles = " ".join(label["title"] for label in labels)
        for name in ("U+200B ZERO WIDTH SPACE", "U+200C ZERO WIDTH NON-JOINER", "U+200D ZERO WIDTH JOINER"):
            assert name in titles
        assert any("◌" in label["text"] for label in labels), "a lone combining accent sits on a dotted circle"

        pair = views.nth(1)
        unknown = [label for label in pair.evaluate(VISIBLE_LABELS) if "xp-unk" in label["cls"]]
        assert len(unknown) == 1 and "🍕" in unknown[0]["text"] and "xp-special" not in unknown[0]["cls"]
        assert "unknown token" in unknown[0]["title"]
        pair.get_by_label("hide special tokens").check()
        shown = [label["text"] for label in pair.evaluate(VISIBLE_LABELS)]
        assert any("🍕" in text for text in shown) and not any("[CLS]" in text or "[SEP]" in text for text in shown)
        assert reader.errors == [] and reader.foreign == []
    finally:
        reader.close()


def test_unreadable_payload_shows_an_inline_message(test_reader):
    reader = test_reader
    page = reader.open("second/")
    reader.wait_all_settled()
    broken = page.locator("explorable-head-view")
    assert broken.get_attribute("data-state") == "error"
    message = broken.inner_text()
    assert "could not" in message.lower() and "schema" in message.lower()


def test_spec_text_with_markup_is_shown_and_never_run(test_reader):
    reader = test_reader
    page = reader.open("")
    reader.wait_all_settled()
    assert page.evaluate("window.pwned") is None
    tokens = page.locator("explorable-head-view").inner_text().replace("\n", "")
    assert "<script>window.pwned" in tokens, "the markup is shown as text, token by token"
    assert "<img src=x" in page.locator(".explorable-title").inner_text()
    assert page.locator(".explorable img, explorable-head-view script").count() == 0


def test_palette_toggle_recolours_the_canvases(test_reader):
    reader = test_reader
    page = reader.open("second/")
    reader.wait_all_settled()
    view = page.locator("explorable-model-view")
    sample = "el => Array.from(el.querySelector('canvas').getContext('2d').getImageData(0, 0, 40, 40).data).join()"
    light = view.evaluate(sample)
    assert page.evaluate("document.body.dataset.mdColorScheme") == "default"
    page.locator("label.md-header__button[for^='__palette']").first.click()
    page.wait_for_function("document.body.dataset.mdColorScheme === 'slate'")
    next_frame(page)          # the palette change reaches the view at once; it redraws in the next frame
    assert view.evaluate(sample) != light


def test_phone_width_has_no_page_overflow(browser, real_site):
    reader = Reader(browser, real_site, viewport={"width": 375, "height": 800}, is_mobile=True, has_touch=True)
    try:
        page = reader.open("attention/")
        reader.wait_all_settled()
        overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 1
        assert reader.errors == []
    finally:
        reader.close()


def test_model_view_hides_special_tokens_and_renormalises_rows(reader):
    """With the switch on, the enlarged head shows only ordinary tokens and the readout equals the baked row
    restricted to them and renormalised (computed here with numpy from the decoded payload)."""
    import json

    from generator.bake import Baker
    from generator.payload import decode_array
    from generator.spec import Catalogue

    payload = json.loads(Baker(REPO / ".cache" / "explorables", base_dir=REPO).payload(
        Catalogue.load(REPO / "explorables").specs["animal-it-minilm"]))
    weights = decode_array(payload["attention"]["values"])
    texts = [t["text"] for t in payload["tokens"]]
    shown = [i for i, t in enumerate(payload["tokens"]) if not t["special"]]
    assert len(shown) < len(texts)
    it, animal = texts.index(" it"), texts.index(" animal")
    row = weights[3, 1, it, shown]
    expected = row[shown.index(animal)] / row.sum()
    assert abs(expected - weights[3, 1, it, animal]) > 0.01, "hiding must make a visible difference here"

    page = reader.open("attention/")
    view = page.locator("explorable-model-view").filter(has=page.locator("input[type=checkbox]")).first
    view.scroll_into_view_if_needed()
    page.wait_for_function("el => el.dataset.state === 'ready'", arg=view.element_handle())
    view.locator("input[type=checkbox]").check()
    assert "renormalised" in view.locator(".xp-note").inner_text()
    view.locator("canvas.xp-grid").focus()
    for key in ["ArrowDown"] * 3 + ["ArrowRight", "Enter"]:
        page.keyboard.press(key)
    assert view.locator(".xp-drows > *").count() == len(shown)
    for key in ["ArrowDown"] * shown.index(it) + ["ArrowRight"] * shown.index(animal):
        page.keyboard.press(key)
    readout = view.locator(".xp-detail .xp-readout").inner_text()
    assert readout.startswith("L3 H1:") and "it → " in readout and "animal" in readout
    assert float(readout.split()[-1]) == pytest.approx(expected, abs=0.0015)
    assert reader.errors == []


def test_save_png_exports_the_heatmaps_as_drawn(reader, tmp_path):
    """The model view's "save PNG" gives a file named after the explorable whose pixels, where the grid canvas sits,
    are the canvas's own pixels (drawn at 2x without smoothing), with two lines (title, caption) above them and two
    (colour key, model) below."""
    from PIL import Image

    page = reader.open("attention/")
    view = page.locator("explorable-model-view").first
    view.scroll_into_view_if_needed()
    page.wait_for_function("el => el.dataset.state === 'ready'", arg=view.element_handle())
    with page.expect_download() as download:
        view.get_by_role("button", name="save PNG").first.click()
    assert download.value.suggested_filename == "animal-it-minilm-all-heads.png"
    path = tmp_path / "grid.png"
    download.value.save_as(path)
    image = Image.open(path).convert("RGB")

    layout = view.evaluate("""el => {
      const grid = el.querySelector('.xp-mv').getBoundingClientRect(), cv = el.querySelector('canvas.xp-grid');
      const r = cv.getBoundingClientRect(), ctx = cv.getContext('2d'), size = parseFloat(getComputedStyle(el).fontSize);
      const samples = [];
      for (let i = 0; i < 200; i++) {
        const x = (i * 37) % cv.width, y = (i * 53) % cv.height, d = ctx.getImageData(x, y, 1, 1).data;
        if (d[3] === 255) samples.push([x, y, d[0], d[1], d[2]]);  // not the transparent gaps between heads
      }
      return { w: grid.width, h: grid.height, dx: r.left - grid.left, dy: r.top - grid.top,
               line: Math.ceil(size * 1.8), samples };
    }""")
    pad, scale = 8, 2
    layout["top"] = 2 * layout["line"]
    expected = ((layout["w"] + 2 * pad) * scale, (layout["h"] + 4 * layout["line"] + 2 * pad) * scale)
    assert abs(image.size[1] - expected[1]) <= 1 and image.size[0] >= expected[0] - 1, (image.size, expected)
    differences = []
    for x, y, *rgb in layout["samples"]:
        px = round((pad + layout["dx"] + x + 0.5) * scale)
        py = round((pad + layout["top"] + layout["dy"] + y + 0.5) * scale)
        differences.append(max(abs(a - b) for a, b in zip(image.getpixel((px, py)), rgb)))
    assert max(differences) <= 2, "the exported heatmaps are the drawn ones"
    assert len(layout["samples"]) > 100 and len({tuple(s[2:]) for s in layout["samples"]}) > 10, "a real heatmap"
    caption = image.crop((0, 0, image.width // 2, (pad + layout["top"]) * scale))
    assert caption.convert("L").getextrema()[0] < 70, "the title and caption are written above the grid"
    assert reader.errors == []
