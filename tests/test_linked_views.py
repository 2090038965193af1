"""Views of one explorable block share a selection (generator/assets/js/selection.js), in headless Chromium on a
small site baked from tiny models: the model view's enlarged head becomes the head view's layer and only head;
hiding special tokens in one attention view hides them in the other; a token pinned in the factor view is the
saliency view's pinned output, and back. Views of another block are not affected."""

from __future__ import annotations

import textwrap

import pytest
from conftest import build_site, next_frame, ready, write_test_site_config

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def site(tmp_path_factory, tiny_models, serve):
    root = tmp_path_factory.mktemp("linked-site")
    (root / "docs").mkdir()
    (root / "docs" / "index.md").write_text(textwrap.dedent("""\
        # Linked views

        ```explorable
        model: {bert}
        text: The cat sat on the mat because it was tired.
        views: [head, model]
        ```

        ```explorable
        model: {bert}
        text: Another block with its own selection.
        views: [head, model]
        ```

        ```explorable
        model: {llama}
        text: "Counting 1, 2, 3,"
        generate: 3
        views: [saliency, factors]
        saliency: {{ig_steps: 4}}
        factors: {{counts: 2}}
        ```
        """).format(**tiny_models), encoding="utf-8")
    write_test_site_config(root, "Linked views test site")
    build_site(root / "mkdocs.yml", root / "site")
    return serve(root / "site")


def settle(page, locator):
    for index in range(locator.count()):
        assert ready(page, locator.nth(index), timeout=30000) == "ready"


def pressed_heads(view) -> list[int]:
    flags = view.locator(".xp-head").evaluate_all("bs => bs.map(b => b.getAttribute('aria-pressed'))")
    return [i for i, flag in enumerate(flags) if flag == "true"]


def test_an_enlarged_head_becomes_the_head_view_s_layer_and_only_head(open_page):
    page = open_page()
    heads, models = page.locator("explorable-head-view"), page.locator("explorable-model-view")
    settle(page, heads)
    settle(page, models)
    assert pressed_heads(heads.nth(0)) == [0, 1, 2, 3]
    grid = models.nth(0).locator("canvas.xp-grid")
    grid.focus()
    for key in ["ArrowDown", "ArrowRight", "ArrowRight", "Enter"]:   # layer 1, head 2
        page.keyboard.press(key)
    next_frame(page)
    assert models.nth(0).locator(".xp-detail strong").inner_text() == "Layer 1 · head 2"
    assert heads.nth(0).locator("select").first.input_value() == "1"
    assert pressed_heads(heads.nth(0)) == [2]
    assert heads.nth(1).locator("select").first.input_value() == "0", "another block keeps its own layer"
    assert pressed_heads(heads.nth(1)) == [0, 1, 2, 3]


def test_hiding_special_tokens_in_one_attention_view_hides_them_in_the_other(open_page):
    page = open_page()
    heads, models = page.locator("explorable-head-view"), page.locator("explorable-model-view")
    settle(page, heads)
    settle(page, models)
    columns = heads.nth(0).locator(".xp-col").first.locator(".xp-tok")
    everything = columns.count()
    heads.nth(0).locator("input[type=checkbox]").check()
    next_frame(page)
    assert columns.count() == everything - 2, "[CLS] and [SEP] left the head view"
    assert models.nth(0).locator("input[type=checkbox]").is_checked()
    assert "renormalised" in models.nth(0).locator(".xp-note").inner_text()
    assert not models.nth(1).locator("input[type=checkbox]").is_checked(), "another block is not affected"
    models.nth(0).locator("input[type=checkbox]").uncheck()
    next_frame(page)
    assert not heads.nth(0).locator("input[type=checkbox]").is_checked()
    assert columns.count() == everything


def test_a_token_pinned_in_the_factor_view_is_the_saliency_view_s_output_and_back(open_page):
    page = open_page()
    saliency, factors = page.locator("explorable-saliency-view"), page.locator("explorable-factor-view")
    settle(page, saliency)
    settle(page, factors)
    explained = saliency.locator(".xp-sv .xp-tok")
    n = explained.count()
    assert explained.nth(n - 1).evaluate("n => !n.classList.contains('xp-out')")
    factors.locator(".xp-ftext .xp-tok").nth(n - 1).click()          # pin the last generated token
    next_frame(page)
    assert explained.nth(n - 1).evaluate("n => n.classList.contains('xp-out')")
    assert "pinned" in saliency.locator(".xp-readout").inner_text()
    explained.nth(n - 1).click()                                      # release it in the saliency view ...
    next_frame(page)
    assert factors.locator(".xp-ftext .xp-tok").nth(n - 1).get_attribute("aria-selected") == "false"
    explained.nth(n - 2).click()                                      # ... and pin another generated token there
    next_frame(page)
    assert factors.locator(".xp-ftext .xp-tok").nth(n - 2).get_attribute("aria-selected") == "true"
    factors.locator(".xp-ftext .xp-tok").nth(n - 2).focus()
    page.keyboard.press("Escape")
    next_frame(page)
    assert "pinned" not in saliency.locator(".xp-readout").inner_text()
