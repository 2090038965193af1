"""The head and model views on an encoder-decoder model (a tiny BART: 2 encoder layers with 4 heads, 3 decoder layers
with 2 heads) in headless Chromium: three labelled parts, the token sides of each, and the numbers of the payload."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest
import torch
from conftest import payload_of
from conftest import build_site, next_frame, ready, write_test_site_config

from generator.payload import decode_array

pytestmark = [pytest.mark.browser, pytest.mark.slow]
LABELS = ["Encoder self-attention", "Decoder self-attention", "Cross-attention"]


@pytest.fixture(scope="module")
def site(tmp_path_factory, byte_level_tokenizer, serve):
    from transformers import BartConfig, BartForConditionalGeneration

    root = tmp_path_factory.mktemp("seq2seq-site")
    torch.manual_seed(0)
    BartForConditionalGeneration(BartConfig(
        vocab_size=len(byte_level_tokenizer), d_model=32, encoder_layers=2, decoder_layers=3,
        encoder_attention_heads=4, decoder_attention_heads=2, encoder_ffn_dim=64, decoder_ffn_dim=64,
        max_position_embeddings=128, init_std=0.3, pad_token_id=0, bos_token_id=1, eos_token_id=2,
        decoder_start_token_id=2, forced_eos_token_id=None)).save_pretrained(root / "bart")
    byte_level_tokenizer.save_pretrained(root / "bart")
    (root / "docs").mkdir()
    (root / "docs" / "index.md").write_text(textwrap.dedent(f"""\
        # Seq2seq

        ```explorable
        model: {root / "bart"}
        text: The cat sat on the mat because it was warm.
        generate: 5
        views: [head, model]
        ```
        """), encoding="utf-8")
    write_test_site_config(root, "Encoder-decoder test site")
    build_site(root / "mkdocs.yml", root / "site")
    return serve(root / "site")



def test_head_view_shows_each_part_with_its_token_sides(open_page):
    page = open_page()
    view = page.locator("explorable-head-view")
    assert ready(page, view) == "ready"
    payload = payload_of(view)
    source, target = payload["tokens"], payload["target_tokens"]
    part = view.locator(".xp-part select")
    assert part.locator("option").all_inner_texts() == LABELS
    assert view.locator(".xp-head").count() == 4                         # the encoder's heads
    assert view.locator(".xp-q .xp-tok").count() == view.locator(".xp-col:not(.xp-q) .xp-tok").count() == len(source)

    part.select_option(label="Cross-attention")
    next_frame(page)
    assert view.locator(".xp-head").count() == 2                         # the decoder's heads
    assert view.locator("select[aria-label=Layer] option").count() == 3
    assert view.locator(".xp-cap").all_inner_texts()[:2] == ["query (target)", "key (source)"]
    assert view.locator(".xp-q .xp-tok").count() == len(target)
    assert view.locator(".xp-col:not(.xp-q) .xp-tok").count() == len(source)
    view.locator("select[aria-label=Layer]").select_option("2")
    view.locator(".xp-q .xp-tok").nth(3).hover()
    next_frame(page)
    cross = decode_array(payload["attention"]["cross"])
    readout = view.locator(".xp-readout").inner_text().splitlines()
    for head in (0, 1):
        row = cross[2, head, 3]
        line = next(line for line in readout if line.startswith(f"head {head}:"))
        assert line.endswith(f"{row.max():.3f}"), (line, row)

    part.select_option(label="Decoder self-attention")
    next_frame(page)
    view.locator(".xp-q .xp-tok").first.hover()                          # the start token sees only itself
    next_frame(page)
    assert view.locator(".xp-readout").inner_text().count("1.000") == 2


def test_model_view_grid_and_enlarged_head_are_decoder_by_encoder(open_page):
    page = open_page()
    view = page.locator("explorable-model-view")
    assert ready(page, view) == "ready"
    payload = payload_of(view)
    n, t = len(payload["tokens"]), len(payload["target_tokens"])
    view.locator(".xp-part select").select_option(label="Cross-attention")
    next_frame(page)
    assert view.locator(".xp-rows span").all_inner_texts() == ["L0", "L1", "L2"]
    assert view.locator(".xp-cols span").all_inner_texts() == ["H0", "H1"]
    size = view.locator("canvas.xp-grid").evaluate("c => [c.width, c.height]")
    side = lambda k: k * -(-48 // k) if k < 48 else min(k, 80)  # noqa: E731  (the view's thumbnail rule)
    assert size == [2 * (side(n) + 4) - 4, 3 * (side(t) + 4) - 4]
    view.locator("canvas.xp-grid").focus()
    for key in ("ArrowDown", "ArrowRight", "Enter"):
        page.keyboard.press(key)
    heat = view.locator("canvas.xp-heat")
    assert heat.evaluate("c => [c.width, c.height]") == [n, t]
    assert view.locator(".xp-drows .xp-tok").count() == t and view.locator(".xp-dcols .xp-tok").count() == n
    for _ in range(2):
        page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowRight")
    next_frame(page)
    weight = decode_array(payload["attention"]["cross"])[1, 1, 2, 1]
    assert view.locator(".xp-detail .xp-readout").inner_text().endswith(f"{weight:.3f}")
    assert "Cross-attention, layer 1, head 1" in view.evaluate("el => el.figure(true)[1]")
