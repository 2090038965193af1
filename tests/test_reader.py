"""What a reader meets on the project's own site, in headless Chromium at 1280 px and at 390 px (a phone): every head
and every token of the attention views can be reached, and the reader can see that a figure scrolls; head toggles are
one Tab stop; the saliency toolbar stays on one line on a wide screen; its "top" list tells repeated tokens apart;
generated tokens have a key; a saved PNG carries its title, model, colour scale and, for the head view, its heads."""

from __future__ import annotations

import io

import pytest
from conftest import Reader, next_frame, ready

pytestmark = [pytest.mark.browser, pytest.mark.slow]

WIDTHS = {"wide": dict(viewport={"width": 1280, "height": 900}),
          "phone": dict(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)}


@pytest.fixture(params=list(WIDTHS))
def reader(request, browser, real_site):
    reader = Reader(browser, real_site, **WIDTHS[request.param])
    reader.width = request.param
    yield reader
    reader.close()
    assert reader.errors == [] and reader.foreign == []


# Where each item of a scrolling figure is: in sight inside its scrolling box, or out of sight on a side that the
# box marks and shades (data-more, and its ::before / ::after drawn, opacity 1).
SIGHT = """(el, selector) => [...el.querySelectorAll(selector)].map(item => {
  const wrap = item.closest('.xp-sw'), box = wrap && wrap.firstElementChild;
  if (!box) return {text: item.textContent, box: false};
  const r = item.getBoundingClientRect(), b = box.getBoundingClientRect();
  const shaded = side => (wrap.dataset.more || '').split(' ').includes(side) &&
    getComputedStyle(wrap, side === 'left' ? '::before' : '::after').opacity === '1';
  const left = r.left < b.left - 0.5, right = r.right > b.right + 0.5;
  return {text: item.textContent, box: true, left, right, leftShaded: shaded('left'), rightShaded: shaded('right'),
          scrollable: box.scrollWidth > box.clientWidth, inSight: !left && !right};
})"""


def assert_reachable(view, selector: str, what: str) -> list[dict]:
    items = view.evaluate(SIGHT, selector)
    assert items, f"no {what} found"
    for item in items:
        assert item["box"], f"{what} {item['text']!r} is not inside a scrolling box"
        if item["left"]:
            assert item["scrollable"] and item["leftShaded"], f"{what} {item['text']!r} is cut off on the left, unmarked"
        if item["right"]:
            assert item["scrollable"] and item["rightShaded"], f"{what} {item['text']!r} is cut off on the right, unmarked"
    return items


def scroll_to_end(view, selector: str) -> None:
    view.evaluate("(el, s) => el.querySelectorAll(s).forEach(b => b.scrollLeft = b.scrollWidth)", selector)
    next_frame(view.page)     # scroll events, and the shading they set, come before the next frame


def settled(reader, path: str):
    page = reader.open(path)
    reader.wait_all_settled()
    next_frame(page)
    return page


# -- 9: every head and every token reachable, visibly ------------------------------------------------------------

def test_every_head_and_token_of_the_attention_views_is_in_sight_or_marked(reader):
    page = settled(reader, "attention/")
    assert page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth") <= 1
    models = page.locator("explorable-model-view")
    assert models.count() == 6   # the attention article's blocks with a model view
    for index in range(models.count()):
        view = models.nth(index)
        heads = assert_reachable(view, ".xp-cols > span", "head")
        # the column labels stand over the heads: the last one ends where the grid canvas ends
        edges = view.evaluate("""el => [el.querySelector('.xp-cols').lastElementChild.getBoundingClientRect().right,
                                         el.querySelector('canvas.xp-grid').getBoundingClientRect().right]""")
        assert abs(edges[0] - edges[1]) <= 1
        if reader.width == "wide":
            assert all(h["inSight"] for h in heads), "on a wide screen the whole grid is in sight"
        scroll_to_end(view, ".xp-mv")
        scroll_to_end(view, ".xp-sw > .xp-scroll")
        assert view.evaluate(SIGHT, ".xp-cols > span")[-1]["inSight"], "the last head can be scrolled to"

        view.locator("canvas.xp-grid").focus()
        for key in ["End", "Enter"]:   # the last head of layer 0, enlarged
            page.keyboard.press(key)
        next_frame(page)
        for axis in (".xp-dcols .xp-tok", ".xp-drows .xp-tok"):
            tokens = assert_reachable(view, axis, "token of the enlarged head")
            view.evaluate("el => el.querySelector('.xp-detail .xp-scroll').scrollLeft = 1e6")
            next_frame(page)
            last = view.evaluate(SIGHT, axis)[-1]
            assert not last["right"], "the enlarged head's last token can be scrolled to"
            view.evaluate("el => el.querySelector('.xp-detail .xp-scroll').scrollLeft = 0")
            next_frame(page)
            assert len(tokens) == view.locator(axis).count()
        page.keyboard.press("Escape")

    heads = page.locator("explorable-head-view")
    for index in range(heads.count()):
        assert_reachable(heads.nth(index), ".xp-hv .xp-tok", "token of the head view")


def test_the_sentence_pair_grid_shows_all_twelve_heads_at_1280_px(browser, real_site):
    """The reported case: at 1280 px heads 10 and 11 of the pair example were cut off without a sign."""
    reader = Reader(browser, real_site, **WIDTHS["wide"])
    try:
        page = settled(reader, "attention/")
        view = page.locator(".explorable[data-explorable-id=question-context] explorable-model-view")
        heads = view.evaluate(SIGHT, ".xp-cols > span")
        assert len(heads) == 12 and all(h["inSight"] for h in heads)
        assert reader.errors == []
    finally:
        reader.close()


# -- 11: keyboard, toolbar, readout, key -----------------------------------------------------------------------

def tabs_to_tokens(page, start, view) -> int:
    """Tab presses from `start` until the focus is on a token of `view` (at most 40)."""
    start.focus()
    for count in range(1, 41):
        page.keyboard.press("Tab")
        if view.evaluate("el => !!document.activeElement.closest('.xp-tok') && el.contains(document.activeElement)"):
            return count
    return 99


def test_head_toggles_are_one_tab_stop_moved_by_arrow_keys(reader):
    page = settled(reader, "attention/")
    view = page.locator(".explorable[data-explorable-id=question-context] explorable-head-view")
    controls = view.locator(".xp-bar").evaluate(
        "bar => [...bar.querySelectorAll('select, input, button')].filter(e => e.tabIndex >= 0).length")
    # layer, the head toolbar, sentences, hide special tokens, save PNG: 5 stops, then the first token
    assert controls == 5
    assert tabs_to_tokens(page, view.locator("select").first, view) == 5
    toggles = view.locator(".xp-head")
    assert toggles.count() == 12
    toggles.first.focus()
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    assert toggles.nth(2).evaluate("b => b === document.activeElement")
    page.keyboard.press("Space")
    next_frame(page)
    assert toggles.nth(2).get_attribute("aria-pressed") == "false", "Space toggles the focused head"
    page.keyboard.press("End")
    assert view.evaluate("el => document.activeElement.textContent") == "none"
    assert view.locator(".xp-heads button[tabindex='0']").count() == 1, "one stop in the toolbar: the focused one"


def test_the_saliency_toolbar_is_one_line_at_1280_px(reader):
    page = settled(reader, "saliency/")
    bars = page.locator("explorable-saliency-view > .xp-bar")
    assert bars.count() >= 5
    for index in range(bars.count()):
        bar = bars.nth(index)
        rows = bar.evaluate("""bar => {
          const tops = [...bar.children].filter(c => c.offsetWidth).map(c => Math.round(c.getBoundingClientRect().top));
          return {tops, height: bar.getBoundingClientRect().height,
                  line: bar.querySelector('button').getBoundingClientRect().height};
        }""")
        if reader.width == "wide":
            assert max(rows["tops"]) - min(rows["tops"]) <= 4, rows
            assert rows["height"] <= rows["line"] + 6, rows
        assert bar.evaluate("b => b.scrollWidth <= b.clientWidth + 1"), "nothing sticks out of the toolbar"


def test_the_top_list_tells_repeated_tokens_apart(reader):
    page = settled(reader, "saliency/")
    readouts = page.locator("explorable-saliency-view .xp-readout")
    checked = repeated = 0
    for index in range(readouts.count()):
        text = readouts.nth(index).inner_text()
        items = [item.strip() for item in text.split("top:")[1].split("),")]
        tokens = [item.split("”")[0] + "”" for item in items]
        assert len(set(items)) == len(items), items
        for item in items:
            assert "token " in item, f"no position in {item!r}"
        checked += 1
        repeated += len(set(tokens)) < len(tokens)
    assert checked >= 5
    assert repeated >= 1, "the site has a readout whose top list holds one token text twice (the reported case)"


def test_generated_tokens_have_a_key(reader):
    page = settled(reader, "attention/")
    block = page.locator(".explorable[data-explorable-id=counting]")
    token = block.locator("explorable-head-view .xp-tok.xp-gen").first
    key = block.locator(".explorable-gen")
    assert key.is_visible() and "generated by the model" in key.inner_text()
    mark = key.locator(".xp-gen")
    assert mark.evaluate("e => getComputedStyle(e).boxShadow") == token.evaluate("e => getComputedStyle(e).boxShadow")
    assert page.locator(".explorable[data-explorable-id=animal-it-minilm] .explorable-gen").count() == 0, \
        "no key where nothing is generated"


# -- 12: a saved PNG carries its context ---------------------------------------------------------------------------

# Records the text drawn on every canvas, so that a test can read what the exported image says.
RECORD_TEXT = """() => {
  window.drawnText = [];
  const fill = CanvasRenderingContext2D.prototype.fillText;
  CanvasRenderingContext2D.prototype.fillText = function (text, ...rest) {
    window.drawnText.push(String(text));
    return fill.call(this, text, ...rest);
  };
}"""


def save_png(page, button, tmp_path, name):
    from PIL import Image
    page.evaluate(RECORD_TEXT)
    with page.expect_download() as download:
        button.click()
    path = tmp_path / name
    download.value.save_as(path)
    drawn = " ".join(page.evaluate("window.drawnText"))
    return Image.open(io.BytesIO(path.read_bytes())).convert("RGB"), drawn


def rgb(css: str) -> tuple[int, ...]:
    """A CSS rgb() / rgba() colour as drawn on white."""
    values = [float(x) for x in css[css.index("(") + 1:css.index(")")].split(",")]
    alpha = values[3] if len(values) > 3 else 1.0
    return tuple(round(c * alpha + 255 * (1 - alpha)) for c in values[:3])


def has_colour(image, colour, box, tolerance=6) -> bool:
    import numpy as np
    region = np.asarray(image.crop(box)).astype(int)
    return bool((np.abs(region - np.array(colour)).max(axis=2) <= tolerance).any())


def test_saved_pngs_carry_title_model_and_colour_scale(browser, real_site, tmp_path):
    reader = Reader(browser, real_site, **WIDTHS["wide"])
    try:
        page = settled(reader, "attention/")
        block = page.locator(".explorable[data-explorable-id=question-context]")
        title = block.locator(".explorable-title").inner_text()
        model = block.locator(".explorable-model").inner_text().removeprefix("Model: ").rstrip(".")
        # the key lines under the figure: two lines of 1.8 em and the padding, at 2x
        line = block.locator(".xp-mv").evaluate("e => Math.ceil(parseFloat(getComputedStyle(e).fontSize) * 1.8)")
        keys = (2 * line + 8) * 2

        # the model view's grid: title, model, and the weight scale drawn as on the page
        view = block.locator("explorable-model-view")
        image, drawn = save_png(page, view.get_by_role("button", name="save PNG").first, tmp_path, "grid.png")
        assert title in drawn and f"Model: {model}" in drawn and "attention weight 0" in drawn
        ramp = view.locator(".xp-ramp")
        ramp_png = ramp.screenshot()
        from PIL import Image
        ramp_image = Image.open(io.BytesIO(ramp_png)).convert("RGB")
        strongest = ramp_image.getpixel((ramp_image.width - 3, ramp_image.height // 2))
        bottom = (0, image.height - keys, image.width, image.height)
        assert has_colour(image, strongest, bottom, tolerance=10), "the colour scale's strong end is in the PNG"
        ink = rgb(view.evaluate("e => getComputedStyle(e).color"))
        last = (0, image.height - (line + 8) * 2, image.width // 2, image.height)
        assert has_colour(image, ink, last, tolerance=30), "the model line is written in the text colour"

        # the head view with heads 0 and 2 only: the caption names them, the key shows their colours, not head 1's
        heads = block.locator("explorable-head-view")
        heads.get_by_role("button", name="none").click()
        for i in (0, 2):
            heads.locator(".xp-head").nth(i).click()
        next_frame(page)
        colours = [rgb(heads.locator(".xp-head").nth(i).evaluate("b => getComputedStyle(b).borderTopColor"))
                   for i in range(3)]
        image, drawn = save_png(page, heads.get_by_role("button", name="save PNG"), tmp_path, "heads.png")
        assert "heads 0, 2 of 12" in drawn and title in drawn and f"Model: {model}" in drawn
        bottom = (0, image.height - keys, image.width, image.height)
        assert has_colour(image, colours[0], bottom, 2) and has_colour(image, colours[2], bottom, 2)
        assert not has_colour(image, colours[1], bottom, 2), "head 1 is not shown, so not in the key"
        heads.get_by_role("button", name="none").click()
        heads.locator(".xp-head").nth(1).click()
        next_frame(page)
        _, drawn = save_png(page, heads.get_by_role("button", name="save PNG"), tmp_path, "head.png")
        assert "head 1 of 12" in drawn and "heads" not in drawn.split("head 1 of 12")[0].rsplit(",", 1)[-1]
        assert reader.errors == []
    finally:
        reader.close()


def test_a_saved_saliency_png_says_what_is_explained(browser, real_site, tmp_path):
    reader = Reader(browser, real_site, **WIDTHS["wide"])
    try:
        page = settled(reader, "saliency/")
        block = page.locator(".explorable[data-explorable-id=counting-saliency]")
        view = block.locator("explorable-saliency-view")
        image, drawn = save_png(page, view.get_by_role("button", name="save PNG"), tmp_path, "saliency.png")
        assert block.locator(".explorable-title").inner_text() in drawn
        assert "Model: SmolLM2-135M-Instruct" in drawn and "generated token 1 of" in drawn
        assert "generated by the model" in drawn, "the key to the underline of generated tokens"
        mark = view.locator(".xp-gen").first.evaluate("e => getComputedStyle(e).boxShadow")
        green = rgb(mark)
        tokens = (0, 0, image.width, image.height - 200)   # above the key lines
        assert has_colour(image, green, tokens, tolerance=2), "generated tokens are underlined in the image too"
        assert reader.errors == []
    finally:
        reader.close()
