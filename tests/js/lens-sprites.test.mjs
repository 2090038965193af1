// The lens grid's text sprites: shelf packing of the atlas, and that a copied sprite is the text it was made for,
// landing where fillText would have put that text. A recording stand-in for the canvas plays the browser's part.
import { test } from "node:test";
import assert from "node:assert/strict";
import { shelves, Sprites, measurer } from "../../generator/assets/js/lens-sprites.js";

test("shelves puts boxes left to right, a new row when the next would pass the limit, never overlapping", () => {
  const widths = [30, 50, 25, 90, 10, 120, 5];
  const { x, row, width, rows } = shelves(widths, 100);
  // 30 + 50 = 80, + 25 > 100: row 1; 25 + 90 > 100: row 2; 90 + 10 = 100 fits; 120 alone; 120 + 5 > 100: row 4
  assert.deepEqual(x, [0, 30, 0, 0, 90, 0, 0]);
  assert.deepEqual(row, [0, 0, 1, 2, 2, 3, 4]);
  assert.equal(rows, 5);
  assert.equal(width, 120); // a box wider than the limit gets a row of its own
  for (let i = 0; i < widths.length; i++)
    for (let j = i + 1; j < widths.length; j++)
      if (row[i] === row[j]) assert.ok(x[i] + widths[i] <= x[j] || x[j] + widths[j] <= x[i], `boxes ${i} and ${j} overlap`);
  assert.deepEqual(shelves([], 100), { x: [], row: [], width: 0, rows: 0 });
});

/** A canvas that records what is drawn on it; text advance: 7 px per character at 400, 8 at 700. */
function fakeCanvas(log) {
  const cv = { width: 0, height: 0 };
  const ctx = {
    font: "", fillStyle: "", globalAlpha: 1, m: [1, 0, 0, 1, 0, 0],
    setTransform(...m) { this.m = m; },
    measureText(t) { log.measured.push(t); return { width: [...t].length * (this.font.startsWith("700") ? 8 : 7) }; },
    fillText(t, x, y) {
      const [a, , , d, e, f] = this.m;
      log.filled.push({ cv, t, font: this.font, colour: this.fillStyle, x: a * x + e, y: d * y + f });
    },
    drawImage(src, sx, sy, sw, sh, dx, dy, dw, dh) { log.copied.push({ src, sx, sy, sw, sh, dx, dy, dw, dh, alpha: this.globalAlpha }); },
  };
  cv.getContext = () => ctx;
  return cv;
}

for (const dpr of [1, 2, 1.5]) {
  test(`a copied sprite is its own text, placed where centred fillText would put it (devicePixelRatio ${dpr})`, () => {
    const log = { measured: [], filled: [], copied: [] };
    const sp = new Sprites({ dpr, height: 20, baseline: 10.5, color: "rgb(1, 2, 3)", make: () => fakeCanvas(log) });
    const target = fakeCanvas(log).getContext("2d");
    // [key, text, font, width given, cell centre x, cell top, alpha]
    const cells = [[1, " the", "400 11px mono", null, 100.5, 40, 1], [3, " the", "700 11px mono", 32, 100.5, 60, 1],
      [4, "我们", "400 11px mono", null, 37, 0, 1], [7, "…long", "700 11px mono", null, 210, 20, 0.7],
      [1, " the", "400 11px mono", null, 150, 40, 1], [1, " the", "400 11px mono", null, 151, 0, 1]];
    for (const c of cells) sp.use(...c);
    sp.flush(target);
    assert.deepEqual(log.measured, [" the", "我们", "…long"], "a width given is not measured; a text once");
    const first = log.filled.length;
    sp.use(3, " the", "700 11px mono", 32, 100.5, 60); // drawn already at this fraction of a pixel: copied only
    sp.use(9, "x", "400 11px mono", null, 10, 0);      // new: on an atlas of its own
    sp.flush(target);
    assert.equal(log.filled.length, first + 1);
    assert.equal(log.filled.at(-1).t, "x");
    assert.notEqual(log.filled.at(-1).cv, log.filled[0].cv);
    assert.ok(log.filled.every((f) => f.colour === "rgb(1, 2, 3)"));
    const h = Math.round(20 * dpr);
    const all = [...cells, [3, " the", "700 11px mono", 32, 100.5, 60, 1], [9, "x", "400 11px mono", null, 10, 0, 1]];
    assert.equal(log.copied.length, all.length);
    log.copied.forEach(({ src, sx, sy, sw, sh, dx, dy, dw, dh, alpha }, n) => {
      const [, t, font, , cx, top, opacity] = all[n];
      assert.equal(alpha, opacity);
      assert.ok(dw === sw && dh === sh && sh === h, "copied pixel for pixel");
      assert.ok(Number.isInteger(dx) && Number.isInteger(dy), "lands on whole device pixels");
      assert.ok(sx >= 0 && sy >= 0 && sx + sw <= src.width && sy + sh <= src.height, "the box lies in its atlas");
      const inBox = log.filled.filter((f) => f.cv === src && f.x >= sx && f.x < sx + sw && f.y >= sy && f.y < sy + sh);
      assert.equal(inBox.length, 1, `one text in the box of copy ${n}`);
      assert.equal(inBox[0].t, t, `copy ${n} shows its own text`);
      assert.equal(inBox[0].font, font);
      // where the copy puts the text's left edge and middle, against fillText centred at cx on a row at top
      const width = [...t].length * (font.startsWith("700") ? 8 : 7);
      const left = dx + (inBox[0].x - sx), middle = dy + (inBox[0].y - sy);
      assert.ok(Math.abs(left - (cx - width / 2) * dpr) < 0.01, `copy ${n}: left edge ${left} vs ${(cx - width / 2) * dpr}`);
      assert.ok(Math.abs(middle - (top + 10.5) * dpr) < 1e-9);
    });
    assert.equal(sp.width(4), 14);
  });
}

/** A context measuring texts by a table of character advances (and a kerning pair when asked); counts its calls. */
function measuring(advance, kern = 0) {
  const ctx = { font: "", calls: [] };
  ctx.measureText = (t) => {
    ctx.calls.push(t);
    let w = 0, prev = "";
    for (const c of t) (w += advance(c, ctx.font)), (w -= prev === "A" && c === "V" ? kern : 0), (prev = c);
    return { width: w };
  };
  return ctx;
}

test("measurer: in a monospaced font, texts of ASCII and the whitespace marks are sums of measured characters", () => {
  const ctx = measuring((c) => (c.charCodeAt(0) < 127 || c === "·" ? 7.25 : c === "…" ? 7.5 : 14));
  const width = measurer(ctx, "400 11px mono");
  const probes = ctx.calls.length; // "0", and the 95 ASCII characters with kerning pairs
  assert.equal(width("·the"), 4 * 7.25);
  assert.equal(width("·and…"), 4 * 7.25 + 7.5);
  assert.equal(width("·of"), 3 * 7.25);
  assert.deepEqual(ctx.calls.slice(probes), ["·", "…"], "only each mark once: ASCII is known from the probe");
  assert.equal(width("我们"), 28, "other characters: the text is measured whole");
  assert.equal(ctx.calls.at(-1), "我们");
  assert.ok(ctx.calls.every(() => ctx.font === "400 11px mono"));
});

test("measurer: a proportional or kerning font measures every text whole", () => {
  const prop = measuring((c) => (c === "i" ? 3 : 8));
  const w1 = measurer(prop, "400 11px serif");
  assert.equal(w1("·in"), 8 + 3 + 8);
  assert.equal(prop.calls.at(-1), "·in");
  const kerned = measuring(() => 7, 1.5); // equal advances, but "AV" kerned
  const w2 = measurer(kerned, "400 11px mono");
  assert.equal(w2("AVA"), 21 - 1.5);
  assert.equal(kerned.calls.at(-1), "AVA");
});
