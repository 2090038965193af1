"""What a reader meets on 'What if?' (the project's own site, in headless Chromium): the knockout grid and the
attention views of the same text are linked, as the page says: a head picked in the grid (with the keyboard) moves
the head and model views to it, and a layer picked in the head view moves the grid (found by a fresh reader's trial:
they were two separate blocks, and views link only within one block, so nothing moved)."""

from __future__ import annotations

import pytest
from conftest import Reader, ready

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_the_knockout_grid_moves_the_attention_views_and_back(browser, real_site):
    reader = Reader(browser, real_site, viewport={"width": 1280, "height": 900})
    try:
        page = reader.open("whatif/")
        grid = page.locator("explorable-knockout-view").first
        box = grid.locator("xpath=ancestor::*[contains(@class, 'explorable')][1]")
        head, model = box.locator("explorable-head-view"), box.locator("explorable-model-view")
        assert head.count() == 1 and model.count() == 1, "the knockout grid has no attention views beside it"
        for view in (grid, model, head):
            assert ready(page, view) == "ready"
        grid.locator(".xp-kcell[tabindex='0']").focus()
        for key in ["ArrowDown"] * 13 + ["ArrowRight"] * 8 + ["Enter"]:
            page.keyboard.press(key)
        readout = grid.locator(".xp-kread").inner_text()
        assert readout.startswith("layer 13, head 8 removed"), readout
        page.wait_for_function("el => el.querySelector('select').value === '13'", arg=head.element_handle())
        assert head.locator(".xp-head[aria-pressed=true]").all_inner_texts() == ["8"]
        head.locator("select").first.select_option("5")
        page.wait_for_function("el => el.querySelector('.xp-pin')?.getAttribute('aria-label').startsWith('layer 5,')",
                               arg=grid.element_handle())
        assert reader.errors == [] and reader.foreign == []
    finally:
        reader.close()
