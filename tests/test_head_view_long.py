"""The head view of a long text in headless Chromium (issue 22): virtualised token columns and the PNG / SVG export.

A tiny random Llama (4 layers x 4 heads) reads 1,200 tokens, so the payload is in layers, as SmolLM2's at 2,048
tokens is (generator/methods/attention.py), and is split into data files as the site splits it. Checked here:
- only the rows near the viewport are in the DOM, and they follow the scroll; each option says its place;
- the keyboard moves the selection past the rendered rows: the page scrolls, the right token is focused and pinned;
- a focused token scrolled far out of the rendered rows keeps the focus (out of the flow, the rows in view where they
  belong), and the next arrow key goes on from it;
- the lines drawn for a pinned query are those of the payload's weights of at least 0.01 (the payload decoded here
  in Python, independently of the page's decoder), key by key, in the band drawn;
- "save PNG" of the long view gives a picture of the rows in view under Chrome's largest canvas, not blank, and
  "save SVG" names those rows in its caption and holds their tokens, not the others."""

from __future__ import annotations

import html
import json
import re
import shutil

import pytest
from conftest import REPO
from test_long_attention import _long_llama, _text_of

from generator.bake import Baker
from generator.methods import REGISTRY
from generator.payload.parts import data_name, split
from generator.payload.sparse_rows import decode_sparse_rows
from generator.spec import spec_from_data

pytestmark = [pytest.mark.browser, pytest.mark.slow]

N = 1200
ROW = 22                      # px per token row (head-lines.js ROW; the CSS gives .xp-col .xp-tok 22 px)
PAGE = """<!doctype html><html><head><meta charset="utf-8"><link rel="stylesheet" href="bundle/explorables.css">
</head><body><h1>Long</h1><div class="explorable" data-src="{name}"><explorable-head-view></explorable-head-view></div>
<script src="bundle/explorables.iife.js"></script><script src="bundle/explorables-attention.iife.js"></script></body></html>"""


@pytest.fixture(scope="module")
def long_page(tmp_path_factory, byte_level_tokenizer, serve):
    tmp = tmp_path_factory.mktemp("long-head")
    folder = _long_llama(tmp, byte_level_tokenizer)
    text = _text_of(byte_level_tokenizer, N)
    spec = spec_from_data({"model": str(folder), "text": text, "views": ["head"], "max_tokens": N}, file="long.md")
    payload = Baker(tmp / "cache").payload(spec)
    full = json.loads(payload)
    assert len(full["tokens"]) == N and "layers" in full["attention"], "the text is long enough to be in layers"
    root = tmp / "site"
    shutil.copytree(REPO / "generator" / "assets" / "bundle", root / "bundle")
    (root / "data").mkdir()
    main, parts = split(payload, REGISTRY.parts(), REGISTRY.detached())
    (root / "data" / data_name(main)).write_bytes(main)
    for name, data in parts.items():
        (root / "data" / name).write_bytes(data)
    (root / "index.html").write_text(PAGE.format(name=data_name(main)), encoding="utf-8")
    return serve(root), full


def _open(browser, base, width=1280, height=900):
    context = browser.new_context(viewport={"width": width, "height": height}, accept_downloads=True)
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: m.type == "error" and not m.text.startswith("Failed to load resource") and errors.append(m.text))
    page.on("response", lambda r: r.status >= 400 and not r.url.endswith("/favicon.ico") and errors.append(f"{r.status} {r.url}"))
    page.goto(base)
    view = page.locator("explorable-head-view")
    page.wait_for_function("el => el.dataset.state === 'ready' && el.dataset.firstPaintMs", arg=view.element_handle(),
                           timeout=60_000)
    return context, page, view, errors


ROWS = """el => [...el.querySelectorAll('.xp-col')].map(c => [...c.querySelectorAll('.xp-tok')].map(t => +t.dataset.i))"""
SETTLED = """el => new Promise(r => { const t = () => el.more || el.frame ? requestAnimationFrame(t) : r(); requestAnimationFrame(t); })"""


def test_only_rows_near_the_viewport_are_in_the_dom_and_follow_the_scroll(browser, long_page):
    base, full = long_page
    context, page, view, errors = _open(browser, base)
    queries, keys = view.evaluate(ROWS)
    assert 0 < len(queries) < 300 and len(keys) == len(queries), "a window of rows, not all 1,200 of each column"
    assert queries == list(range(queries[0], queries[-1] + 1)) and queries[0] == 0
    first = view.locator(".xp-col.xp-q .xp-tok").first
    assert first.get_attribute("aria-setsize") == str(N) and first.get_attribute("aria-posinset") == "1"
    assert first.get_attribute("role") == "option"
    # the columns keep the figure's full height: the page scrolls through every token
    top = view.evaluate("el => el.querySelector('.xp-col.xp-q').getBoundingClientRect().top + scrollY")
    assert view.evaluate("el => el.querySelector('.xp-col.xp-q').getBoundingClientRect().height") == N * ROW
    page.evaluate(f"scrollTo(0, {top + 590 * ROW})")
    page.wait_for_function(f"el => el.querySelector('.xp-col.xp-q .xp-tok[data-i=\"600\"]')", arg=view.element_handle())
    queries, _ = view.evaluate(ROWS)
    assert 0 not in queries and 600 in queries and len(queries) < 300
    shown = view.locator('.xp-col.xp-q .xp-tok[data-i="600"]')
    box = shown.bounding_box()
    assert 0 <= box["y"] <= 900 and abs(box["height"] - ROW) < 1, "row 600 sits where the figure puts it, in view"
    assert shown.inner_text().replace("·", " ").strip() == full["tokens"][600]["text"].strip()
    context.close()
    assert not errors, errors


def test_the_keyboard_moves_past_the_rendered_rows_and_pins_the_right_token(browser, long_page):
    base, full = long_page
    context, page, view, errors = _open(browser, base)
    last = max(view.evaluate(ROWS)[0])
    view.locator(".xp-col.xp-q .xp-tok").first.focus()
    target = last + 30                        # beyond the rows in the DOM when the view started
    for _ in range(target):
        page.keyboard.press("ArrowDown")
    focused = page.evaluate("({i: +document.activeElement.dataset.i, s: document.activeElement.dataset.s, "
                            "y: document.activeElement.getBoundingClientRect().top, text: document.activeElement.textContent})")
    assert focused["i"] == target and focused["s"] == "0"
    assert 0 <= focused["y"] <= 900, "the focused token was scrolled into view"
    assert focused["text"].replace("·", " ") == full["tokens"][target]["text"]
    page.keyboard.press("Enter")
    page.wait_for_function("el => el.querySelector('.xp-readout .xp-ro')", arg=view.element_handle())
    node = view.locator(f'.xp-col.xp-q .xp-tok[data-i="{target}"]')
    assert node.get_attribute("aria-selected") == "true"
    readout = view.locator(".xp-readout").inner_text()
    assert readout.count("head ") == 4 and all(line.split(": ", 1)[1].startswith(focused["text"]) for line in readout.splitlines())
    # the tab stop is the focused row: Tab away and back lands on it
    assert node.get_attribute("tabindex") == "0" and view.locator('.xp-tok[tabindex="0"]').count() == 1
    context.close()
    assert not errors, errors


def test_a_focused_token_scrolled_far_away_keeps_the_focus(browser, long_page):
    base, full = long_page
    context, page, view, errors = _open(browser, base)
    view.locator(".xp-col.xp-q .xp-tok").first.focus()
    for _ in range(5):
        page.keyboard.press("ArrowDown")
    top = view.evaluate("el => el.querySelector('.xp-col.xp-q').getBoundingClientRect().top + scrollY")
    page.evaluate(f"scrollTo(0, {top + 690 * ROW})")
    page.wait_for_function("el => el.querySelector('.xp-col.xp-q .xp-tok[data-i=\"700\"]')", arg=view.element_handle())
    queries, _ = view.evaluate(ROWS)
    assert 0 not in queries and 4 not in queries and 6 not in queries, "the rows near the top left the DOM"
    active = page.evaluate("({i: +document.activeElement.dataset.i, s: document.activeElement.dataset.s, "
                           "inView: document.activeElement.closest('explorable-head-view') !== null})")
    assert active == {"i": 5, "s": "0", "inView": True}, "the focused token was kept, not dropped with its rows"
    # the kept row is out of the flow: the rows in view are where the figure puts them
    col_top = view.evaluate("el => el.querySelector('.xp-col.xp-q').getBoundingClientRect().top")
    box = view.locator('.xp-col.xp-q .xp-tok[data-i="700"]').bounding_box()
    assert abs(box["y"] - (col_top + 700 * ROW)) < 1
    assert 0 <= box["y"] <= 900
    # the keyboard goes on from the focused token: ArrowDown focuses row 6 and scrolls it into view
    page.keyboard.press("ArrowDown")
    moved = page.evaluate("({i: +document.activeElement.dataset.i, y: document.activeElement.getBoundingClientRect().top, "
                          "text: document.activeElement.textContent})")
    assert moved["i"] == 6 and 0 <= moved["y"] <= 900
    assert moved["text"].replace("·", " ") == full["tokens"][6]["text"]
    context.close()
    assert not errors, errors


def test_lines_drawn_for_a_pinned_query_are_the_payloads_weights_from_0_01(browser, long_page):
    base, full = long_page
    context, page, view, errors = _open(browser, base)
    layer = 1
    lines, _ = decode_sparse_rows(full["attention"]["lines"][layer])        # [H, N, N], Python's own decoder
    # a query row far down with lines to keys near it (in the band drawn around it), and to others
    head, row = next((hd, r) for r in range(700, N) for hd in range(4)
                     if 2 <= (lines[hd, r, r - 20:r + 1] >= 0.01).sum() < (lines[hd, r] >= 0.01).sum())
    view.locator("select").first.select_option(str(layer))
    view.get_by_role("button", name="none").click()
    view.get_by_role("button", name=f"head {head}", exact=True).click()
    top = view.evaluate("el => el.querySelector('.xp-col.xp-q').getBoundingClientRect().top + scrollY")
    page.evaluate(f"scrollTo(0, {top + (row - 10) * ROW})")
    page.wait_for_function(f"el => el.querySelector('.xp-col.xp-q .xp-tok[data-i=\"{row}\"]')", arg=view.element_handle())
    view.locator(f'.xp-col.xp-q .xp-tok[data-i="{row}"]').click()
    page.mouse.move(0, 0)
    view.evaluate(SETTLED)
    ink = view.evaluate("""el => {
      const c = el.querySelector('canvas'), band = parseFloat(c.style.top), dpr = c.width / c.clientWidth;
      const ctx = c.getContext('2d'), x = Math.floor((c.clientWidth - 4) * dpr), out = {};
      for (let j = Math.ceil(band / 22); (j * 22 + 11 - band) * dpr < c.height - 1; j++) {
        const y = Math.floor((j * 22 + 11 - band) * dpr);
        out[j] = ctx.getImageData(x, y, 1, 1).data[3];
      }
      return out;
    }""")
    drawn = {int(j) for j, alpha in ink.items() if alpha > 0}
    expected = {j for j in map(int, ink) if lines[head, row, j] >= 0.01}
    assert len(ink) > 40 and expected, "a band of keys holding some of the row's lines"
    assert drawn == expected, (sorted(drawn ^ expected), [float(lines[head, row, j]) for j in sorted(drawn ^ expected)])
    context.close()
    assert not errors, errors


def test_save_png_and_svg_of_a_long_view_show_the_rows_in_view_under_the_canvas_limit(browser, long_page, tmp_path):
    from PIL import Image
    base, full = long_page
    context, page, view, errors = _open(browser, base)
    top = view.evaluate("el => el.querySelector('.xp-col.xp-q').getBoundingClientRect().top + scrollY")
    page.evaluate(f"scrollTo(0, {top + 500 * ROW})")
    page.wait_for_function("el => el.querySelector('.xp-col.xp-q .xp-tok[data-i=\"500\"]')", arg=view.element_handle())
    view.evaluate(SETTLED)
    with page.expect_download() as png:
        view.get_by_role("button", name="save PNG").click()
    name = png.value.suggested_filename
    first, last = map(int, re.search(r"tokens(\d+)-(\d+)\.png$", name).groups())
    # the controls stay in sight (sticky): the click does not scroll; the rows under them are not "in view"
    assert 501 <= first <= 505 and 900 // ROW - 5 <= last - first + 1 <= 900 // ROW + 2, name
    path = tmp_path / name
    png.value.save_as(path)
    image = Image.open(path).convert("RGB")
    assert 2 * (last - first + 1) * ROW < image.height < 32767, image.size
    # lines in the middle third of the picture (between the token columns): coloured, not a blank canvas
    middle = image.crop((image.width // 3, image.height // 4, 2 * image.width // 3, 3 * image.height // 4))
    colours = {px for _, px in middle.getcolors(1 << 22) if max(px) - min(px) > 40}
    assert len(colours) > 20, "the exported lines are drawn"
    with page.expect_download() as svg:
        view.get_by_role("button", name="save SVG").click()
    text = open(svg.value.path(), encoding="utf-8").read()
    assert f"tokens {first}–{last} of {N}" in text
    shown = re.findall(r"<text [^>]*>([^<]*)</text>", text)
    # the rows exported are the page's tokens first-1 .. last-1 (1-based in the caption), both columns
    # the rows exported, in both columns (a token may be drawn as more than one text: its space mark, its letters)
    rows = "".join(t["text"].replace(" ", "·").replace("\n", "↵") for t in full["tokens"][first - 1:last])
    joined = "".join(html.unescape(s) for s in shown)
    assert joined.count(rows) == 2, "the query and the key column each hold the rows in view"
    assert len(joined) < 2 * len(rows) + 400, "and no other token"
    assert view.locator(".xp-hv").count() == 1, "the copy drawn for the export is gone"
    context.close()
    assert not errors, errors
