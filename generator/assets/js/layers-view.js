// <explorable-layers-view>: the logit lens as a grid (payload section "lens", see ARCHITECTURE.md). Rows are layers
// (the embedding output, then each block; the last row is the model's own output), columns are positions. Each cell
// shows the token that layer would predict next, shaded by its probability, bold where it is the model's final
// prediction at that position. Hover, tap or focus the grid for a cell's top-k candidates and the rank of the token
// that came next; a click, tap or Enter pins it and tells the block's other views (lens.js sharePosition).
// The cells are drawn on one canvas (31 x 256 = 7,936 cells of text would be slow to lay out as elements); the token
// headers, the layer labels and the readout are elements, so they read as text. The first paint draws the columns
// within the view's width, on a canvas only that wide, and the whole grid two frames later; each cell's text is
// copied from a sprite drawn once per text (lens-sprites.js) (benchmarks/lens.py: first paint).
import { View, h, move, scroller } from "./view.js";
import { pngButton } from "./export.js";
import { tokenNode, show } from "./tokens.js";
import { cssRGB } from "./theme.js";
import { Sprites, measurer } from "./lens-sprites.js";
import { readLens, candidate, next, layerName, layerLabel, pct, rankText, sharePosition, followPosition } from "./lens.js";

const ROW = 20, PAD = 6, MIN_W = 18, MAX_W = 84; // CSS px
const quote = (t) => `“${show(t)}”`;

export class LayersView extends View {
  static tag = "explorable-layers-view";

  async build(p) {
    this.seen = this.clientWidth; // the view's width, read before its content changes (no layout forced by the grid)
    const x = (this.x = await readLens(p)), { L, N } = x;
    Object.assign(this, { hov: null, pin: null, cur: [L, Math.max(0, Math.min(N - 1, x.nPrompt - 1))], drawn: "" });
    this.top1 = x.top.filter((_, r) => r % x.K === 0).map(Math.round); // top candidate of [layer, position]
    this.final = this.top1.slice(L * N);
    this.setAttribute("role", "group");
    this.setAttribute("aria-label", this.getAttribute("aria-label") ||
      "Prediction after each layer: rows are layers, columns are positions, each cell the most probable next token");

    this.cv = h("canvas", { class: "xp-lcanvas", tabindex: 0, "aria-roledescription": "prediction grid",
      "aria-label": `${L + 1} layers × ${N} positions: the most probable next token after each layer. Arrow keys move, Enter pins, Escape releases.`,
      onpointermove: (e) => this.set({ hov: this.at(e) }), onpointerleave: () => this.set({ hov: null }),
      onclick: (e) => this.tap(this.at(e)), onkeydown: (e) => this.key(e),
      onfocus: () => this.set({ hov: this.cur }), onblur: () => this.set({ hov: null }) });
    this.box = h("div", { class: "xp-cur", hidden: true });
    this.pinBox = h("div", { class: "xp-cur xp-lpinbox", hidden: true });
    this.heads = x.tokens.map((t) => h("span", { class: "xp-lcol" }, tokenNode(t)));
    this.feet = x.tokens.map((_, i) => h("span", { class: "xp-lcol" }, i + 1 < N ? tokenNode(x.tokens[i + 1]) : ""));
    this.labels = Array.from({ length: L + 1 }, (_, l) => h("span", { title: layerName(l, L) }, layerLabel(l, L)));
    this.gridEl = h("div", { class: "xp-lgrid2", style: `--row:${ROW}px` },
      h("span", { class: "xp-lcorner" }, "layer ↓ · reads →"), h("div", { class: "xp-lcols" }, ...this.heads),
      h("div", { class: "xp-lrows" }, ...this.labels), (this.stage = h("div", { class: "xp-stage" }, this.cv, this.box, this.pinBox)),
      h("span", { class: "xp-lcorner", title: "the token that actually came next" }, "next"), h("div", { class: "xp-lcols xp-lfoot" }, ...this.feet));
    this.scrolled = scroller(this.gridEl);
    this.scroller = this.scrolled.firstChild;  // the box that scrolls sideways
    this.out = h("div", { class: "xp-readout xp-lout", "aria-live": "polite" });
    const ramp = h("span", { class: "xp-ramp xp-lramp", "aria-hidden": "true" });
    const legend = h("span", { class: "xp-hint" }, "probability of the top token 0 ", ramp, " 100% · ", h("b", null, "bold"),
      ": the model's final prediction there");
    // the PNG / SVG: the same scale and key under the grid
    const keys = () => ["probability of the top token 0 ", { fill: getComputedStyle(ramp).backgroundImage, w: 72 }, " 100%   ",
      { s: "bold", b: 1 }, ": the model's final prediction there"];
    const note = h("p", { class: "xp-hint xp-lnote" }, `Each layer is read through the model's final norm` +
      `${x.norm ? ` (${x.norm}, with that layer's own statistics)` : ""} and its unembedding; the last row is the model's output.`);
    this.replaceChildren(h("div", { class: "xp-bar" }, legend, pngButton(this, () => (this.paintRest(), [this.gridEl, "Top prediction after each layer (logit lens)", "layers", keys()]))),
      this.scrolled, this.out, note);
    this.layout();
  }

  /** Column widths from the top candidates' bold text (each distinct candidate measured once, see `measurer`), the
   * canvas size, the header widths. */
  layout() {
    const x = this.x, { L, N } = x, top1 = this.top1, ctx = this.cv.getContext("2d"), cs = getComputedStyle(this.cv);
    const font = `${cs.fontSize} ${cs.fontFamily}`;
    this.fonts = [`400 ${font}`, `700 ${font}`];
    this.palette = [getComputedStyle(this).color, cssRGB(this, "--xp-heat")]; // read with the font: one style update
    this.measure = this.fonts.map((f) => measurer(ctx, f));
    // per top candidate: bold width (CSS px), shown text
    const wid = (this.wid = []), texts = (this.texts = []), bold = this.measure[1];
    this.colW = Array.from({ length: N }, (_, p) => {
      let w = 0;
      for (let l = 0, i; l <= L; l++) w = Math.max(w, (wid[(i = top1[l * N + p])] ??= bold((texts[i] = show(x.cand[i])))));
      return Math.round(Math.min(MAX_W, Math.max(MIN_W, w + PAD)));
    });
    this.colX = [0];
    for (const w of this.colW) this.colX.push(this.colX.at(-1) + w);
    this.W = this.colX[N];
    this.H = (L + 1) * ROW;
    // the first paint's canvas covers only the columns within the view's width (a smaller bitmap to fill and hand to
    // the compositor); the stage keeps the whole grid's size, so the scroller's extent is right from the start
    for (this.first = 0; this.first < N && this.colX[this.first] < this.seen; this.first++);
    this.stage.style.cssText = `width:${this.W}px;height:${this.H}px`;
    this.size(this.colX[this.first]);
    [this.heads, this.feet].forEach((row) => row.forEach((el, p) => (el.style.width = `${this.colW[p]}px`)));
    this.drawn = "";
  }

  /** Size the canvas to the first `w` CSS px of the grid (which clears it). */
  size(w) {
    const dpr = devicePixelRatio || 1;
    Object.assign(this.cv, { width: Math.round(w * dpr), height: Math.round(this.H * dpr) });
    this.cv.style.cssText = `width:${w}px;height:${this.H}px`;
  }

  start() {
    this.unfollow = followPosition(this, (p) => {
      this.set({ pin: p != null && p >= 0 && p < this.x.N ? [this.x.L, p] : null });
      if (this.pin) this.reveal(p);
    });
  }

  stop() {
    this.unfollow?.();
  }

  set(s) {
    Object.assign(this, s);
    this.redraw();
  }

  /** The cell [layer, position] under a pointer event, or null. */
  at(e) {
    const l = Math.floor(e.offsetY / ROW), X = e.offsetX;
    if (l < 0 || l > this.x.L || X < 0 || X >= this.W) return null;
    let lo = 0, hi = this.x.N - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.colX[mid] <= X) lo = mid;
      else hi = mid - 1;
    }
    return [l, lo];
  }

  tap(c) {
    if (!c) return;
    const same = this.pin && this.pin[0] === c[0] && this.pin[1] === c[1];
    this.set({ pin: same ? null : c, cur: c, hov: c });
    sharePosition(this, same ? null : c[1]);
  }

  key(e) {
    const { L, N } = this.x;
    if (e.key === "Enter" || e.key === " ") return e.preventDefault(), this.tap(this.cur);
    if (e.key === "Escape") return this.set({ pin: null }), sharePosition(this, null);
    const m = move(e.key, ...this.cur, L + 1, N);
    if (!m) return;
    e.preventDefault();
    this.set({ cur: m, hov: m });
    this.reveal(m[1]);
  }

  /** A grid wider than the view opens scrolled to the last prompt position and the generated ones after it (what a
   * caption talks about; on a phone the first columns would be all there is to see): the first column in view. */
  openAtEnd() {
    const s = this.scroller, { N, nPrompt } = this.x, p0 = Math.max(0, Math.min(N - 1, nPrompt - 1));
    const shown = s.clientWidth - this.labels[0].parentNode.offsetWidth;
    s.scrollLeft = Math.max(0, Math.min(this.colX[p0], this.W - shown));
    let a = 0;
    while (a + 1 < N && this.colX[a + 1] <= s.scrollLeft) a++;
    this.atEnd = a > 0;
    return a;
  }

  /** Scroll column p into the part of the grid not covered by the sticky layer labels. */
  reveal(p) {
    const s = this.scroller, box = s.getBoundingClientRect(), labels = this.labels[0].parentNode.getBoundingClientRect().width;
    const left = this.cv.getBoundingClientRect().left - box.left + s.scrollLeft + this.colX[p], right = left + this.colW[p];
    if (left < s.scrollLeft + labels) s.scrollLeft = left - labels;
    else if (right > s.scrollLeft + s.clientWidth) s.scrollLeft = right - s.clientWidth;
  }

  /** Paint the cells of columns [from, to) (only when the palette or the layout changed: hover and pins move boxes
   * over them): backgrounds, then the texts, copied from sprites (lens-sprites.js), then partial tokens' underlines. */
  paintCells(from, to = this.x.N) {
    const x = this.x, { L, N, K, topP } = x, top1 = this.top1, dpr = devicePixelRatio || 1, ctx = this.cv.getContext("2d");
    const fg = this.palette[0], heat = this.palette[1] || [42, 127, 212];
    if (this.sprites?.color !== fg || this.sprites.dpr !== dpr)
      this.sprites = new Sprites({ dpr, height: ROW, baseline: ROW / 2 + 0.5, color: fg,
        measure: (t, f) => this.measure[+(f === this.fonts[1])](t) });
    const sp = this.sprites, texts = new Map(), under = [];
    // a text wider than its cell is cut to end in "…": only in columns capped at MAX_W, so once per candidate and weight
    const fit = (i, bold, w) => {
      const key = 2 * i + bold;
      let c = texts.get(key);
      if (c) return c;
      c = this.texts[i];
      if (this.wid[i] > w - 4) {
        while (c.length > 1 && this.measure[bold](c) > w - 4) c = c.slice(0, -1);
        if (c !== this.texts[i]) c = c.slice(0, -1) + "…";
      }
      texts.set(key, c);
      return c;
    };
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(this.colX[from], 0, this.W, this.H); // (columns after `to` are blank or painted again later)
    const rgba = `rgba(${heat[0]},${heat[1]},${heat[2]},`;
    for (let l = 0; l <= L; l++) {
      for (let p = from; p < to; p++) {
        const i = top1[l * N + p], X = this.colX[p], w = this.colW[p], y = l * ROW, bold = +(i === this.final[p]), t = x.cand[i];
        ctx.fillStyle = rgba + (0.6 * topP[(l * N + p) * K]).toFixed(3) + ")";
        ctx.fillRect(X + 0.5, y + 0.5, w - 1, ROW - 1);
        const c = fit(i, bold, w);
        sp.use(2 * i + bold, c, this.fonts[bold], bold && c === this.texts[i] ? this.wid[i] : null, X + w / 2, y, t.text.trim() ? 1 : 0.7);
        if (t.partial) under.push(X, w, y);
      }
    }
    sp.flush(ctx);
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.setLineDash([2, 2]);
    ctx.strokeStyle = fg;
    for (let j = 0; j < under.length; j += 3) {
      const [X, w, y] = under.slice(j, j + 3);
      ctx.beginPath();
      ctx.moveTo(X + 3, y + ROW - 3.5);
      ctx.lineTo(X + w - 3, y + ROW - 3.5);
      ctx.stroke();
    }
    ctx.setLineDash([]);
  }

  draw() {
    // the palette of the first paint was read in layout(), with the font (reading it here would update the styles
    // again, after layout() set the column widths)
    if (this.drawn) this.palette = [getComputedStyle(this).color, cssRGB(this, "--xp-heat")];
    const key = `${this.palette}|${devicePixelRatio}|${this.W}`;
    if (key !== this.drawn) {
      // a blank canvas (the first paint) gets the columns within the view's width first (no layout is read for
      // it) and the whole grid two frames later (paintRest), or at once when the reader saves a PNG
      if (this.drawn) this.rest = 0, this.paintRest();
      else {
        const a = this.W > this.seen ? this.openAtEnd() : 0;
        if (a) this.size(this.W), this.paintCells(a), (this.rest = 0); // (the rest repaints the whole grid)
        else this.paintCells(0, this.first), (this.rest = this.first);
        requestAnimationFrame(() => requestAnimationFrame(() => this.paintRest()));
      }
      this.drawn = key;
    }
    const on = this.hov ?? (document.activeElement === this.cv ? this.cur : null) ?? this.pin;
    const place = (box, c) => {
      box.hidden = !c;
      if (c) Object.assign(box.style, { width: `${this.colW[c[1]]}px`, height: `${ROW}px`, transform: `translate(${this.colX[c[1]]}px,${c[0] * ROW}px)` });
    };
    place(this.box, on);
    place(this.pinBox, this.pin);
    this.heads.forEach((el, p) => el.classList.toggle("xp-on", !!on && on[1] === p));
    this.labels.forEach((el, l) => el.classList.toggle("xp-on", !!on && on[0] === l));
    this.readout(on);
  }

  /** Paint the columns the first paint left out, if any, on a canvas of the whole grid's size. */
  paintRest() {
    if (this.rest < this.x.N) this.size(this.W), this.paintCells(0, this.x.N);
    this.rest = this.x.N;
  }

  readout(on) {
    const x = this.x;
    if (!on) return void this.out.replaceChildren(h("span", { class: "xp-hint" },
      `Hover, tap or focus the grid: the top ${x.K} next tokens after a layer, and the rank of the token that came next. Arrow keys move; Enter pins.` +
      (this.atEnd ? " The grid opens at the last prompt position: scroll left for the earlier ones." : "")));
    const [l, p] = on, n = next(x, l, p), after = p + 1 < x.N ? x.tokens[p + 1] : null;
    const pinned = this.pin && this.pin[0] === l && this.pin[1] === p ? " (pinned)" : "";
    const top = candidate(x, l, p, 0), same = top.index === this.final[p];
    this.out.replaceChildren(
      h("span", { class: "xp-lro" }, `${layerName(l, x.L)}${pinned}, position ${p} ${quote(x.tokens[p])}: predicts` +
        (l < x.L ? (same ? " (its top token is the model's final prediction)" : "") : " (the model's own output)")),
      h("span", { class: "xp-lcands" }, ...Array.from({ length: x.K }, (_, j) => {
        const c = candidate(x, l, p, j);
        return h("span", { class: "xp-lcand", style: `--p:${c.prob.toFixed(4)}` }, `${j + 1}. ${quote(c.token)} ${pct(c.prob)}`);
      })),
      h("span", { class: "xp-lro" }, n ? `the token that came next, ${quote(after)}${after.generated ? " (generated)" : ""}: rank ${rankText(n.rank)} of ${rankText(x.V)}, ${pct(n.prob)}`
        : "the last position: no token came after it"));
  }
}

