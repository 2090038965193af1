"""Figures as a reader, and a paper's author, get them (issue 21, points 9 and 10), in headless Chromium at a desktop
(1280 px) and a phone (390 px) width, on a small site baked from tiny models that shows every view:

- toolbars keep "save PNG" and "save SVG" together on one line (at 1280 px on the toolbar's first line);
- the lens prediction grid opens on the last prompt position and the generated ones, which a phone shows;
- block titles look like titles; the dashed underline of partial tokens (an emoji's byte pieces) has a key;
- the drawing that both exports share (figure.js `describe`, loaded on the first click) never writes one text over
  another, and the lens figure carries its colour scale and the key to its bold cells;
- "save SVG" of every view downloads an SVG that Python's XML parser reads: text as <text>, the block's title, the
  model line, sane dimensions; Chromium renders it to a non-blank image.

Set FIGURE_SHOTS=folder to keep screenshots of every view at both widths (and the rendered SVGs) for a look."""

from __future__ import annotations

import os
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from conftest import build_site, next_frame, write_test_site_config
from conftest import ready as ready_within

pytestmark = [pytest.mark.browser, pytest.mark.slow]
WIDTHS = [1280, 390]
SVG = "{http://www.w3.org/2000/svg}"
VIEWS = ["explorable-head-view", "explorable-model-view", "explorable-neuron-view", "explorable-saliency-view",
         "explorable-factor-view", "explorable-layers-view", "explorable-ranks-view", "explorable-probabilities-view",
         "explorable-explanations-view"]
LONG = ("The countries of the European Union are: 1. Austria 2. Belgium 3. Bulgaria 4. Croatia 5. Cyprus "
        "6. Czechia 7.")


@pytest.fixture(scope="module")
def site(tmp_path_factory, tiny_models, serve):
    root = tmp_path_factory.mktemp("figures-site")
    (root / "docs").mkdir()
    (root / "docs" / "index.md").write_text(textwrap.dedent("""\
        # Figures

        ```explorable
        id: fig-attention
        title: Attention of a tiny model on pizza
        model: {gpt2}
        text: "I love pizza 🍕 so much"
        views: [head, model, neuron]
        ```

        ```explorable
        id: fig-saliency
        title: Saliency of a tiny model
        model: {gpt2}
        text: "I love pizza 🍕 and the cat sat on the mat because it was"
        generate: 2
        views: [saliency, factors]
        ```

        ```explorable
        id: fig-lens
        title: A long list, read layer by layer
        model: {gpt2}
        text: "{LONG}"
        generate: 3
        views: [layers, ranks, probabilities]
        ```

        ```explorable
        id: fig-explain
        title: Explanations compared on an emoji
        model: {llama}
        text: "My sister 🍕 lost her keys, so I"
        generate: 2
        views: [explanations]
        explanations: {{ig_steps: 4, random_orders: 2}}
        ```
        """).format(LONG=LONG, **tiny_models), encoding="utf-8")
    url = serve(root / "site")
    write_test_site_config(root, "Figures test site", site_url=url)
    build_site(root / "mkdocs.yml", root / "site")
    return url


def ready(page, view):
    return ready_within(page, view, timeout=30000)


def settle(open_page, width: int):
    page = open_page(viewport={"width": width, "height": 900})
    for tag in VIEWS:
        view = page.locator(tag).first
        assert ready(page, view) == "ready", tag
    next_frame(page)
    return page


def shots() -> Path | None:
    folder = os.environ.get("FIGURE_SHOTS")
    return Path(folder) if folder else None


def box(locator) -> dict:
    return locator.evaluate("e => { const r = e.getBoundingClientRect(); return {x: r.left, y: r.top, w: r.width, h: r.height}; }")


# -- toolbars -----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("width", WIDTHS)
def test_save_buttons_stay_together_and_on_the_first_line_at_desktop_width(open_page, width):
    page = settle(open_page, width)
    for tag in VIEWS:
        view = page.locator(tag).first
        save = view.locator(".xp-save").first
        png, svg = save.get_by_role("button", name="save PNG"), save.get_by_role("button", name="save SVG")
        a, b, v = box(png), box(svg), box(view)
        assert abs(a["y"] - b["y"]) < 1 and b["x"] > a["x"] + a["w"] - 1, f"{tag}: the two buttons side by side"
        assert a["h"] < 30 and b["h"] < 30, f"{tag}: a button's label does not wrap"
        assert b["x"] + b["w"] <= v["x"] + v["w"] + 1, f"{tag}: the buttons are within the view"
        if width == 1280 and tag in ("explorable-saliency-view", "explorable-explanations-view"):
            bar = view.locator(".xp-bar").first
            first = box(bar.locator(":scope > *").first)
            assert a["y"] < first["y"] + first["h"], f"{tag}: 'save PNG' is on the toolbar's first line"
    if shots():
        shots().mkdir(parents=True, exist_ok=True)
        for tag in VIEWS:
            page.locator(tag).first.screenshot(path=shots() / f"{tag}-{width}.png")


# -- the lens grid on a phone ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("width", WIDTHS)
def test_the_prediction_grid_opens_on_the_positions_its_caption_is_about(open_page, width):
    page = settle(open_page, width)
    view = page.locator("explorable-layers-view").first
    n_prompt = view.evaluate("e => JSON.parse(e.closest('.explorable').dataset.payload).n_prompt")
    heads = view.locator(".xp-lcols").first.locator(".xp-lcol")
    scroller = box(view.locator(".xp-scroll").first)
    labels = box(view.locator(".xp-lrows").first)
    visible = (labels["x"] + labels["w"] - 1, scroller["x"] + scroller["w"] + 1)
    for index in (n_prompt - 1, heads.count() - 1):     # the last prompt position and the last generated one
        col = box(heads.nth(index))
        assert visible[0] <= col["x"] and col["x"] + col["w"] <= visible[1], (width, index, col, visible)
    painted = view.locator("canvas.xp-lcanvas").evaluate("""c => {
      const col = document.querySelectorAll('explorable-layers-view .xp-lcols')[0].children, r = c.getBoundingClientRect();
      const last = col[col.length - 1].getBoundingClientRect(), dpr = c.width / r.width;
      const d = c.getContext('2d').getImageData(Math.floor((last.left - r.left) * dpr), 0, Math.floor(last.width * dpr), c.height).data;
      return d.some(v => v);
    }""")
    assert painted, "the columns in view are painted"
    if width == 390:
        assert view.evaluate("e => e.querySelector('.xp-scroll').scrollLeft") > 0
        assert "scroll left" in view.locator(".xp-lout").inner_text()


# -- titles and keys ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("width", WIDTHS)
def test_titles_look_like_titles_and_partial_tokens_have_a_key(open_page, width):
    page = settle(open_page, width)
    title = page.locator(".explorable[data-explorable-id=fig-explain] .explorable-title")
    body = page.locator(".explorable[data-explorable-id=fig-explain] .explorable-caption")
    style = title.evaluate("e => { const s = getComputedStyle(e); return [parseFloat(s.fontSize), +s.fontWeight]; }")
    text_size = body.evaluate("e => parseFloat(getComputedStyle(e).fontSize)")
    assert style[1] >= 700 and style[0] > text_size, (style, text_size)
    t, v = box(title), box(page.locator("explorable-explanations-view").first)
    assert t["y"] + t["h"] <= v["y"] and t["w"] <= width, "the title sits above its figure, within the page"
    for block in ("fig-attention", "fig-explain"):
        key = page.locator(f".explorable[data-explorable-id={block}] .explorable-part")
        assert key.count() == 1 and "bytes" in key.inner_text()
        k = box(key)
        assert k["w"] > 0 and k["x"] + k["w"] <= width + 1, "the key is shown, within the page"
    cell = page.locator("explorable-explanations-view .xp-erow[data-m='0'] .xp-partial").first
    assert "bytes" in cell.get_attribute("title"), "a partial token's own hover text says what it is"
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


# -- the shared drawing of both exports ------------------------------------------------------------------------------

DESCRIBE = """async (el, what) => {
  const ex = await globalThis.explorables.modules["export.js"].figure();   // the drawing code, loaded on demand
  const d = ex.describe(el, what || {});
  const ctx = document.createElement("canvas").getContext("2d"), texts = [], all = [];
  // texts as boxes (the canvas's measure), cut to the clip they are drawn in
  const walk = (shapes, c) => shapes.forEach((s) => {
    all.push(s.k);
    if (s.k === "clip") {
      const x = Math.max(c[0], s.x), y = Math.max(c[1], s.y);
      return walk(s.kids, [x, y, Math.min(c[2], s.x + s.w), Math.min(c[3], s.y + s.h)]);
    }
    if (s.k !== "text" || s.up) return;
    ctx.font = s.font;
    const m = ctx.measureText(s.s), h = m.fontBoundingBoxAscent + m.fontBoundingBoxDescent;
    const x = Math.max(c[0], s.x), y = Math.max(c[1], s.y - h / 2);
    const w = Math.min(c[2], s.x + m.width) - x, hh = Math.min(c[3], s.y + h / 2) - y;
    if (w > 0 && hh > 0) texts.push({ s: s.s, x, y, w, h: hh, font: s.font });
  });
  walk(d.shapes, [-1e9, -1e9, 1e9, 1e9]);
  return { w: d.w, h: d.h, texts, kinds: all };
}"""


def overlaps(texts: list[dict]) -> list[tuple[str, str]]:
    """Pairs of texts whose boxes overlap by more than a pixel each way (the canvas's own measure of each text)."""
    out = []
    for i, a in enumerate(texts):
        for b in texts[i + 1:]:
            dx = min(a["x"] + a["w"], b["x"] + b["w"]) - max(a["x"], b["x"])
            dy = min(a["y"] + a["h"], b["y"] + b["h"]) - max(a["y"], b["y"])
            if dx > 1 and dy > 2:
                out.append((a["s"], b["s"]))
    return out


@pytest.mark.parametrize("width", WIDTHS)
def test_the_explanations_figure_writes_no_text_over_another(open_page, width):
    page = settle(open_page, width)
    view = page.locator("explorable-explanations-view").first
    drawn = view.evaluate(DESCRIBE)
    names = [t for t in drawn["texts"] if t["s"] in ("value-weighted", "value-", "weighted", "grad × input")]
    assert any(t["s"].startswith("value") for t in names) and any(t["s"] == "grad × input" for t in names)
    assert overlaps(drawn["texts"]) == []
    # the method names sit left of the first token cell of their row
    cells = view.evaluate("""e => [...e.querySelectorAll('.xp-erow:not(.xp-ehead):not(.xp-erand)')].map(r => {
      const n = r.querySelector('.xp-ename').getBoundingClientRect(), t = r.querySelector('.xp-tok').getBoundingClientRect();
      return [n.right, n.top, n.bottom, t.left, t.top, t.bottom]; })""")
    for name_right, name_top, name_bottom, tok_left, tok_top, tok_bottom in cells:
        same_line = min(name_bottom, tok_bottom) - max(name_top, tok_top) > 1
        assert not same_line or name_right <= tok_left + 1, "a method's name ends before its row's cells"


@pytest.mark.parametrize("width", WIDTHS)
def test_the_lens_figure_carries_its_colour_scale_and_the_key_to_bold_cells(open_page, width):
    page = settle(open_page, width)
    view = page.locator("explorable-layers-view").first
    grid = view.locator(".xp-lgrid2")
    height = box(grid)["h"]
    drawn = grid.evaluate(DESCRIBE, {"title": "T", "caption": "C", "keys": [["probability of the top token 0 ", {
        "fill": view.locator(".xp-lramp").evaluate("e => getComputedStyle(e).backgroundImage"), "w": 72}, " 100%   ",
        {"s": "bold", "b": 1}, ": the model's final prediction there"]], "model": "M"})
    assert "grad" in drawn["kinds"], "the colour scale is drawn"
    below = [t for t in drawn["texts"] if t["y"] > height]
    bold = [t for t in below if t["s"] == "bold"]
    assert bold and bold[0]["font"].startswith("bold"), "the key to bold cells, in bold"
    assert any("final prediction" in t["s"] for t in below) and any(t["s"] == "Model: M" for t in below)
    assert overlaps(drawn["texts"]) == []
    # and the button passes that key: the PNG's text, recorded as drawn
    page.evaluate("""() => { window.drawnText = []; const f = CanvasRenderingContext2D.prototype.fillText;
      CanvasRenderingContext2D.prototype.fillText = function (t, ...r) { window.drawnText.push(String(t)); return f.call(this, t, ...r); }; }""")
    with page.expect_download():
        view.get_by_role("button", name="save PNG").click()
    text = " ".join(page.evaluate("window.drawnText"))
    assert "probability of the top token 0" in text and "bold" in text and "A long list, read layer by layer" in text


# -- vector export ---------------------------------------------------------------------------------------------------

def save_svg(page, view, folder: Path, name: str) -> Path:
    with page.expect_download() as download:
        view.get_by_role("button", name="save SVG").first.click()
    assert download.value.suggested_filename.endswith(".svg")
    path = folder / name
    download.value.save_as(path)
    return path


@pytest.mark.parametrize("width", WIDTHS)
def test_every_view_saves_an_svg_with_text_as_text(open_page, width, tmp_path):
    from PIL import Image
    import io

    page = settle(open_page, width)
    for tag in VIEWS:
        view = page.locator(tag).first
        block = view.locator("xpath=ancestor::div[contains(@class, 'explorable')]").first
        title = block.locator(".explorable-title").inner_text()
        model = block.locator(".explorable-model").inner_text().removeprefix("Model: ").rstrip(".")
        path = save_svg(page, view, tmp_path, f"{tag}.svg")
        root = ET.parse(path).getroot()
        assert root.tag == f"{SVG}svg", tag
        w, h = float(root.get("width")), float(root.get("height"))
        assert 100 <= w <= 8000 and 60 <= h <= 8000, (tag, w, h)
        assert root.get("viewBox") == f"0 0 {root.get('width')} {root.get('height')}"
        texts = ["".join(t.itertext()) for t in root.iter(f"{SVG}text")]
        assert len(texts) >= 5, tag
        assert title in texts and f"Model: {model}" in texts, (tag, texts[:4], texts[-3:])
        for t in root.iter(f"{SVG}text"):
            assert t.get("font-size", "").endswith("px") and t.get("font-family"), "every text has its font"
        # every colour as rgb() (plus an opacity), which every SVG reader takes: a gradient stop of "none" is black
        for el in root.iter():
            for attr in ("fill", "stroke", "stop-color"):
                value = el.get(attr)
                assert value is None or value.startswith(("rgb(", "url(#")) or (value == "none" and attr != "stop-color"), (tag, attr, value)
        # what the view drew on canvases comes as PNG images inside the file (nothing linked from elsewhere)
        images = [i.get("{http://www.w3.org/1999/xlink}href") for i in root.iter(f"{SVG}image")]
        if tag in ("explorable-head-view", "explorable-model-view", "explorable-layers-view"):
            assert images, f"{tag}: its canvas is in the file"
        assert all(i.startswith("data:image/png;base64,") for i in images), tag
        # Chromium renders the file: an image of the stated size with real content
        shot = page.context.new_page()
        try:
            shot.set_viewport_size({"width": int(w) + 20, "height": int(h) + 20})
            shot.goto(path.as_uri())
            png = shot.screenshot(clip={"x": 0, "y": 0, "width": int(w), "height": int(h)})
        finally:
            shot.close()
        image = Image.open(io.BytesIO(png)).convert("RGB")
        colours = image.getcolors(maxcolors=1 << 20)
        assert colours and len(colours) > 20, f"{tag}: the SVG renders to a real picture"
        dark = sum(n for n, c in colours if sum(c) < 300)
        assert dark > 200, f"{tag}: its text is drawn"
        if shots():
            shots().mkdir(parents=True, exist_ok=True)
            (shots() / f"{tag}-{width}.svg.png").write_bytes(png)


# -- the first token set aside (issue 21, point 5) ------------------------------------------------------------------

def test_the_first_token_can_be_set_aside_and_the_rest_read_at_their_own_scale(open_page):
    """With the first token set aside, each row's other tokens are shaded by their share over the largest of them,
    and hover reads their share of what is left; both computed here from the payload's decoded float32 shares."""
    import json

    import numpy as np

    from generator.payload import decode_array

    page = settle(open_page, 1280)
    view = page.locator("explorable-explanations-view").first
    payload = json.loads(view.evaluate("el => el.closest('.explorable').dataset.payload"))
    shares, n_prompt = decode_array(payload["explanations"]["shares"]), payload["n_prompt"]
    button = view.get_by_role("button", name="set first token aside")
    assert button.get_attribute("aria-pressed") == "false"
    button.click()
    next_frame(page)
    assert button.get_attribute("aria-pressed") == "true"
    assert "is set aside" in view.locator(".xp-easide").inner_text()
    for m in range(shares.shape[0]):
        row = shares[m, 0, :n_prompt]
        cells = view.locator(f".xp-erow[data-m='{m}'] .xp-tok")
        shown = cells.evaluate_all("ns => ns.filter(n => !n.hidden).map(n => [parseFloat(n.style.getPropertyValue('--w')) || 0, n.classList.contains('xp-aside')])")
        assert shown[0] == [0, True], "the first token is set aside"
        rest = row[1:]
        expected = rest / rest.max() if rest.max() > 0 else rest
        np.testing.assert_allclose([w for w, _ in shown[1:]], expected, atol=6e-4)
    i = int(np.argmax(shares[0, 0, 1:n_prompt])) + 1
    view.locator(".xp-erow[data-m='0'] .xp-tok").nth(i).hover()
    next_frame(page)
    part = shares[0, 0, i] / shares[0, 0, 1:n_prompt].sum()
    assert f"({100 * part:.1f}% of the rest)" in view.locator(".xp-readout").inner_text()
    button.click()
    next_frame(page)
    assert view.locator(".xp-aside").count() == 0
