"""The lens views (<explorable-layers-view>, <explorable-ranks-view>, <explorable-probabilities-view>) in headless
Chromium.

On a small site baked from tiny models: every cell of the prediction grid, the grid's readout, the ranks and the
probability cards equal the payload decoded here with numpy; the grid works from the keyboard and by touch; a position
pinned in one view is pinned in the others; the views follow the palette, start lazily, survive instant navigation,
show payload text as text and report an unreadable payload inline. On the project's own site: the "Layer by layer"
article draws real data without console errors at desktop and phone widths."""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

import numpy as np
import pytest
from conftest import build_site, next_frame, starts_lazily_and_survives_instant_navigation, write_test_site_config
from conftest import ready as ready_within

from generator.payload import decode_array

pytestmark = [pytest.mark.browser, pytest.mark.slow]
SPACER = "\n\n".join(f"Paragraph {i} of filler text, so that the next figure starts below the fold." for i in range(60))
WS = {" ": "·", "\n": "↵", "\t": "→", "\r": "␍", "\u00a0": "⍽"}
BROKEN = ('{&quot;schema_version&quot;: 1, &quot;tokens&quot;: [{&quot;text&quot;: &quot;a&quot;}], &quot;lens&quot;: '
          '{&quot;candidates&quot;: {&quot;text&quot;: [], &quot;ids&quot;: []}, &quot;top&quot;: {&quot;dtype&quot;: '
          '&quot;uint16&quot;, &quot;shape&quot;: [2, 1, 1], &quot;data&quot;: &quot;AAAA&quot;}}}')
VIEWS = "explorable-layers-view, explorable-ranks-view, explorable-probabilities-view"


@pytest.fixture(scope="module")
def site_root(tmp_path_factory, tiny_models):
    root = tmp_path_factory.mktemp("lens-site")
    (root / "docs").mkdir()
    (root / "docs" / "index.md").write_text(textwrap.dedent("""\
        # Lens

        ```explorable
        model: {llama}
        text: "The keys <b>to</b> the cabinet 我"
        generate: 3
        views: [layers, ranks, probabilities]
        lens: {{top_k: 3, watch: [" is", " are"]}}
        ```

        [Second page](second.md)

        {SPACER}

        ```explorable
        model: {gpt2}
        text: A figure far below the fold.
        views: [layers]
        ```
        """).format(SPACER=SPACER, **tiny_models), encoding="utf-8")
    (root / "docs" / "second.md").write_text(textwrap.dedent(f"""\
        # Second

        <div class="explorable" data-payload="{BROKEN}">
        <explorable-layers-view></explorable-layers-view>
        </div>

        [Back](index.md)
        """), encoding="utf-8")
    write_test_site_config(root, "Lens view test site")
    build_site(root / "mkdocs.yml", root / "site")
    return root


@pytest.fixture(scope="module")
def site(site_root, serve):
    return serve(site_root / "site")


def ready(page, view):
    return ready_within(page, view, timeout=30000)


def shown(text: str) -> str:
    """A token as the views print it: whitespace as visible glyphs (tokens.js)."""
    return "".join(WS.get(char, char) for char in text) or "∅"


def pct(p: float) -> str:
    """The views' percentage of a probability decoded into a Float32Array."""
    p = float(np.float32(p))
    return "0%" if p <= 0 else "<0.1%" if p < 0.0005 else f"{100 * p:.1f}%"


class Lens:
    """The lens section of a payload, decoded with numpy."""

    def __init__(self, payload: dict):
        s = payload["lens"]
        self.payload, self.tokens, self.n_prompt = payload, payload["tokens"], payload["n_prompt"]
        self.cand = s["candidates"]["text"]
        self.cand_ids = s["candidates"]["ids"]
        self.top = decode_array(s["top"]).round().astype(int)
        self.probs = decode_array(s["top_probs"])
        self.next_ranks = decode_array(s["next_ranks"]).round().astype(int)
        self.next_probs = decode_array(s["next_probs"])
        self.watch = [(w["text"], decode_array(w["ranks"]).round().astype(int), decode_array(w["probs"]))
                      for w in s["watch"]]
        self.ids, self.V = s["token_ids"], s["vocab_size"]
        self.L1, self.N, self.K = self.top.shape
        self.L = self.L1 - 1


def lens_of(view, root: Path | None = None) -> Lens:
    box = view.evaluate("el => { const c = el.closest('.explorable'); return [c.dataset.payload, c.dataset.src]; }")
    text = box[0] if box[0] is not None else (root / "site" / "assets" / "explorables" / "data" / box[1]).read_text()
    return Lens(json.loads(text))


def readout(view) -> str:
    return view.locator(".xp-readout").inner_text()


def cell(view, l: int, p: int, grid: int = 0):
    """A cell of a table grid (the ranks view)."""
    return view.locator("table.xp-lgrid").nth(grid).locator(f'td.xp-lc[data-r="{l}"][data-c="{p}"]')


def spot(view, l: int, p: int) -> tuple[float, float]:
    """Page coordinates of the centre of cell (layer l, position p) of the prediction grid's canvas (its row scrolled
    to the middle of the window and its column into the grid's scroller first)."""
    view.evaluate("(el, [l, p]) => { window.scrollBy(0, el.cv.getBoundingClientRect().top + (l + 0.5) * el.cv.clientHeight"
                  " / (el.x.L + 1) - innerHeight / 2); el.reveal(p); }", [l, p])
    box = view.locator("canvas.xp-lcanvas").bounding_box()
    x0, width, row = view.evaluate("(el, p) => [el.colX[p], el.colW[p], el.cv.clientHeight / (el.x.L + 1)]", p)
    return box["x"] + x0 + width / 2, box["y"] + (l + 0.5) * row


def hover(page, view, l: int, p: int) -> None:
    page.mouse.move(*spot(view, l, p))
    next_frame(page)


def cursor(view) -> list[int] | None:
    """The [layer, position] the grid's cursor box is on, from its placement."""
    return view.evaluate("""el => el.box.hidden ? null : [Math.round(parseFloat(el.box.style.transform.split(',')[1])
        / (el.cv.clientHeight / (el.x.L + 1))), el.colX.indexOf(Math.round(parseFloat(el.box.style.transform.slice(10))))]""")


# -- the prediction grid ---------------------------------------------------------------------------------------------

def test_every_grid_cell_reads_out_the_payload_s_top_k(open_page):
    page = open_page()
    view = page.locator("explorable-layers-view").first
    assert ready(page, view) == "ready"
    x = lens_of(view)
    heads = view.locator(".xp-lcols").first.locator(".xp-lcol").all_inner_texts()
    assert heads == [shown(t["text"]) for t in x.tokens]
    labels = view.locator(".xp-lrows span").all_inner_texts()
    assert labels == ["emb", *map(str, range(1, x.L)), f"{x.L} out"]
    for l in range(x.L1):
        for p in range(x.N):
            hover(page, view, l, p)
            assert cursor(view) == [l, p]
            text = readout(view)
            name = "embedding" if l == 0 else f"layer {l} (output)" if l == x.L else f"layer {l}"
            assert text.startswith(f"{name}, position {p}"), text
            for j in range(x.K):
                c = x.top[l, p, j]
                assert f"{j + 1}. “{shown(x.cand[c])}” {pct(x.probs[l, p, j])}" in text, (l, p, j, text)
            final = x.top[l, p, 0] == x.top[x.L, p, 0]
            assert ("its top token is the model's final prediction" in text) == (final and l < x.L), (l, p, text)
            if p < x.N - 1:
                after = shown(x.tokens[p + 1]["text"])
                rank = f"rank {x.next_ranks[l, p]:,} of {x.V:,}, {pct(x.next_probs[l, p])}"
                assert f"the token that came next, “{after}”" in text and rank in text, text
            else:
                assert "no token came after it" in text
    page.mouse.move(0, 0)
    next_frame(page)
    assert cursor(view) is None and "Hover, tap or focus" in readout(view)


# The old drawing, text by text with fillText (each cell: its heat, its top candidate centred, bold where it is the
# model's final prediction, cut to end in "…" when wider than the cell less 4 px, faint when only whitespace, a dashed
# underline when partial), on a canvas of the view's size; the cell -> candidate map comes from the payload (numpy).
FILL_TEXT_GRID = """(el, [top1, texts, partial, blank, swap]) => {
  const x = el.x, { L, N } = x, dpr = devicePixelRatio, ROW = 20, ref = document.createElement("canvas");
  Object.assign(ref, { width: el.cv.width, height: el.cv.height });
  const ctx = ref.getContext("2d"), cs = getComputedStyle(el.cv), font = `${cs.fontSize} ${cs.fontFamily}`;
  const heat = globalThis.explorables.modules["theme.js"].cssRGB(el, "--xp-heat"), fg = getComputedStyle(el).color;
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.textAlign = "center";
  ctx.textBaseline = "middle";
  for (let l = 0; l <= L; l++) for (let p = 0; p < N; p++) {
    const i = top1[swap ? (l + 1) % (L + 1) : l][p], X = el.colX[p], w = el.colW[p], y = l * ROW;
    ctx.fillStyle = `rgba(${heat},${(0.6 * x.topP[(l * N + p) * x.K]).toFixed(3)})`;
    ctx.fillRect(X + 0.5, y + 0.5, w - 1, ROW - 1);
    ctx.font = `${i === top1[L][p] ? 700 : 400} ${font}`;
    let t = texts[i];
    if (ctx.measureText(t).width > w - 4) {
      while (t.length > 1 && ctx.measureText(t).width > w - 4) t = t.slice(0, -1);
      t = t.slice(0, -1) + "…";
    }
    ctx.globalAlpha = blank[i] ? 0.7 : 1;
    ctx.fillStyle = fg;
    ctx.fillText(t, X + w / 2, y + ROW / 2 + 0.5);
    ctx.globalAlpha = 1;
    if (partial[i]) {
      ctx.setLineDash([2, 2]);
      ctx.strokeStyle = fg;
      ctx.beginPath();
      ctx.moveTo(X + 3, y + ROW - 3.5);
      ctx.lineTo(X + w - 3, y + ROW - 3.5);
      ctx.stroke();
      ctx.setLineDash([]);
    }
  }
  const a = el.cv.getContext("2d").getImageData(0, 0, ref.width, ref.height).data;
  const b = ctx.getImageData(0, 0, ref.width, ref.height).data;
  let far = 0, most = 0;
  for (let k = 0; k < a.length; k += 4) {
    const d = Math.max(...[0, 1, 2, 3].map((c) => Math.abs(a[k + c] - b[k + c])));
    most = Math.max(most, d);
    if (d > 16) far++;
  }
  return [far / (a.length / 4), most, a.length / 4];
}"""


@pytest.mark.parametrize("scale,scheme", [(1, "default"), (2, "default"), (2, "slate")])
def test_grid_cells_show_their_own_candidate_as_fill_text_draws_it(open_page, scale, scheme):
    """The grid copies each text from a sprite (lens-sprites.js): the whole canvas must look as if every cell's text
    had been drawn with fillText (the way before sprites), at devicePixelRatio 1 and 2, light and dark: sprites are
    drawn at the fraction of a pixel where the text falls, so only rounding may differ (measured: identical here; at
    most 11 of 255 on one channel on the SmolLM2 grid). The same reference with each row's texts taken from the next
    row must differ a lot (the comparison sees a misplaced text)."""
    page = open_page(device_scale_factor=scale)
    page.evaluate(f"document.body.setAttribute('data-md-color-scheme', '{scheme}')")
    view = page.locator("explorable-layers-view").first
    assert ready(page, view) == "ready"
    page.wait_for_function("el => el.rest === el.x.N && el.cv.width === Math.round(el.W * devicePixelRatio)",
                           arg=view.element_handle(), timeout=10000)
    next_frame(page)
    x = lens_of(view)
    top1 = x.top[:, :, 0].tolist()
    texts = [shown(t) for t in x.cand]
    partial = [i in set(x.payload["lens"]["candidates"]["partial"]) for i in range(len(x.cand))]
    blank = [not t.strip() for t in x.cand]
    far, most, pixels = view.evaluate(FILL_TEXT_GRID, [top1, texts, partial, blank, False])
    wrong, _, _ = view.evaluate(FILL_TEXT_GRID, [top1, texts, partial, blank, True])
    print(f"scale {scale} {scheme}: {far:.4%} of {pixels} pixels differ by more than 16 of 255 (max {most}); "
          f"texts of the next row: {wrong:.3%}")
    assert far < 0.001, (far, most)
    assert wrong > 10 * max(far, 0.001), (wrong, far)
    # the column widths came from texts' widths summed by character (lens-sprites.js measurer): as measureText's
    off = view.evaluate("""el => { const c = document.createElement("canvas").getContext("2d");
      c.font = el.fonts[1];
      let most = 0, n = 0;
      el.wid.forEach((w, i) => ((most = Math.max(most, Math.abs(w - c.measureText(el.texts[i]).width))), n++));
      return [most, n]; }""")
    assert off[1] == len({i for row in top1 for i in row}) and off[0] < 0.01, off   # every top candidate, measured


def test_keyboard_moves_pins_and_releases(open_page):
    page = open_page()
    view = page.locator("explorable-layers-view").first
    ready(page, view)
    x = lens_of(view)
    canvas = view.locator("canvas.xp-lcanvas")
    canvas.focus()
    next_frame(page)
    assert cursor(view) == [x.L, x.n_prompt - 1], "the keyboard starts at the first generated token's prediction"
    page.keyboard.press("ArrowUp")
    page.keyboard.press("ArrowLeft")
    next_frame(page)
    assert cursor(view) == [x.L - 1, x.n_prompt - 2]
    assert readout(view).startswith(f"layer {x.L - 1}, position {x.n_prompt - 2}")
    page.keyboard.press("Enter")
    next_frame(page)
    assert "(pinned)" in readout(view)
    assert view.evaluate("el => !el.pinBox.hidden")
    page.keyboard.press("End")
    next_frame(page)
    assert cursor(view) == [x.L - 1, x.N - 1]
    page.keyboard.press("Escape")
    next_frame(page)
    assert view.evaluate("el => el.pinBox.hidden")
    canvas.blur()
    next_frame(page)
    assert cursor(view) is None


# -- ranks, probabilities, and the links between the views ------------------------------------------------------------

def test_ranks_are_the_payload_s_ranks(open_page):
    page = open_page()
    view = page.locator("explorable-ranks-view").first
    assert ready(page, view) == "ready"
    x = lens_of(view)
    outs = list(range(x.n_prompt - 1, x.N - 1))
    generated = view.locator("table.xp-lgrid").first.locator("td.xp-lc").evaluate_all(
        "ns => ns.map(n => [+n.dataset.r, +n.dataset.c, n.textContent, n.classList.contains('xp-match')])")
    assert len(generated) == x.L1 * len(outs)
    for l, j, text, bold in generated:
        assert text == f"{x.next_ranks[l, outs[j]]:,}" and bold == (x.next_ranks[l, outs[j]] == 1)
    assert np.all(x.next_ranks[x.L, outs] == 1), "greedy tokens are rank 1 in the output"
    select = view.locator("select")
    for position in (x.n_prompt - 1, 0):
        if position != x.n_prompt - 1:
            select.select_option(str(position))
            next_frame(page)
        assert select.input_value() == str(position)
        rows = view.locator("table.xp-lgrid").nth(1).locator("tbody tr")
        for l in (0, x.L // 2, x.L):
            texts = rows.nth(l).locator("td").all_inner_texts()
            ranks = [int(w[1][l, position]) for w in x.watch]
            assert texts[:2] == [f"{r:,}" for r in ranks]
            assert texts[2] == shown(x.watch[int(np.argmin(ranks))][0]), "the column 'ahead' names the better rank"
    cell(view, 1, 0, grid=1).hover()
    next_frame(page)
    (w_is, ranks_is, probs_is) = x.watch[0]
    assert f"“·is”: rank {ranks_is[1, 0]:,}, {pct(probs_is[1, 0])}" in readout(view)


def test_probability_cards_are_the_output_row(open_page):
    page = open_page()
    view = page.locator("explorable-probabilities-view").first
    assert ready(page, view) == "ready"
    x = lens_of(view)
    cards = view.locator(".xp-pcard")
    outs = list(range(x.n_prompt - 1, x.N - 1))
    assert cards.count() == len(outs)
    for j, q in enumerate(outs):
        rows = cards.nth(j).locator(".xp-prow")
        assert rows.count() == x.K
        for k in range(x.K):
            assert rows.nth(k).locator(".xp-pp").inner_text() == pct(x.probs[x.L, q, k])
            assert rows.nth(k).locator(".xp-tok").inner_text() == shown(x.cand[x.top[x.L, q, k]])
        chosen = [k for k in range(x.K) if x.cand_ids[x.top[x.L, q, k]] == x.ids[q + 1]]
        assert chosen == [0], "greedy: the chosen token is the most probable"
        assert rows.nth(0).evaluate("n => n.classList.contains('xp-chosen')")
        assert cards.nth(j).locator(".xp-chosen").count() == 1


def test_a_position_pinned_in_one_view_is_pinned_in_the_others(open_page):
    page = open_page()
    layers, ranks, probs = (page.locator(tag).first for tag in VIEWS.split(", "))
    for view in (layers, ranks, probs):
        ready(page, view)
    x = lens_of(layers)
    q = x.n_prompt                                  # predicts the second generated token
    page.mouse.click(*spot(layers, 1, q))
    next_frame(page)
    assert probs.locator(".xp-pcard").nth(1).evaluate("n => n.classList.contains('xp-pin')")
    assert cell(ranks, x.L, 1).evaluate("n => n.classList.contains('xp-pin')")
    assert ranks.locator("select").input_value() == str(q)
    probs.locator(".xp-pcard").nth(0).click()        # back the other way
    next_frame(page)
    assert layers.evaluate("el => el.pin") == [x.L, x.n_prompt - 1] and layers.evaluate("el => !el.pinBox.hidden")
    probs.locator(".xp-pcard").nth(0).click()        # again: released everywhere
    next_frame(page)
    assert layers.evaluate("el => el.pinBox.hidden") and ranks.locator(".xp-pin").count() == 0


# -- touch, palette, text, lifecycle ----------------------------------------------------------------------------------

def test_touch_pins_a_cell_and_the_page_fits_a_phone(open_page):
    page = open_page(has_touch=True, is_mobile=True, viewport={"width": 375, "height": 800})
    view = page.locator("explorable-layers-view").first
    ready(page, view)
    where = spot(view, 2, 1)
    under = page.evaluate("([x, y]) => document.elementFromPoint(x, y)?.className", list(where))
    page.touchscreen.tap(*where)
    page.wait_for_function("el => el.pin", arg=view.element_handle(), timeout=5000)   # the click follows the touch
    next_frame(page)
    assert under == "xp-lcanvas", under
    assert "(pinned)" in readout(view) and view.evaluate("el => el.pin") == [2, 1]
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    scroller = view.locator(".xp-scroll")
    assert scroller.evaluate("n => n.scrollWidth > n.clientWidth"), "the grid scrolls inside its box"


def test_follows_the_palette(open_page):
    page = open_page()
    view = page.locator("explorable-layers-view").first
    ready(page, view)
    colour = "el => getComputedStyle(el.querySelector('.xp-lramp')).backgroundImage"   # the heat colour's ramp
    light = view.evaluate(colour)
    page.evaluate("document.body.setAttribute('data-md-color-scheme', 'slate')")
    next_frame(page)
    assert view.evaluate(colour) != light


def test_payload_text_is_shown_as_text(open_page):
    page = open_page()
    view = page.locator("explorable-layers-view").first
    ready(page, view)
    assert view.locator(":is(.xp-lgrid2, .xp-readout) :is(b, script, img)").count() == 0
    heads = "".join(view.locator(".xp-lcols").first.locator(".xp-lcol").all_inner_texts())
    assert "<b>" in heads and "</b>" in heads and "我" in heads and "\ufffd" not in heads


def test_starts_lazily_survives_instant_navigation_and_reports_a_broken_payload(open_page):
    page = open_page()
    view = starts_lazily_and_survives_instant_navigation(page, "explorable-layers-view", far=1, ready_state=ready)
    assert view.locator("canvas.xp-lcanvas").count() == 1


# -- the project's own article ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("viewport", [{"width": 1280, "height": 900}, {"width": 390, "height": 800}])
def test_the_article_draws_real_data(open_page, real_site, viewport):
    page = open_page("lens/", base=real_site, viewport=viewport)
    views = page.locator(VIEWS)
    assert views.count() >= 8
    for index in range(views.count()):
        assert ready(page, views.nth(index)) == "ready"
    grid = page.locator("explorable-layers-view").first
    grid.scroll_into_view_if_needed()
    x = lens_of(grid)                                # the counting figure: small enough to be inline
    four = [t["text"] for t in x.tokens].index("4")
    hover(page, grid, x.L, four - 1)
    assert f"the token that came next, “4” (generated): rank 1 of 49,152, {pct(x.next_probs[x.L, four - 1])}" in \
        readout(grid)
    # the shading of a cell is its top probability: alpha 0.6 p over the page
    for l, p in [(0, 0), (x.L, four - 1), (x.L // 2, 3)]:
        alpha = grid.evaluate("""(el, [l, p]) => { const d = devicePixelRatio || 1;
            return el.cv.getContext('2d').getImageData(Math.round((el.colX[p] + 2) * d), Math.round((l * 20 + 2) * d), 1, 1).data[3]; }""", [l, p])
        assert alpha == pytest.approx(0.6 * x.probs[l, p, 0] * 255, abs=2), (l, p)
    assert page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth") <= 1
