"""<explorable-neuron-view> in headless Chromium, on a small site baked from tiny models whose attention is far from
uniform: the weights it shows are the softmax of the payload's q and k (computed here with numpy) and the model's
own attention; it follows pointer, touch and keyboard, sorts dimensions, masks later keys of a causal model, fits a
phone, follows the palette, and reports a broken payload inline."""

from __future__ import annotations

import json
import textwrap

import numpy as np
import pytest
import torch
from conftest import CANVAS_PIXELS, build_site, next_frame, ready, write_test_site_config

from generator.payload import decode_array

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def site(tmp_path_factory, byte_level_tokenizer, wordpiece_tokenizer, serve):
    from transformers import BertConfig, BertModel, LlamaConfig, LlamaForCausalLM

    root = tmp_path_factory.mktemp("neuron-site")
    torch.manual_seed(0)
    small = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                 max_position_embeddings=128, initializer_range=0.4, attn_implementation="eager")
    LlamaForCausalLM(LlamaConfig(**small, num_key_value_heads=2, vocab_size=len(byte_level_tokenizer))
                     ).save_pretrained(root / "llama")
    byte_level_tokenizer.save_pretrained(root / "llama")
    BertModel(BertConfig(**small, vocab_size=len(wordpiece_tokenizer))).save_pretrained(root / "bert")
    wordpiece_tokenizer.save_pretrained(root / "bert")
    (root / "docs").mkdir()
    (root / "docs" / "index.md").write_text(textwrap.dedent("""\
        # Neuron

        ```explorable
        model: {llama}
        text: "The cat <b>sat</b> on the mat because it was warm."
        views: [neuron, head]
        neuron: {{query: 4}}
        ```

        ```explorable
        model: {bert}
        pair: ["Where is the cat?", "The cat is on the mat."]
        views: [neuron]
        neuron: {{layers: 1, heads: [0, 3]}}
        ```

        [Broken](broken.md)
        """).format(llama=root / "llama", bert=root / "bert"), encoding="utf-8")
    (root / "docs" / "broken.md").write_text(textwrap.dedent("""\
        # Broken

        <div class="explorable" data-payload="{&quot;schema_version&quot;: 1, &quot;tokens&quot;: [{&quot;text&quot;: &quot;a&quot;}], &quot;neuron&quot;: {&quot;layers&quot;: [0], &quot;heads&quot;: [0], &quot;key_heads&quot;: [0], &quot;d_head&quot;: 4, &quot;scales&quot;: [0.5], &quot;queries&quot;: [{&quot;dtype&quot;: &quot;uint16&quot;, &quot;shape&quot;: [1, 2, 4], &quot;data&quot;: &quot;&quot;}], &quot;keys&quot;: [{&quot;dtype&quot;: &quot;uint16&quot;, &quot;shape&quot;: [1, 1, 4], &quot;data&quot;: &quot;&quot;}]}}">
        <explorable-neuron-view></explorable-neuron-view>
        </div>
        """), encoding="utf-8")
    write_test_site_config(root, "Neuron view test site")
    build_site(root / "mkdocs.yml", root / "site")
    return serve(root / "site")


def payload_of(page, view) -> dict:
    return json.loads(view.evaluate("el => el.closest('.explorable').dataset.payload"))


def expected_row(payload, layer_slot, head_slot, query):
    """softmax(q . k * scale) with the causal mask, from the decoded payload (numpy, not the view's code)."""
    section, model = payload["neuron"], payload["model"]
    q = decode_array(section["queries"][layer_slot])[head_slot]
    group = model["n_heads"] // model["n_kv_heads"]
    k = decode_array(section["keys"][layer_slot])[section["key_heads"].index(section["heads"][head_slot] // group)]
    scores = q[query] @ k.T * section["scales"][layer_slot]
    if section["causal"]:
        scores[query + 1:] = -np.inf
    weights = np.exp(scores - scores.max())
    return weights / weights.sum(), q, k


def shown_weights(view) -> np.ndarray:
    return np.array([float(t) for t in view.locator(".xp-nnum").last.locator("span").all_inner_texts()])


def test_shows_the_softmax_of_q_and_k_which_is_the_models_attention(open_page):
    page = open_page()
    view = page.locator("explorable-neuron-view").first
    assert ready(page, view) == "ready"
    payload = payload_of(page, view)
    assert payload["neuron"]["query"] == 4
    expected, _, _ = expected_row(payload, 0, 0, 4)
    shown = shown_weights(view)
    np.testing.assert_allclose(shown, expected, atol=0.0005 + 1e-6)   # three decimals shown
    attention = decode_array(payload["attention"]["values"])[0, 0, 4]
    np.testing.assert_allclose(shown, attention, atol=0.0005 + 1 / 510 + 1e-3)
    assert np.abs(attention[:5] - 1 / 5).max() > 0.05, "the row is far from uniform"
    scores = view.locator(".xp-nnum").first.locator("span").all_inner_texts()
    assert scores[5:] == ["masked"] * (len(scores) - 5)             # causal: keys after the query
    assert (shown[5:] == 0).all()
    assert view.locator(".xp-q .xp-tok").nth(4).get_attribute("aria-selected") == "true"
    assert page.evaluate(CANVAS_PIXELS, view.element_handle()) != 0


def test_layer_head_and_query_selection(open_page):
    page = open_page()
    view = page.locator("explorable-neuron-view").first
    ready(page, view)
    payload = payload_of(page, view)
    view.locator("select").nth(0).select_option("1")
    view.locator("select").nth(1).select_option("3")
    next_frame(page)
    assert "key head 1 (shared by heads 2–3)" in view.inner_text()
    view.locator(".xp-q .xp-tok").nth(7).hover()
    next_frame(page)
    expected, _, _ = expected_row(payload, 1, 3, 7)
    np.testing.assert_allclose(shown_weights(view), expected, atol=0.0005 + 1e-6)
    page.mouse.move(0, 0)                                          # leaving the column restores the pinned query
    next_frame(page)
    expected, _, _ = expected_row(payload, 1, 3, 4)
    np.testing.assert_allclose(shown_weights(view), expected, atol=0.0005 + 1e-6)


def test_keyboard_moves_the_query_and_reads_a_cell(open_page):
    page = open_page()
    view = page.locator("explorable-neuron-view").first
    ready(page, view)
    payload = payload_of(page, view)
    view.locator(".xp-q .xp-tok").nth(4).focus()
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    next_frame(page)
    assert page.evaluate("document.activeElement.dataset.i") == "5"
    assert view.locator(".xp-q .xp-tok").nth(5).get_attribute("aria-selected") == "true"
    expected, q, k = expected_row(payload, 0, 0, 5)
    np.testing.assert_allclose(shown_weights(view), expected, atol=0.0005 + 1e-6)
    view.locator(".xp-nstrips").focus()
    for key in ("ArrowDown", "ArrowDown", "ArrowRight", "ArrowRight", "ArrowRight"):
        page.keyboard.press(key)
    next_frame(page)
    readout = view.locator(".xp-readout").inner_text()
    line = next(line for line in readout.splitlines() if line.startswith("dim 3 of"))
    q_shown = float(line.split("q = ")[1].split(",")[0].replace("−", "-"))
    k_shown = float(line.split("k = ")[1].split(",")[0].replace("−", "-"))
    assert q_shown == pytest.approx(q[5, 3], abs=0.0005 + 1e-4) and k_shown == pytest.approx(k[2, 3], abs=0.0005 + 1e-4)


def test_sorting_puts_the_deciding_dimensions_first(open_page):
    page = open_page()
    view = page.locator("explorable-neuron-view").first
    ready(page, view)
    payload = payload_of(page, view)
    _, q, k = expected_row(payload, 0, 0, 4)
    view.locator(".xp-col:not(.xp-q) .xp-tok").nth(1).click()      # pin key 1
    view.locator("input[type=checkbox]").check()
    next_frame(page)
    product = q[4] * k[1]
    top = np.argsort(-np.abs(product))[:3]
    readout = view.locator(".xp-readout").inner_text()
    order = [int(part.split()[1]) for part in readout.split("largest |q ⊙ k|: ")[1].split(" (")[0].split(", ")]
    assert order == top.tolist()
    before = page.evaluate(CANVAS_PIXELS, view.element_handle())
    view.locator("input[type=checkbox]").uncheck()
    next_frame(page)
    assert page.evaluate(CANVAS_PIXELS, view.element_handle()) != before, "sorting reorders the drawn dimensions"


def test_encoder_pair_has_no_mask_and_only_the_baked_heads(open_page):
    page = open_page()
    view = page.locator("explorable-neuron-view").nth(1)
    ready(page, view)
    payload = payload_of(page, view)
    assert payload["neuron"]["layers"] == [1] and payload["neuron"]["heads"] == [0, 3]
    assert view.locator("select").count() == 1                     # one layer: no layer selector
    assert [o for o in view.locator("select option").all_inner_texts()] == ["Head 0", "Head 3"]
    query = payload["neuron"]["query"]
    assert not payload["tokens"][query]["special"]
    expected, _, _ = expected_row(payload, 0, 0, query)
    np.testing.assert_allclose(shown_weights(view), expected, atol=0.0005 + 1e-6)
    assert "masked" not in view.inner_text()


def test_touch_picks_a_query_and_fits_a_phone(open_page):
    page = open_page(has_touch=True, is_mobile=True, viewport={"width": 390, "height": 800})
    view = page.locator("explorable-neuron-view").first
    ready(page, view)
    payload = payload_of(page, view)
    view.locator(".xp-q .xp-tok").nth(2).tap()
    next_frame(page)
    expected, _, _ = expected_row(payload, 0, 0, 2)
    np.testing.assert_allclose(shown_weights(view), expected, atol=0.0005 + 1e-6)
    assert view.locator(".xp-nv").get_attribute("class").split() == ["xp-nv", "xp-narrow"]
    assert not view.locator(".xp-nnum").first.is_visible()
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    box = view.locator(".xp-nv").bounding_box()
    assert box["x"] + box["width"] <= 390 + 1, "the figure fits the phone's width"


def test_payload_text_is_text_and_palette_redraws(open_page):
    page = open_page()
    view = page.locator("explorable-neuron-view").first
    ready(page, view)
    assert view.locator("b").count() == 0 and "<b>" in view.locator(".xp-q").inner_text().replace("\n", "")
    before = page.evaluate(CANVAS_PIXELS, view.element_handle())
    page.evaluate("document.body.setAttribute('data-md-color-scheme', 'slate')")
    next_frame(page)
    assert page.evaluate(CANVAS_PIXELS, view.element_handle()) != before


def test_broken_payload_is_reported_inline(open_page):
    page = open_page("broken/")
    view = page.locator("explorable-neuron-view")
    assert ready(page, view) == "error"
    assert "queries of layer 0 do not have shape [1, 1, 4]" in view.inner_text()
