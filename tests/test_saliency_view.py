"""<explorable-saliency-view> in headless Chromium.

On a small site baked from tiny models: it shades the tokens before the chosen output token by their share, shows
the exact percentage of the data on hover, switches methods, pins with a click, works from the keyboard and by touch,
follows the palette, starts lazily, survives instant navigation, shows payload text as text, and reports an unreadable
payload inline. On the project's own site: the Input saliency article draws real data without console errors, at
desktop and phone widths. Chromium is the session fixture `browser` of conftest.py."""

from __future__ import annotations

import html
import json
import re
import textwrap
from pathlib import Path

import pytest
from conftest import payload_of
from conftest import build_site, next_frame, starts_lazily_and_survives_instant_navigation, write_test_site_config
from conftest import ready as ready_within


from generator.payload import decode_array

REPO = Path(__file__).resolve().parent.parent
pytestmark = [pytest.mark.browser, pytest.mark.slow]
SPACER = "\n\n".join(f"Paragraph {i} of filler text, so that the next figure starts below the fold." for i in range(60))
BROKEN = html.escape(json.dumps({
    "schema_version": 1, "n_prompt": 1, "tokens": [{"text": "a"}, {"text": "b"}],
    "saliency": {"kind": "causal", "target": "logit",
                 "methods": {"gradient_x_input": {"dtype": "uint16", "shape": [1, 2], "data": "AAAA"}}}}))


@pytest.fixture(scope="module")
def site(tmp_path_factory, tiny_models, serve):
    root = tmp_path_factory.mktemp("saliency-site")
    (root / "docs").mkdir()
    (root / "docs" / "index.md").write_text(textwrap.dedent("""\
        # Saliency

        ```explorable
        model: {llama}
        text: "Counting <b>bold</b> 我爱 1, 2, 3,"
        generate: 3
        views: [saliency]
        saliency: {{ig_steps: 8}}
        ```

        ```explorable
        model: {bert}
        pair: [A man plays a guitar., Someone makes music.]
        views: [saliency]
        saliency: {{ig_steps: 8}}
        ```

        [Second page](second.md)

        {SPACER}

        ```explorable
        model: {gpt2}
        text: A figure far below the fold.
        generate: 2
        views: [saliency]
        saliency: {{ig_steps: 4}}
        ```
        """).format(SPACER=SPACER, **tiny_models), encoding="utf-8")
    (root / "docs" / "second.md").write_text(textwrap.dedent(f"""\
        # Second

        <div class="explorable" data-payload="{BROKEN}">
        <explorable-saliency-view></explorable-saliency-view>
        </div>

        [Back](index.md)
        """), encoding="utf-8")
    url = serve(root / "site")   # first: the site is built for the address it is served from
    write_test_site_config(root, "Saliency view test site", site_url=url)
    build_site(root / "mkdocs.yml", root / "site")
    return url


def ready(page, view):
    return ready_within(page, view, timeout=30000)


def shading(view) -> list[float]:
    return view.locator(".xp-sv .xp-tok").evaluate_all(
        "ns => ns.map(n => parseFloat(n.style.getPropertyValue('--w')) || 0)")



def readout(view) -> str:
    return view.locator(".xp-readout").inner_text()


def test_causal_view_shades_earlier_tokens_with_the_data_s_percentages(open_page):
    page = open_page()
    view = page.locator("explorable-saliency-view").first
    assert ready(page, view) == "ready"
    payload = payload_of(view)
    n_prompt, n = payload["n_prompt"], len(payload["tokens"])
    scores = decode_array(payload["saliency"]["methods"]["gradient_x_input"])
    tokens = view.locator(".xp-sv .xp-tok")
    assert tokens.count() == n
    # the first generated token is explained until the reader picks another
    assert tokens.nth(n_prompt).get_attribute("class").count("xp-out") == 1
    w = shading(view)
    assert max(w[:n_prompt]) == 1 and all(x == 0 for x in w[n_prompt:])
    assert tokens.nth(n_prompt + 1).evaluate("n => n.classList.contains('xp-after')")
    # hovering the last generated token explains it; hovering an input then shows that input's exact share
    tokens.nth(n - 1).hover()
    next_frame(page)
    assert tokens.nth(n - 1).evaluate("n => n.classList.contains('xp-out')")
    tokens.nth(1).hover()
    next_frame(page)
    share = scores[n - 1 - n_prompt, 1]
    assert f": {100 * share:.1f}%" in readout(view)
    assert tokens.nth(1).get_attribute("title") == f"{100 * share:.1f}% of the saliency"
    assert tokens.nth(n - 1).evaluate("n => n.classList.contains('xp-out')"), "an input hover keeps the output"
    assert f"generated token {n - n_prompt} of {n - n_prompt}" in readout(view)
    expected = scores[n - 1 - n_prompt, : n - 1] / scores[n - 1 - n_prompt, : n - 1].max()
    assert shading(view)[: n - 1] == pytest.approx(expected.tolist(), abs=0.002)


def test_method_switch_changes_the_shading_and_explains_ig(open_page):
    page = open_page()
    view = page.locator("explorable-saliency-view").first
    ready(page, view)
    buttons = view.locator(".xp-mbtn")
    assert buttons.all_inner_texts() == ["grad × input", "gradient", "IG"]
    before = shading(view)
    buttons.nth(2).click()
    next_frame(page)
    assert buttons.nth(2).get_attribute("aria-checked") == "true"
    assert buttons.nth(0).get_attribute("aria-checked") == "false"
    assert shading(view) != before
    note = view.locator(".xp-note").inner_text()
    assert "completeness gap" in note and "8 steps" in note
    buttons.nth(2).focus()
    page.keyboard.press("ArrowRight")     # wraps around to the first method
    next_frame(page)
    assert buttons.nth(0).get_attribute("aria-checked") == "true"
    assert shading(view) == before


def test_keyboard_moves_pins_and_releases(open_page):
    page = open_page()
    view = page.locator("explorable-saliency-view").first
    ready(page, view)
    n_prompt = payload_of(view)["n_prompt"]
    tokens = view.locator(".xp-sv .xp-tok")
    tokens.nth(n_prompt).focus()
    page.keyboard.press("ArrowRight")
    next_frame(page)
    assert page.evaluate("document.activeElement.dataset.i") == str(n_prompt + 1)
    assert tokens.nth(n_prompt + 1).evaluate("n => n.classList.contains('xp-out')"), "focus explains a generated token"
    page.keyboard.press("Enter")
    next_frame(page)
    assert "pinned" in readout(view)
    page.keyboard.press("ArrowRight")     # pinned: moving on does not change the output token
    next_frame(page)
    assert tokens.nth(n_prompt + 1).evaluate("n => n.classList.contains('xp-out')")
    page.keyboard.press("Home")
    next_frame(page)
    assert "→" in readout(view) and "%" in readout(view), "the focused input's share is read out"
    page.keyboard.press("Escape")
    next_frame(page)
    assert "pinned" not in readout(view)


def test_touch_pins_an_output_and_fits_a_phone(open_page):
    page = open_page(has_touch=True, is_mobile=True, viewport={"width": 375, "height": 800})
    view = page.locator("explorable-saliency-view").first
    ready(page, view)
    n = view.locator(".xp-sv .xp-tok").count()
    view.locator(".xp-sv .xp-tok").nth(n - 1).tap()
    next_frame(page)
    assert "pinned" in readout(view)
    view.locator(".xp-sv .xp-tok").nth(2).tap()      # touch has no hover: a tap keeps an input's share in view
    next_frame(page)
    assert "pinned" in readout(view) and re.search(r"→ .*: \d+\.\d%", readout(view)), readout(view)
    assert view.locator(".xp-sv .xp-tok").nth(2).evaluate("n => n.classList.contains('xp-on')")
    view.locator(".xp-mbtn").nth(1).tap()
    next_frame(page)
    assert view.locator(".xp-mbtn").nth(1).get_attribute("aria-checked") == "true"
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_similarity_view_shows_both_sentences_and_the_similarity(open_page):
    page = open_page()
    view = page.locator("explorable-saliency-view").nth(1)
    assert ready(page, view) == "ready"
    section = payload_of(view)["saliency"]
    rows = view.locator(".xp-sv")
    assert rows.count() == 2
    assert rows.nth(0).inner_text().startswith("A") and rows.nth(1).inner_text().startswith("B")
    assert f"cosine similarity {section['similarity']:.4g}" in view.locator(":scope > .xp-hint").inner_text()
    scores = decode_array(section["methods"]["gradient_x_input"])
    n_a = len(section["tokens_a"])
    assert max(shading(view)) == 1
    view.locator(".xp-sv .xp-tok").nth(n_a + 1).hover()
    next_frame(page)
    assert f"(sentence B): {100 * scores[n_a + 1]:.1f}%" in readout(view)
    assert f"sentence A {100 * scores[:n_a].sum():.1f}%" in readout(view)


def test_payload_text_is_shown_as_text_and_characters_stay_whole(open_page):
    page = open_page()
    view = page.locator("explorable-saliency-view").first
    ready(page, view)
    assert view.locator("b, script, img").count() == 0
    text = view.locator(".xp-sv").text_content()
    assert "<b>bold</b>" in text and "\ufffd" not in text and "Ġ" not in text
    assert "我" in text and view.locator(".xp-sv .xp-partial").count() >= 2


def test_follows_the_palette(open_page):
    page = open_page()
    view = page.locator("explorable-saliency-view").first
    ready(page, view)
    strongest = "el => getComputedStyle([...el.querySelectorAll('.xp-sv .xp-tok')].find(n => n.style.getPropertyValue('--w') === '1.000')).backgroundColor"
    light = view.evaluate(strongest)
    page.evaluate("document.body.setAttribute('data-md-color-scheme', 'slate')")
    next_frame(page)
    assert view.evaluate(strongest) != light


def test_starts_lazily_survives_instant_navigation_and_reports_a_broken_payload(open_page):
    page = open_page()
    view = starts_lazily_and_survives_instant_navigation(page, "explorable-saliency-view", far=2, ready_state=ready)
    assert view.locator(".xp-mbtn").count() == 3 and max(shading(view)) == 1


# -- the project's own article ------------------------------------------------------------------------------------

@pytest.mark.parametrize("viewport", [{"width": 1200, "height": 900}, {"width": 375, "height": 800}])
def test_the_article_draws_real_data(open_page, real_site, viewport):
    page = open_page("saliency/", base=real_site, viewport=viewport)
    views = page.locator("explorable-saliency-view")
    assert views.count() >= 6
    for index in range(views.count()):
        assert ready(page, views.nth(index)) == "ready"
        assert max(shading(views.nth(index))) == 1, "real shares are drawn"
    first = views.first
    first.scroll_into_view_if_needed()
    first.locator(".xp-sv .xp-tok").nth(1).hover()
    next_frame(page)
    assert re.search(r"Shakespeare” → “·”: \d+\.\d%", readout(first)), readout(first)
    before = shading(first)
    first.locator(".xp-mbtn").nth(2).click()
    next_frame(page)
    assert shading(first) != before
    assert "completeness gap" in first.locator(".xp-note").inner_text()
    assert page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth") <= 1
