"""Views of one explorable block share a selection (generator/assets/js/selection.js), in headless Chromium on a
small site baked from tiny models: the model view's enlarged head becomes the head view's layer and only head;
hiding special tokens in one attention view hides them in the other; a token pinned in the factor view is the
saliency view's pinned output, and back. Views of another block are not affected. In a block with all four views,
each view follows every field it can show (layer, head, token, hideSpecial), whichever view wrote it."""

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

        ```explorable
        model: {bert}
        pair: ["Where did the cat sleep?", "The cat slept on the mat."]
        views: [head, model, saliency, factors]
        saliency: {{ig_steps: 4}}
        factors: {{counts: 2}}
        ```

        ```explorable
        model: {llama}
        text: "One, two, three,"
        generate: 2
        views: [head, model, saliency, factors]
        saliency: {{ig_steps: 4}}
        factors: {{counts: 2}}
        ```

        ```explorable
        model: {llama}
        text: "One, two, three,"
        generate: 2
        views: [head, layers, neuron, explanations]
        neuron: {{layers: all}}
        explanations: {{ig_steps: 4, random_orders: 2}}
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
    saliency, factors = page.locator("explorable-saliency-view").first, page.locator("explorable-factor-view").first
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


def all_views(page, nth):
    block = page.locator(".explorable").nth(nth)
    views = {name: block.locator(f"explorable-{name}-view") for name in ("head", "model", "saliency", "factor")}
    for view in views.values():
        settle(page, view)
    return views


def texts(locator) -> list[str]:
    """Token labels without the dots that show spaces."""
    return locator.evaluate_all("ns => ns.map(n => n.textContent.replace(/·/g, ' ').trim())")


def test_in_a_pair_block_all_four_views_share_hidden_special_tokens(open_page):
    page = open_page()
    views = all_views(page, 3)
    def shown(view, selector):
        return view.locator(selector).evaluate_all("ns => ns.filter(n => !n.hidden).map(n => n.textContent)")
    assert "[CLS]" in shown(views["factor"], ".xp-ftext .xp-tok") and "[SEP]" in shown(views["saliency"], ".xp-sv .xp-tok")
    views["head"].locator("input[type=checkbox]").check()
    next_frame(page)
    assert views["model"].locator("input[type=checkbox]").is_checked()
    for name, sel in (("factor", ".xp-ftext .xp-tok"), ("saliency", ".xp-sv .xp-tok")):
        assert not {"[CLS]", "[SEP]"} & set(shown(views[name], sel)), f"the {name} view hides the special tokens too"
    # the keyboard skips them: the tab stop of the saliency text is on a shown token
    assert views["saliency"].locator(".xp-sv .xp-tok[tabindex='0']").evaluate("n => !n.hidden")
    views["model"].locator("input[type=checkbox]").uncheck()
    next_frame(page)
    assert "[CLS]" in shown(views["factor"], ".xp-ftext .xp-tok")
    assert not views["head"].locator("input[type=checkbox]").is_checked()


def test_in_a_pair_block_a_token_chosen_anywhere_is_chosen_everywhere(open_page):
    page = open_page()
    views = all_views(page, 3)
    payload_tokens = texts(views["factor"].locator(".xp-ftext .xp-tok"))
    cat = payload_tokens.index("cat", payload_tokens.index("[SEP]"))    # "cat" of sentence B, in the payload's tokens
    views["model"].locator("canvas.xp-grid").focus()
    page.keyboard.press("Enter")                                         # enlarge layer 0, head 0
    views["factor"].locator(".xp-ftext .xp-tok").nth(cat).click()
    next_frame(page)
    query = views["head"].locator(".xp-q .xp-tok").nth(cat)
    assert query.get_attribute("aria-selected") == "true", "the head view pins it as a query"
    readout = views["model"].locator(".xp-detail .xp-readout").inner_text()
    assert readout.startswith("L0 H0:") and "cat →" in readout, "the enlarged head reads out its row"
    picked = views["saliency"].locator(".xp-sv .xp-tok[aria-selected=true]")
    assert texts(picked) == ["cat"] and "sentence B" in views["saliency"].locator(".xp-readout").inner_text()
    # and from the saliency view (its own tokens, each sentence read alone) back to the payload's tokens
    own = views["saliency"].locator(".xp-sv .xp-tok")
    where = texts(own).index("where")
    own.nth(where).click()
    next_frame(page)
    assert views["factor"].locator(".xp-ftext .xp-tok").nth(payload_tokens.index("where")).get_attribute("aria-selected") == "true"
    assert views["head"].locator(".xp-q .xp-tok").nth(payload_tokens.index("where")).get_attribute("aria-selected") == "true"
    own.nth(where).click()                                               # released everywhere
    next_frame(page)
    assert views["factor"].locator(".xp-ftext .xp-tok[aria-selected=true]").count() == 0
    assert views["head"].locator(".xp-tok[aria-selected=true]").count() == 0


def test_in_a_pair_block_layer_and_head_chosen_in_the_head_view_move_the_enlarged_head(open_page):
    page = open_page()
    views = all_views(page, 3)
    views["model"].locator("canvas.xp-grid").focus()
    page.keyboard.press("Enter")
    title = views["model"].locator(".xp-detail strong")
    assert title.inner_text() == "Layer 0 · head 0"
    views["head"].locator("select").first.select_option("1")
    next_frame(page)
    assert title.inner_text() == "Layer 1 · head 0"
    views["head"].get_by_role("button", name="none").click()
    views["head"].locator(".xp-head").nth(3).click()                     # one head left: head 3
    next_frame(page)
    assert title.inner_text() == "Layer 1 · head 3"
    assert pressed_heads(views["head"]) == [3]


def test_in_a_causal_block_head_and_saliency_views_share_the_pinned_token(open_page):
    page = open_page()
    views = all_views(page, 4)
    keys = views["head"].locator(".xp-col:not(.xp-q) .xp-tok")
    n = keys.count()
    keys.nth(n - 1).click()                                              # pin the last (generated) token as a key
    next_frame(page)
    explained = views["saliency"].locator(".xp-sv .xp-tok")
    assert explained.nth(n - 1).evaluate("n => n.classList.contains('xp-out')"), "it is the saliency view's output"
    assert keys.nth(n - 1).get_attribute("aria-selected") == "true", "the head view keeps its own pin (a key)"
    explained.nth(1).click()                                             # a prompt token: its share is kept shown
    next_frame(page)
    assert views["head"].locator(".xp-q .xp-tok").nth(1).get_attribute("aria-selected") == "true"
    assert views["factor"].locator(".xp-ftext .xp-tok").nth(1).get_attribute("aria-selected") == "true"


def test_views_added_later_share_the_same_selection(open_page):
    """The lens, neuron and explanations views, written after the selection store, take part in it like the others."""
    page = open_page()
    block = page.locator(".explorable").nth(5)
    views = {name: block.locator(f"explorable-{name}-view") for name in ("head", "layers", "neuron", "explanations")}
    for view in views.values():
        settle(page, view)
    queries = views["head"].locator(".xp-q .xp-tok")
    n = queries.count()
    layers = views["layers"]
    layers.evaluate("el => el.reveal(2)")
    x, y = layers.evaluate("el => [el.colX[2] + el.colW[2] / 2, 10]")  # cell (layer 0, position 2), in canvas px
    layers.locator("canvas").click(position={"x": x, "y": y})          # position 2 pinned in the layers view
    next_frame(page)
    assert queries.nth(2).get_attribute("aria-selected") == "true"
    assert views["neuron"].locator(".xp-q .xp-tok").nth(2).get_attribute("aria-selected") == "true"
    views["head"].locator(".xp-col:not(.xp-q) .xp-tok").nth(n - 1).click()   # the last generated token, as a key
    next_frame(page)
    assert views["explanations"].locator(".xp-eout .xp-tok").nth(n - 1).get_attribute("aria-selected") == "true"
    pinned = layers.evaluate("el => el.pinBox.hidden ? null : el.pinBox.style.transform")
    assert pinned == layers.evaluate(f"el => `translate(${{el.colX[{n - 1}]}}px, ${{el.x.L * 20}}px)`")  # output row
    views["head"].locator("select").first.select_option("1")           # a layer chosen in the head view ...
    next_frame(page)
    assert views["neuron"].locator("select").first.input_value() == "1"
    views["neuron"].locator("select").nth(1).select_option("3")         # ... and a head chosen in the neuron view
    next_frame(page)
    assert pressed_heads(views["head"]) == [3]
    assert views["head"].locator("select").first.input_value() == "1"
