"""<explorable-factor-view> in headless Chromium, on a small site baked from tiny models: it draws, reacts to pointer,
touch and keyboard, follows the palette, starts lazily, survives instant navigation, shows payload text as text, and
reports an unreadable payload inline."""

from __future__ import annotations

import textwrap

import pytest
from conftest import (CANVAS_PIXELS, build_site, next_frame, ready, starts_lazily_and_survives_instant_navigation,
                      write_test_site_config)

pytestmark = [pytest.mark.browser, pytest.mark.slow]
SPACER = "\n\n".join(f"Paragraph {i} of filler text, so that the next figure starts below the fold." for i in range(60))


@pytest.fixture(scope="module")
def site(tmp_path_factory, tiny_models, serve):
    root = tmp_path_factory.mktemp("factor-site")
    (root / "docs").mkdir()
    llama, bert = tiny_models["llama"], tiny_models["bert"]
    (root / "docs" / "index.md").write_text(textwrap.dedent("""\
        # Factors

        ```explorable
        model: {llama}
        text: "Counting <b>bold</b> 我爱 1, 2, 3,"
        generate: 3
        views: [factors]
        factors: {{counts: [2, 3]}}
        ```

        [Second page](second.md)

        {SPACER}

        ```explorable
        model: {bert}
        text: A figure far below the fold.
        views: [factors]
        factors: {{counts: 2, layers: 1}}
        ```
        """).format(llama=llama, bert=bert, SPACER=SPACER), encoding="utf-8")
    (root / "docs" / "second.md").write_text(textwrap.dedent("""\
        # Second

        <div class="explorable" data-payload="{&quot;schema_version&quot;: 1, &quot;tokens&quot;: [{&quot;text&quot;: &quot;a&quot;}], &quot;factors&quot;: {&quot;runs&quot;: [{&quot;count&quot;: 2, &quot;activations&quot;: {&quot;dtype&quot;: &quot;uint16&quot;, &quot;shape&quot;: [1, 2], &quot;data&quot;: &quot;AAAA&quot;}, &quot;top_neurons&quot;: [[], []]}]}}">
        <explorable-factor-view></explorable-factor-view>
        </div>

        [Back](index.md)
        """), encoding="utf-8")
    url = serve(root / "site")   # first: the site is built for the address it is served from
    write_test_site_config(root, "Factor view test site", site_url=url)
    build_site(root / "mkdocs.yml", root / "site")
    return url


def test_draws_sparklines_and_colours_tokens_by_the_chosen_factor(open_page):
    page = open_page()
    view = page.locator("explorable-factor-view").first
    assert ready(page, view) == "ready"
    rows = view.locator(".xp-frow")
    assert rows.count() == 3 and rows.first.get_attribute("aria-checked") == "true"
    assert page.evaluate(CANVAS_PIXELS, view.element_handle()) != 0
    rows.nth(2).click()
    next_frame(page)
    assert rows.nth(2).get_attribute("aria-checked") == "true"
    colours = view.locator(".xp-ftext .xp-tok").evaluate_all("ns => ns.map(n => n.style.getPropertyValue('--c'))")
    assert len(set(colours)) == 1, "one factor chosen: every token in its colour"
    assert view.locator(".xp-neu li").count() >= 1
    view.locator(".xp-ftext .xp-tok").nth(1).hover()
    next_frame(page)
    assert "factor 2" in view.locator(".xp-readout").inner_text()
    view.locator("select").select_option("1")
    next_frame(page)
    assert view.locator(".xp-frow").count() == 4


def test_keyboard_moves_pins_and_selects(open_page):
    page = open_page()
    view = page.locator("explorable-factor-view").first
    ready(page, view)
    tokens = view.locator(".xp-ftext .xp-tok")
    tokens.first.focus()
    page.keyboard.press("ArrowRight")
    assert page.evaluate("document.activeElement.dataset.i") == "1"
    page.keyboard.press("Enter")
    next_frame(page)
    assert tokens.nth(1).get_attribute("aria-selected") == "true"
    assert "token 1" in view.locator(".xp-readout").inner_text()
    page.keyboard.press("Escape")
    next_frame(page)
    assert tokens.nth(1).get_attribute("aria-selected") == "false"
    view.locator(".xp-frow").first.focus()
    page.keyboard.press("ArrowDown")
    next_frame(page)
    assert view.locator(".xp-frow").nth(1).get_attribute("aria-checked") == "true"
    assert page.evaluate("document.activeElement.dataset.k") == "0"


def test_touch_pins_a_token_and_picks_a_factor(open_page):
    page = open_page(has_touch=True, is_mobile=True, viewport={"width": 390, "height": 800})
    view = page.locator("explorable-factor-view").first
    ready(page, view)
    view.locator(".xp-ftext .xp-tok").nth(2).tap()
    view.locator(".xp-frow").nth(1).tap()
    next_frame(page)
    assert view.locator(".xp-ftext .xp-tok").nth(2).get_attribute("aria-selected") == "true"
    assert view.locator(".xp-frow").nth(1).get_attribute("aria-checked") == "true"
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_payload_text_is_shown_as_text_and_characters_stay_whole(open_page):
    page = open_page()
    view = page.locator("explorable-factor-view").first
    ready(page, view)
    assert view.locator("b, script, img").count() == 0
    text = view.locator(".xp-ftext").text_content()
    assert "<b>" in text and "\ufffd" not in text and "Ġ" not in text
    assert view.locator(".xp-ftext .xp-partial").count() >= 2, "the byte-level CJK tokens are marked partial"


def test_follows_the_palette_toggle(open_page):
    page = open_page()
    view = page.locator("explorable-factor-view").first
    ready(page, view)
    view.locator(".xp-ftext .xp-tok").nth(2).click()   # pinned: the sparklines show a marker in the text colour
    next_frame(page)
    before = page.evaluate(CANVAS_PIXELS, view.element_handle())
    page.evaluate("document.body.setAttribute('data-md-color-scheme', 'slate')")
    next_frame(page)
    assert page.evaluate(CANVAS_PIXELS, view.element_handle()) != before


def test_starts_lazily_and_survives_instant_navigation(open_page):
    page = open_page()
    view = starts_lazily_and_survives_instant_navigation(page, "explorable-factor-view", far=1)
    assert view.locator(".xp-fv").count() == 1 and view.locator(".xp-frow").count() == 3
