"""<explorable-contrast-view> and <explorable-attention-counterfactual-view> in headless Chromium, on a small site
baked from tiny models: the aligned versions with the contrast's changed words outlined and shaded by the payload's
saliency, versions and search steps chosen with the keyboard, the output bars, a pair's similarity bar, the
counterfactual attention rows (one per layer and one for all) and their readout, a pinned token shared with a
linked view, the slate palette, a phone's width without sideways overflow, and payload text shown as text."""

from __future__ import annotations

import textwrap

import pytest
from conftest import payload_of
from conftest import build_site, next_frame, write_test_site_config
from conftest import ready as ready_within

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def site(tmp_path_factory, tiny_models, serve):
    root = tmp_path_factory.mktemp("counterfactuals-site")
    (root / "docs").mkdir()
    (root / "docs" / "index.md").write_text(textwrap.dedent("""\
        # Counterfactuals

        ```explorable
        model: {llama}
        text: "The <b>old</b> man walked his dog in the park near the"
        generate: 1
        views: [contrast, attention_counterfactual, saliency]
        counterfactuals: {{contrasts: ["The <b>old</b> woman walked her cat in the park near the"], budget: 32,
                           positions: 3, candidates: 3, permutations: 3, self_explanation: true,
                           explanation_tokens: 12, draws: 4}}
        ```

        ```explorable
        model: {bert}
        pair: [A man plays a guitar., Someone makes music.]
        views: [contrast]
        counterfactuals: {{threshold: -0.5, budget: 16, positions: 2, candidates: 2,
                           contrasts: [[A man plays a guitar., A dog eats food.]]}}
        ```
        """).format(**tiny_models), encoding="utf-8")
    write_test_site_config(root, "Counterfactuals view test site")
    build_site(root / "mkdocs.yml", root / "site")
    return serve(root / "site")


def ready(page, view):
    return ready_within(page, view, timeout=30000)



def test_the_contrast_is_aligned_with_changed_words_outlined_and_saliency_shaded(open_page):
    page = open_page()
    view = page.locator("explorable-contrast-view").first
    assert ready(page, view) == "ready"
    section = payload_of(view)["counterfactuals"]
    contrast = section["contrasts"][0]
    rows = view.locator(".xp-crow")
    bottoms = view.locator(".xp-chunk .xp-crow:nth-child(2) .xp-tok")
    texts = bottoms.all_inner_texts()
    assert "".join(texts).replace("·", " ") == "".join(t["text"] for t in contrast["tokens"])
    changed = view.locator(".xp-chunk .xp-crow:nth-child(2) .xp-tok.xp-chg").all_inner_texts()
    assert sorted(t.strip("·") for t in changed) == sorted(contrast["tokens"][i]["text"].strip()
                                                             for i in contrast["align"]["changed"])
    # shading: --w is the share over the shown peak; the strongest token of either row is shaded fully
    weights = bottoms.evaluate_all("ns => ns.map(n => parseFloat(n.style.getPropertyValue('--w')))")
    peak = max(max(section["original"]["saliency"]), max(contrast["saliency"]))
    for w, s in zip(weights, contrast["saliency"]):
        assert w == pytest.approx(s / peak, abs=2e-3)
    assert rows.count() > 0
    assert view.locator("b", has_text="<b>old</b>").count() == 0          # text stays text
    assert "<b>old</b>" in "".join(texts).replace("·", " ")


def test_versions_and_search_steps_are_chosen_with_the_keyboard(open_page):
    page = open_page()
    view = page.locator("explorable-contrast-view").first
    assert ready(page, view) == "ready"
    section = payload_of(view)["counterfactuals"]
    buttons = view.locator(".xp-bar .xp-mbtn")
    buttons.first.focus()
    page.keyboard.press("ArrowRight")
    next_frame(page)              # the version's repaint (in the next animation frame) replaces the step buttons
    assert buttons.nth(1).get_attribute("aria-checked") == "true"
    assert buttons.nth(1).evaluate("b => b === document.activeElement")
    search = section["searches"]["minimal"]
    steps = view.locator(".xp-steps .xp-mbtn")
    assert steps.count() == len(search["steps"]) + 1
    steps.first.focus()
    assert steps.first.evaluate("b => b === document.activeElement")
    page.keyboard.press("ArrowRight")
    next_frame(page)              # the step's repaint (the view paints in the next animation frame)
    assert steps.nth(1).get_attribute("aria-checked") == "true"
    assert steps.nth(1).evaluate("b => b === document.activeElement")          # focus survives the repaint
    first = search["steps"][0]
    edited = view.locator(".xp-chunk .xp-crow:nth-child(2) .xp-tok.xp-chg").all_inner_texts()
    assert sorted(t.replace("·", " ") for t in edited) == sorted(text for _, text in first["edit"])
    assert f"k = {first['k']}" in steps.nth(1).inner_text()


def test_attention_rows_one_per_layer_and_all_with_a_readout_and_a_shared_layer(open_page):
    page = open_page()
    view = page.locator("explorable-attention-counterfactual-view").first
    assert ready(page, view) == "ready"
    a = payload_of(view)["counterfactuals"]["attention"]
    rows = view.locator(".xp-acr")
    assert rows.count() == a["layers"] + 1
    assert rows.last.locator(".xp-acl").inner_text() == "all"
    view.locator(".xp-acf").focus()
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    next_frame(page)              # the view paints the selection in the next animation frame
    assert rows.nth(1).get_attribute("aria-selected") == "true"
    assert f"{a['permutations']} permutations" in view.locator(".xp-readout").inner_text()


# the track of each row, and the centre of each row's uniform-attention diamond, in page pixels
_UNIFORM = """el => [...el.querySelectorAll('.xp-acr')].map(row => {
  const t = row.querySelector('.xp-act').getBoundingClientRect();
  const d = row.querySelector('.xp-acuni').getBoundingClientRect();
  return {left: t.left, width: t.width, centre: d.left + d.width / 2};
})"""


@pytest.mark.parametrize("width", [1100, 390])
def test_the_attention_axis_spans_the_measure_s_whole_range(open_page, width):
    """The axis ended at the largest value drawn, so a figure whose permutations barely moved the output filled its
    width as one whose output flipped (found by a fresh reader's trial). A total variation distance lies in [0, 1],
    and the change of the explained token's probability p in [-p, 1 - p]: the axis is that range, and each diamond
    sits where its value falls on it (read from the payload, not from the view's own arithmetic)."""
    page = open_page(viewport={"width": width, "height": 800})
    view = page.locator("explorable-attention-counterfactual-view").first
    assert ready(page, view) == "ready"
    a = payload_of(view)["counterfactuals"]["attention"]
    for button, key, (lo, hi) in [("output change (TVD)", "tvd", (0, 1)),
                                  ("Δ p(explained)", "dprob", (-a["prob"], 1 - a["prob"]))]:
        view.get_by_role("radio", name=button).click()
        next_frame(page)
        ends = [float(text.replace("−", "-")) for text in view.locator(".xp-acx span").all_inner_texts()]
        assert ends == pytest.approx([lo, hi], abs=5e-3 * max(1, abs(lo), abs(hi))), (key, ends)
        assert max(u[key] for u in a["uniform"]) < hi or key == "dprob"    # the end is not the largest value
        for row, uniform in zip(view.evaluate(_UNIFORM), a["uniform"]):
            share = (uniform[key] - lo) / (hi - lo)
            assert row["centre"] == pytest.approx(row["left"] + share * row["width"], abs=1.0), (key, row, uniform)


def test_a_pinned_token_is_shared_with_the_saliency_view(open_page):
    page = open_page()
    view = page.locator("explorable-contrast-view").first
    assert ready(page, view) == "ready"
    saliency = page.locator("explorable-saliency-view").first
    assert ready(page, saliency) == "ready"
    view.locator(".xp-crow .xp-tok[data-i='2']").first.click()
    assert saliency.locator(".xp-tok[data-i='2']").evaluate("n => n.classList.contains('xp-on')")


def test_a_pair_shows_its_similarity_and_a_phone_has_no_overflow(open_page):
    page = open_page(viewport={"width": 390, "height": 800}, color_scheme="dark")
    view = page.locator("explorable-contrast-view").nth(1)
    assert ready(page, view) == "ready"
    section = payload_of(view)["counterfactuals"]
    assert section["kind"] == "similarity"
    assert view.locator(".xp-cout b", has_text="similarity").count() == 1
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")


def test_the_models_own_explanation_is_shown_as_text_with_its_deletion_test(open_page, tmp_path):
    for width in (1280, 390):
        page = open_page(viewport={"width": width, "height": 900})
        view = page.locator("explorable-contrast-view").first
        assert ready(page, view) == "ready"
        record = payload_of(view)["counterfactuals"]["self_explanation"]
        panel = view.locator(".xp-self")
        quote = panel.locator(".xp-self-text")
        assert quote.evaluate("q => q.children.length") == 0                 # the model's words stay text
        assert quote.evaluate("q => q.textContent") == (record["explanation"] or "(an empty answer)")
        assert "Why did you continue the text with" in panel.inner_text()     # the question asked
        if record["deleted"]:
            assert panel.locator(".xp-self-row").count() == 3
            assert f"{record['random_at_least']} of {record['draws']}" in panel.inner_text()
        else:
            assert "names no word of the text" in panel.inner_text()
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
        panel.screenshot(path=str(tmp_path / f"self-{width}.png"))     # to look at
