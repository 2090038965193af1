"""What a reader meets on 'What would change the answer?' (the project's own site, in headless Chromium): the markers
of the counterfactual-attention rows stay whole inside their row at both ends of the scale (found by a fresh reader's
trial: the uniform-attention diamond of the 'all' row of the capital's figure, at the top of the scale, was cut by
the figure's right edge on the page and in the saved PNG, and diamonds at 0 touched the layer labels)."""

from __future__ import annotations

import pytest
from conftest import Reader, payload_of, ready

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# each marker of a row (whisker, box, median tick, uniform diamond: drawn rotated) against its row and its label
BOXES = """el => [...el.querySelectorAll('.xp-acr')].map(row => {
  const label = row.querySelector('.xp-acl').getBoundingClientRect(), r = row.getBoundingClientRect();
  return [...row.querySelectorAll('.xp-acw, .xp-acbox, .xp-acmed, .xp-acuni')].map(m => {
    const b = m.getBoundingClientRect();
    return {row: row.dataset.r, cls: m.className, left: b.left, right: b.right, rowLeft: r.left, rowRight: r.right,
            labelRight: label.right};
  });
}).flat()"""


@pytest.mark.parametrize("width", [1280, 390])
def test_counterfactual_attention_markers_stay_inside_their_rows(browser, real_site, width):
    reader = Reader(browser, real_site, viewport={"width": width, "height": 900})
    try:
        page = reader.open("counterfactuals/")
        views = page.locator("explorable-attention-counterfactual-view")
        assert views.count() >= 2
        at_top = 0
        for index in range(views.count()):
            view = views.nth(index)
            assert ready(page, view) == "ready"
            record = payload_of(view)["counterfactuals"]["attention"]
            top = max(max(r["tvd"]["max"] for r in record["permuted"]), max(u["tvd"] for u in record["uniform"]))
            at_top += sum(u["tvd"] >= 0.99 * top for u in record["uniform"])   # a diamond at the end of the scale
            for m in view.evaluate(BOXES):
                where = f"figure {index}, row {m['row']}, {m['cls']}"
                assert m["right"] <= m["rowRight"] + 0.5, (where, m)
                assert m["left"] >= m["labelRight"] - 0.5, (where, m)
        assert at_top >= 1    # the case that was cut is on the page (the capital's 'all' row)
        assert reader.errors == [] and reader.foreign == []
    finally:
        reader.close()


def test_a_saved_counterfactual_attention_figure_keeps_its_diamonds(browser, real_site, tmp_path):
    """The saved PNG and SVG drew each uniform-attention diamond (a square turned 45 degrees by CSS) as its bounding
    box, an upright square (found by a fresh reader's trial). The SVG now holds each visible diamond as a square of
    the marker's own size turned 45 degrees about its centre."""
    import re
    import xml.etree.ElementTree as ET

    reader = Reader(browser, real_site, viewport={"width": 1280, "height": 900})
    try:
        page = reader.open("counterfactuals/")
        view = page.locator("explorable-attention-counterfactual-view").first
        assert ready(page, view) == "ready"
        shown = view.evaluate("""el => [...el.querySelectorAll('.xp-acr .xp-acuni')].filter(m => m.checkVisibility())
          .map(m => ({w: m.offsetWidth, h: m.offsetHeight}))""")
        assert shown, "no diamond on the figure: a useless test"
        with page.expect_download() as download:
            view.get_by_role("button", name="save SVG").first.click()
        path = tmp_path / "figure.svg"
        download.value.save_as(path)
        rects = ET.parse(path).getroot().iter("{http://www.w3.org/2000/svg}rect")
        turned = [rect for rect in rects if re.fullmatch(r"rotate\(45 [\d.]+ [\d.]+\)", rect.get("transform", ""))]
        assert len(turned) == len(shown)
        for rect, marker in zip(turned, shown):
            assert (float(rect.get("width")), float(rect.get("height"))) == (marker["w"], marker["h"])
        assert reader.errors == [] and reader.foreign == []
    finally:
        reader.close()
