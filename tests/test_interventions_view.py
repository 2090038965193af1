"""<explorable-knockout-view>, <explorable-editing-view> and <explorable-patching-view> in headless Chromium, on a
small site baked from tiny models: each cell shows the payload's number, the knockout grid and the head/model views
share the layer and head, keys move through the grid, the editing panel shows the baked distribution of the chosen
word and edit, the patching grids read out their cells, and payload text stays text."""

from __future__ import annotations

import textwrap

import pytest
from conftest import payload_of
from conftest import build_site, next_frame, write_test_site_config
from conftest import ready as ready_within

from generator.payload import decode_array

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def site(tmp_path_factory, tiny_models, serve):
    root = tmp_path_factory.mktemp("interventions-site")
    (root / "docs").mkdir()
    (root / "docs" / "index.md").write_text(textwrap.dedent("""\
        # Interventions

        ```explorable
        model: {llama}
        text: "The <b>cat</b> sat on the"
        generate: 1
        views: [knockout, head, model, editing, patching]
        interventions: {{contrast: "The <b>dog</b> sat on the", heads: [[1, 2]]}}
        ```

        ```explorable
        model: {bert}
        pair: [A man plays a guitar., Someone makes music.]
        views: [knockout]
        ```
        """).format(**tiny_models), encoding="utf-8")
    write_test_site_config(root, "Interventions view test site")
    build_site(root / "mkdocs.yml", root / "site")
    return serve(root / "site")


def ready(page, view):
    return ready_within(page, view, timeout=30000)



def test_the_knockout_grid_shows_the_payload_and_links_the_head_views(open_page):
    page = open_page()
    view = page.locator("explorable-knockout-view").first
    assert ready(page, view) == "ready"
    knockout = payload_of(view)["interventions"]["knockout"]
    cells = view.locator(".xp-kcell")
    assert cells.count() == 2 * (4 + 2)
    label = cells.nth(1 * 6 + 2).get_attribute("aria-label")
    change = knockout["heads"]["logprob"][1][2]
    assert "layer 1, head 2" in label and f"{abs(change):.3f}" in label
    cells.nth(1 * 6 + 2).click()
    head = page.locator("explorable-head-view").first
    assert ready(page, head) == "ready"
    next_frame(page)
    assert head.locator("select[aria-label=Layer]").input_value() == "1"
    # keys: from the picked cell one row up, Enter picks it; the model view's cursor follows
    cells.nth(1 * 6 + 2).focus()
    page.keyboard.press("ArrowUp")
    page.keyboard.press("Enter")
    next_frame(page)
    assert "xp-pin" in cells.nth(0 * 6 + 2).get_attribute("class")
    # a pair: one metric, the similarity
    pair = page.locator("explorable-knockout-view").nth(1)
    assert ready(page, pair) == "ready"
    assert "similarity" in pair.locator(".xp-kcell").first.get_attribute("aria-label")


def test_the_editing_panel_shows_the_baked_distribution_of_the_chosen_edit(open_page):
    page = open_page()
    view = page.locator("explorable-editing-view").first
    assert ready(page, view) == "ready"
    editing = payload_of(view)["interventions"]["editing"]
    words = view.locator(".xp-wtext .xp-tok")
    assert words.count() == len(editing["keys"])
    assert "<b>" in "".join(words.all_inner_texts())                            # text, never markup
    words.nth(2).click()
    view.locator(".xp-wfac button").nth(2).click()                               # the third factor (x2)
    next_frame(page)
    shown = view.locator(".xp-wcard").nth(1).locator(".xp-pp").all_inner_texts()[:editing["top_k"]]
    expected = [f"{100 * p:.1f}%" if p >= 0.0005 else "<0.1%" for p in editing["probs"][0][2][2]]
    assert shown == expected
    # the head chosen elsewhere selects its baked edit
    view.evaluate("el => el.selection.set({layer: 1, head: 2})")
    next_frame(page)
    assert view.locator("select").input_value() == "1"


def test_the_patching_grids_read_out_their_cells(open_page):
    page = open_page()
    view = page.locator("explorable-patching-view").first
    assert ready(page, view) == "ready"
    patching = payload_of(view)["interventions"]["patching"]
    restore = decode_array(patching["restore"])
    assert view.locator("canvas").count() == 3
    view.locator("canvas").first.focus()
    page.keyboard.press("ArrowLeft")
    text = view.locator(".xp-kread").inner_text()
    n = restore.shape[2]
    value = restore[0, restore.shape[1] - 1, n - 2]
    assert f"layer {restore.shape[1] - 1}, position {n - 2}" in text and f"{100 * value:.1f}%" in text
    assert "<b>" in view.locator(".xp-gpair").inner_text()


def test_every_patching_grid_is_reached_and_read_with_the_keyboard(open_page):
    """The attention-output and MLP-output grids were out of the Tab order (tabindex -1, and the arrows move inside
    one grid only), so a keyboard reader could read the residual grid alone (found by a fresh reader's trial). Each
    grid is a Tab stop; focusing one moves the cursor into it at the same cell, and Enter picks that grid's cell."""
    page = open_page()
    view = page.locator("explorable-patching-view").first
    assert ready(page, view) == "ready"
    restore = decode_array(payload_of(view)["interventions"]["patching"]["restore"])
    kinds, layers, n = restore.shape
    view.locator("canvas").first.focus()
    page.keyboard.press("ArrowDown")          # layer L-2, last position, in the residual grid
    for k, name in ((1, "attention output"), (2, "MLP output")):
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.dataset.k") == str(k)
        # the readout is written when the view repaints (the next animation frame)
        page.wait_for_function("([el, name]) => el.querySelector('.xp-kread').textContent.startsWith(name)",
                               arg=[view.element_handle(), name])
        text = view.locator(".xp-kread").inner_text()
        value = restore[k, layers - 2, n - 1]
        assert text.startswith(name) and f"layer {layers - 2}, position {n - 1}" in text, text
        assert f"{100 * value:.1f}%" in text, (text, value)
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("Enter")
    page.wait_for_function("([el, n]) => el.querySelector('.xp-kread').textContent.includes(`position ${n}`)",
                           arg=[view.element_handle(), int(n - 2)])
    text = view.locator(".xp-kread").inner_text()
    assert text.startswith("MLP output") and f"{100 * restore[2, layers - 2, n - 2]:.1f}%" in text, text
    page.keyboard.press("Shift+Tab")
    assert page.evaluate("document.activeElement.dataset.k") == "1"


def test_a_knockout_cell_with_keyboard_focus_shows_the_accent_ring(open_page):
    """Keyboard focus on a knockout cell was the hover's 1 px grey outline (rgba(0,0,0,.54) on a pale cell), where
    every other view shows a 2 px accent ring (found by a fresh reader's trial). The focused cell's outline must be
    the one a focused control of the same view has, and differ from the hover's."""
    page = open_page()
    view = page.locator("explorable-knockout-view").first
    assert ready(page, view) == "ready"
    outline = "el => { const s = getComputedStyle(el); return [s.outlineStyle, s.outlineWidth, s.outlineColor]; }"
    view.locator("select").first.focus()
    page.keyboard.press("Tab")                               # a button of the same view's toolbar
    button = page.evaluate(f"({outline})(document.activeElement)")
    assert page.evaluate("document.activeElement.localName") == "button"
    view.locator(".xp-kcell").nth(1).hover()
    hover = view.locator(".xp-kcell").nth(1).evaluate(outline)
    page.mouse.move(0, 0)
    cell = view.locator(".xp-kcell[tabindex='0']").first
    cell.focus()
    page.keyboard.press("ArrowRight")                        # focus by the keyboard: :focus-visible
    focused = page.evaluate(f"({outline})(document.activeElement)")
    assert page.evaluate("document.activeElement.getAttribute('role')") == "gridcell"
    assert focused == button, (focused, button)
    assert focused[1] == "2px" and focused != hover, (focused, hover)


def test_on_a_phone_the_editing_cards_headings_are_not_cut(open_page):
    """At 390 px the edited card's heading was cut off mid-word ("edited: pick a word abov"), as was the heading of an
    edit ("block “·cat”, every layer"): the heading is one unbroken line clipped by the card (found by a fresh
    reader's trial). Every heading must show all of its text, before and after a word is picked."""
    page = open_page(viewport={"width": 390, "height": 800}, is_mobile=True, has_touch=True)
    view = page.locator("explorable-editing-view").first
    assert ready(page, view) == "ready"
    cut = "el => [...el.querySelectorAll('.xp-phead')].filter(h => h.scrollWidth > h.clientWidth + 1).map(h => h.textContent)"
    assert view.evaluate(cut) == []
    view.locator(".xp-wtext .xp-tok").nth(1).click()
    heading = view.locator(".xp-wcard .xp-phead").nth(1).inner_text()
    assert "every layer" in heading, heading
    assert view.evaluate(cut) == []
    assert page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth") <= 1


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_every_patching_grid_shows_where_it_is(open_page, scheme):
    """A cell at 0 (no share of the way) is drawn in the page's own background colour, so a grid whose cells are all
    near 0 (the attention and MLP outputs of 'What if?') was invisible: no edge, no cells, only its axis labels (found
    by a fresh reader's trial). Each grid has a visible frame, in light and dark, that a saved PNG keeps (an
    outline: figure.js draws outlines)."""
    page = open_page(color_scheme=scheme)
    view = page.locator("explorable-patching-view").first
    assert ready(page, view) == "ready"
    frames = view.evaluate("""el => [...el.querySelectorAll('canvas')].map(c => {
      const s = getComputedStyle(c);
      return [s.outlineStyle, parseFloat(s.outlineWidth), s.outlineColor, getComputedStyle(el).getPropertyValue('--xp-bg')];
    })""")
    assert len(frames) == 3
    for style, width, colour, _ in frames:
        assert style == "solid" and width >= 1, (style, width)
        assert colour.startswith("rgb") and colour != "rgba(0, 0, 0, 0)", colour   # a colour, not transparent
    assert frames[0][2] != page.evaluate("getComputedStyle(document.body).backgroundColor")


def test_a_saved_svg_has_each_colour_scale_once(open_page, tmp_path):
    """The knockout and patching figures hold their colour scales above the grid, and "save" added the same scales
    again under the figure, so a saved figure showed each legend twice (found by a fresh reader's trial looking at
    the saved files). Each scale's text must appear once in the saved SVG, with its colour ramp kept."""
    page = open_page()
    for tag, texts in (("explorable-knockout-view", ["heads: ", "blocks, MLPs: "]),
                       ("explorable-patching-view", ["−1 "])):
        view = page.locator(tag).first
        assert ready(page, view) == "ready"
        with page.expect_download() as download:
            view.get_by_role("button", name="save SVG").click()
        path = tmp_path / download.value.suggested_filename
        download.value.save_as(path)
        svg = path.read_text(encoding="utf-8")
        for text in texts:
            assert svg.count(f">{text}") == 1, (tag, text, svg.count(f">{text}"))
        assert "<linearGradient" in svg, tag          # the ramp is still drawn


def test_on_a_phone_the_page_does_not_scroll_sideways(open_page):
    """The patching view's direction menu names each direction in full (~414 px of text): at 390 px it must shrink to
    the toolbar, not widen the page (the new-author trial of session 5 saw a 430 px page)."""
    page = open_page(viewport={"width": 390, "height": 800})
    for tag in ("explorable-patching-view", "explorable-knockout-view", "explorable-editing-view"):
        assert ready(page, page.locator(tag).first) == "ready"
    select = page.locator("explorable-patching-view .xp-bar select").first
    assert select.bounding_box()["width"] <= 390
    assert page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth") <= 1
