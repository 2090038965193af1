// <explorable-model-view>: a layers x heads grid of attention heatmaps on one canvas; a head enlarges on demand.
// Attribute (optional): hide-special. Shares (selection.js) the head it enlarges (layer and head) and whether special
// tokens are hidden; a layer or head chosen in a linked view moves its keyboard cursor there.
import { View, h, move, scroller } from "./view.js";
import { lut, gradient } from "./colour.js";
import { tokenNode, show } from "./tokens.js";
import { dark, cssRGB } from "./theme.js";
import { keep, renorm, argmax, hiddenNote, HIDDEN_CAPTION } from "./attention.js";
import { pngButton } from "./export.js";
import { attentionParts, partSelect } from "./parts.js";

const GAP = 4;
const LONG_NOTE = "Long text: each thumbnail shows the largest weight of each block of tokens it shrinks; enlarge a head to read its weights.";

/** Source index ranges [s0[p], s1[p]) covered by output pixel p when n values are drawn on t pixels. */
function ranges(n, t) {
  const s0 = new Int32Array(t), s1 = new Int32Array(t);
  for (let p = 0; p < t; p++) {
    s0[p] = Math.floor((p * n) / t);
    s1[p] = Math.max(s0[p] + 1, Math.floor(((p + 1) * n) / t));
  }
  return [s0, s1];
}

/** Thumbnail side (px) for n tokens: at least 48, at most 80, a whole number of pixels per token when enlarging. */
const side = (n) => (n >= 48 ? Math.min(n, 80) : n * Math.ceil(48 / n));

/** Paint the n x m matrix at v[off..] (n rows of m) as a t x u block (max-pooled when shrinking) into pixels px of
 * width W; [s0, s1] = ranges(n, t) and [c0, c1] = ranges(m, u). */
function blit(px, W, x, y, v, off, n, m, t, u, [s0, s1], [c0, c1], lt) {
  for (let py = 0; py < t; py++) {
    let o = (y + py) * W + x;
    if (t === n && u === m) { // 1:1, the common case
      for (let c = off + py * m, e = c + m; c < e; c++) px[o++] = lt[(v[c] * 255 + 0.5) | 0];
      continue;
    }
    const r0 = s0[py], r1 = s1[py];
    for (let qx = 0; qx < u; qx++) {
      let mx = 0;
      for (let r = r0; r < r1; r++)
        for (let c = off + r * m + c0[qx], e = off + r * m + c1[qx]; c < e; c++) if (v[c] > mx) mx = v[c];
      px[o++] = lt[(mx * 255 + 0.5) | 0];
    }
  }
}

export class ModelView extends View {
  static tag = "explorable-model-view";

  async build(p) {
    // the part shown (encoder-decoder models have three, see parts.js), of every token: N query rows x M key columns
    this.parts ??= await attentionParts(p);
    const part = (this.shownPart = this.parts[(this.partIndex ??= 0)]);
    this.attention = { L: part.L, H: part.H, N: part.R, M: part.C, v: part.v, part };
    this.tokens = part.rows;
    this.keyTokens = part.cols;
    this.sharesTokens = part.rows === p.tokens;  // linked views know the payload's tokens only
    const { L, H } = this.attention;
    this.hasSpecial = [...part.rows, ...part.cols].some((t) => t.special);
    // hideSpecial (set() lays the grid out again); cursor: [layer, head] of the keyboard / pointer cursor;
    // enlarged: [layer, head] or null; cell: [query row, key column] read out in the enlarged head, or null.
    // cursor, enlarged and cell change in place (they move boxes and labels; the heatmaps stay as drawn).
    this.state = { hideSpecial: this.hasAttribute("hide-special") && this.hasSpecial, cursor: [0, 0], enlarged: null, cell: null };
    this.setAttribute("role", "group");
    this.setAttribute("aria-label", this.getAttribute("aria-label") || `Attention of every layer and head (${L} layers × ${H} heads)`);
    this.style.setProperty("--g", GAP + "px");

    const canvas = (this.gridCanvas = h("canvas", {
      class: "xp-grid", tabindex: 0, "aria-roledescription": "heatmap grid",
      "aria-label": `${L} × ${H} attention heatmaps. Arrow keys move between heads, Enter enlarges one.`,
      onkeydown: (e) => this.key(e), onclick: (e) => this.pick(e, true), onpointermove: (e) => this.pick(e),
      onfocus: () => this.mark(), onblur: () => this.mark(),
    }));
    this.cursorBox = h("div", { class: "xp-cur", hidden: true });
    this.legend = h("span", { class: "xp-ramp" });
    this.announce = h("span", { class: "xp-sr", "aria-live": "polite" });
    this.note = h("p", { class: "xp-note", hidden: true });
    const labels = (n, f) => Array.from({ length: n }, (_, i) => h("span", null, f(i)));
    this.gridFigure = h("div", { class: "xp-mv" }, h("span"),
      h("div", { class: "xp-cols" }, ...labels(H, (i) => `H${i}`)),
      (this.rowsEl = h("div", { class: "xp-rows" }, ...labels(L, (i) => `L${i}`))),
      h("div", { class: "xp-stage" }, canvas, this.cursorBox));

    // detail panel: bigger heatmap with token labels on both axes
    this.heatmap = h("canvas", {
      class: "xp-heat", tabindex: 0,
      onpointermove: (e) => this.showCell(Math.floor(e.offsetY / this.cellSize), Math.floor(e.offsetX / this.cellSize)),
      onkeydown: (e) => {
        const m = move(e.key, ...(this.state.cell || [0, 0]), this.shown.N, this.shown.M);
        if (m) e.preventDefault(), this.showCell(...m);
      },
    });
    this.cellBox = h("div", { class: "xp-cur", hidden: true });
    this.rowLabels = h("div", { class: "xp-drows" });
    this.columnLabels = h("div", { class: "xp-dcols" });
    this.detailTitle = h("strong");
    this.cellReadout = h("div", { class: "xp-readout", "aria-live": "polite" });
    this.detail = h("div", { class: "xp-detail", role: "region", hidden: true, onkeydown: (e) => e.key === "Escape" && this.close() },
      h("div", { class: "xp-bar" }, this.detailTitle, pngButton(this, () => this.figure(true)),
        h("button", { type: "button", class: "xp-btn", onclick: () => this.close() }, "close ✕")),
      this.cellReadout,
      scroller((this.detailFigure = h("div", { class: "xp-dgrid" }, h("span", { class: "xp-axis" }, "query ↓  key →"),
        this.columnLabels, this.rowLabels, h("div", { class: "xp-stage" }, this.heatmap, this.cellBox)))));

    const bar = h("div", { class: "xp-bar" }, partSelect(this.parts, this.partIndex, (i) => this.showPart(p, i)) ?? "",
      h("span", null, "weight 0 ", this.legend, " 1"));
    if (this.hasSpecial) {
      this.hideBox = h("input", { type: "checkbox", checked: this.state.hideSpecial, onchange: (e) => this.share({ hideSpecial: e.target.checked }) });
      bar.append(h("label", null, this.hideBox, " hide special tokens"));
    }
    bar.append(pngButton(this, () => this.figure(false)), h("span", { class: "xp-hint" }, "Click, tap or press Enter on a head to enlarge it."));
    this.gridBox = scroller(this.gridFigure);
    this.replaceChildren(bar, this.note, this.gridBox, this.announce, this.detail);
    this.resizes = new ResizeObserver(() => this.fit());
    this.layout();
  }

  start() {
    this.resizes.observe(this.gridBox);
  }

  stop() {
    this.resizes.disconnect();
  }

  /** [element, caption, file part] of the grid or of the enlarged head, for the PNG export. */
  figure(enlarged) {
    const hidden = this.state.hideSpecial ? HIDDEN_CAPTION : "", { L, H } = this.attention;
    const what = this.parts.length > 1 ? this.shownPart.label : "Attention weights";
    const keys = ["attention weight 0 ", { fill: getComputedStyle(this.legend).backgroundImage, w: 72 }, " 1"];
    if (!enlarged) return [this.gridFigure, `${what}, ${L} layers × ${H} heads${hidden}`, "all-heads", keys];
    const [l, head] = this.state.enlarged;
    return [this.detailFigure, `${what}, layer ${l}, head ${head}${hidden}`, `L${l}-H${head}`, keys];
  }

  /** Show another part: the grid is rebuilt for its layers and heads. */
  async showPart(p, i) {
    this.stop();
    this.partIndex = i;
    await this.build(p);
    this.start();
    this.redraw();
  }

  set(patch) {
    const relayout = "hideSpecial" in patch && patch.hideSpecial !== this.state.hideSpecial;
    super.set(patch);
    if (relayout) this.layout();
    if (this.hideBox) this.hideBox.checked = this.state.hideSpecial;
  }

  /** A linked view hid or showed the special tokens, chose a layer or head (the cursor moves there, and an enlarged
   * head is replaced by the chosen one), or a token (its row is read out in the enlarged head). */
  follow({ layer, head, hideSpecial, token }) {
    const { L, H } = this.attention, [l, hd] = this.state.cursor, big = this.state.enlarged;
    if (hideSpecial != null && this.hasSpecial) this.set({ hideSpecial });
    const cursor = [layer >= 0 && layer < L ? layer : l, head >= 0 && head < H ? head : hd];
    if (cursor[0] !== l || cursor[1] !== hd) {
      this.state.cursor = cursor;
      this.mark(true);
      if (big && (big[0] !== cursor[0] || big[1] !== cursor[1])) this.enlarge(...cursor, true);
    }
    const row = this.sharesTokens ? this.shown.idx.indexOf(token) : -1, m = this.state.enlarged && this.mat(...this.state.enlarged);
    if (m && row >= 0) this.showCell(row, argmax(m, row * this.shown.M, 1, this.shown.M));
  }

  /** Sizes, labels and matrices for the shown tokens: all, or all but the special ones (rows renormalised).
   * N query rows x M key columns; thumbnails thumb x thumbWidth px. */
  layout() {
    const { L, H, N: rows, M: cols, v, part } = this.attention, hide = this.state.hideSpecial;
    const idx = keep(this.tokens, hide), kidx = keep(this.keyTokens, hide), N = idx.length, M = kidx.length;
    let empty = 0, shown = v;
    this.mats = new Map();
    if (part.layered) { // a long text: the grid from the baked thumbnails, a head's layer fetched when enlarged
      const t = (hide && part.thumbnails.shown) || part.thumbnails.all;
      this.grid = { v: t.values, n: t.shape[2], m: t.shape[3] };
      shown = null;
    } else if (hide) {
      shown = new Float32Array(L * H * N * M);
      for (let m = 0; m < L * H; m++) {
        const r = renorm(v.subarray(m * rows * cols, (m + 1) * rows * cols), cols, idx, kidx);
        shown.set(r.m, m * N * M);
        empty += r.empty;
      }
    }
    this.shown = { N, M, v: shown, idx, kidx, tokens: idx.map((i) => this.tokens[i]), keyTokens: kidx.map((i) => this.keyTokens[i]) };
    if (!part.layered) this.grid = { v: shown, n: N, m: M };
    this.thumb = this.thumbWidth = 0;
    this.fit();
    const c = (this.cellSize = Math.max(12, Math.min(24, Math.floor(480 / Math.max(N, M)))));
    Object.assign(this.heatmap, { width: M, height: N });
    this.heatmap.style.cssText = `width:${M * c}px;height:${N * c}px`;
    this.cellBox.style.width = this.cellBox.style.height = c + "px";
    for (const [axis, tokens] of [[this.rowLabels, this.shown.tokens], [this.columnLabels, this.shown.keyTokens]]) {
      axis.style.setProperty("--c", c + "px");
      axis.replaceChildren(...tokens.map((x) => tokenNode(x)));
    }
    this.state.cell = null;
    this.note.hidden = !hide && !part.layered;
    this.note.textContent = (hide ? hiddenNote(empty, " across all heads") : "") + (part.layered ? " " + LONG_NOTE : "");
    if (this.state.enlarged) this.showCell(0, 0, true);
  }

  /** Thumbnail sizes: side(N) px high and side(M) px wide (at least 48, a multiple of the count; at most 80), both
   * scaled down (the width to no less than 20 px) until all heads fit the width of the figure. */
  fit() {
    const { L, H } = this.attention, { N, M } = this.shown, natural = side(M);
    const room = Math.floor((this.gridBox.clientWidth - this.rowsEl.offsetWidth - 4 + GAP) / H) - GAP;
    const u = room > 0 ? Math.max(20, Math.min(natural, room)) : natural;
    const t = N === M ? u : Math.max(20, Math.round((side(N) * u) / natural));
    if (t === this.thumb && u === this.thumbWidth) return;
    this.thumb = t;
    this.thumbWidth = u;
    this.pixelRanges = ranges(this.grid.n, t);
    this.columnRanges = ranges(this.grid.m, u);
    this.style.setProperty("--t", u + "px"); // thumbnail width (and height when square)
    this.style.setProperty("--tr", t + "px");
    Object.assign(this.gridCanvas, { width: H * (u + GAP) - GAP, height: L * (t + GAP) - GAP });
    this.image = null;
    this.mark();
    this.redraw();
  }

  draw() {
    const { L, H } = this.attention, { n: N, m: M, v } = this.grid, t = this.thumb, u = this.thumbWidth, canvas = this.gridCanvas;
    const d = dark(), base = cssRGB(this, "--md-code-bg-color"), palette = (this.palette = lut(d, base));
    const W = canvas.width, ctx = canvas.getContext("2d"), img = (this.image ??= ctx.createImageData(W, canvas.height));
    const px = new Uint32Array(img.data.buffer);
    for (let l = 0; l < L; l++)
      for (let hd = 0; hd < H; hd++)
        blit(px, W, hd * (u + GAP), l * (t + GAP), v, (l * H + hd) * N * M, N, M, t, u, this.pixelRanges, this.columnRanges, palette);
    ctx.putImageData(img, 0, 0);
    this.legend.style.background = gradient(d, base);
    if (this.state.enlarged) this.heat();
  }

  /** [layer, head] under a pointer event on the grid. */
  at(e) {
    return [Math.min(this.attention.L - 1, Math.floor(e.offsetY / (this.thumb + GAP))),
      Math.min(this.attention.H - 1, Math.floor(e.offsetX / (this.thumbWidth + GAP)))];
  }

  pick(e, go) {
    this.state.cursor = this.at(e);
    this.mark(true);
    if (go) this.enlarge(...this.state.cursor);
  }

  /** Position the cursor box on the current thumbnail (visible on hover or keyboard focus). */
  mark(on) {
    const [l, hd] = this.state.cursor;
    this.cursorBox.hidden = !(on || document.activeElement === this.gridCanvas);
    this.cursorBox.style.transform = `translate(${hd * (this.thumbWidth + GAP)}px,${l * (this.thumb + GAP)}px)`;
  }

  key(e) {
    const m = move(e.key, ...this.state.cursor, this.attention.L, this.attention.H);
    if (m) {
      e.preventDefault();
      this.state.cursor = m;
      this.mark();
      this.announce.textContent = `Layer ${m[0]}, head ${m[1]}`;
    } else if (e.key === "Enter" || e.key === " ") {
      e.preventDefault();
      this.enlarge(...this.state.cursor);
    } else if (e.key === "Escape") this.close();
  }

  /** Enlarge head hd of layer l: the reader's choice (focus goes there, linked views learn it) or a linked view's. */
  enlarge(l, hd, followed) {
    this.state.enlarged = [l, hd];
    this.detail.hidden = false;
    this.detailTitle.textContent = `Layer ${l} · head ${hd}`;
    this.detail.setAttribute("aria-label", `Layer ${l}, head ${hd}, enlarged`);
    this.heat();
    this.showCell(0, 0, true);
    if (followed) return;
    this.heatmap.focus({ preventScroll: true });
    this.detail.scrollIntoView({ block: "nearest" });
    this.tell({ layer: l, head: hd });
  }

  close() {
    if (!this.state.enlarged) return;
    this.state.enlarged = null;
    this.detail.hidden = true;
    this.gridCanvas.focus({ preventScroll: true });
  }

  heat() {
    const { N, M } = this.shown, [l, hd] = this.state.enlarged, m = this.mat(l, hd);
    this.detailTitle.textContent = `Layer ${l} · head ${hd}` + (m ? "" : " (loading…)");
    if (!m) return;
    const ctx = this.heatmap.getContext("2d"), img = ctx.createImageData(M, N);
    blit(new Uint32Array(img.data.buffer), M, 0, 0, m, 0, N, M, N, M, ranges(N, N), ranges(M, M), this.palette);
    ctx.putImageData(img, 0, 0);
  }

  /** Head hd of layer l over the shown tokens (N x M, rows renormalised when special tokens are hidden), or null
   * while a long text's layer is fetched (parts.js; the enlarged head is drawn when it comes). */
  mat(l, hd) {
    const { H, N: R, M: C, part } = this.attention, { N, M, v, idx, kidx } = this.shown;
    if (!part.layered) return v.subarray((l * H + hd) * N * M, (l * H + hd + 1) * N * M);
    const lv = part.cached(l);
    if (!lv) {
      part.layer(l).then(() => {
        const big = this.state.enlarged;
        if (big && big[0] === l && this.isConnected) this.heat(), this.showCell(0, 0, true);
      }, (e) => this.fail(e));
      return null;
    }
    const key = `${l} ${hd}`;
    let m = this.mats.get(key);
    if (!m) {
      m = lv.v.subarray(hd * R * C, (hd + 1) * R * C);
      if (this.state.hideSpecial) m = renorm(m, C, idx, kidx).m;
      this.mats.clear(); // one head at a time (a 2,048-token head is 16 MB)
      this.mats.set(key, m);
    }
    return m;
  }

  /** Hover / keyboard cell in the enlarged heatmap: exact value readout and axis highlights. */
  showCell(i, j, quiet) {
    const { N, M, tokens, keyTokens } = this.shown, c = this.cellSize, old = this.state.cell;
    if (!this.state.enlarged || i < 0 || j < 0 || i >= N || j >= M) return;
    const m = this.mat(...this.state.enlarged);
    if (!m) return;
    if (old) this.rowLabels.children[old[0]].classList.remove("xp-on"), this.columnLabels.children[old[1]].classList.remove("xp-on");
    this.state.cell = [i, j];
    this.rowLabels.children[i].classList.add("xp-on");
    this.columnLabels.children[j].classList.add("xp-on");
    this.cellBox.hidden = !!quiet;
    this.cellBox.style.transform = `translate(${j * c}px,${i * c}px)`;
    const [l, hd] = this.state.enlarged, w = m[i * M + j];
    this.cellReadout.textContent = quiet ? "Hover or use the arrow keys for exact values; Escape closes."
      : `L${l} H${hd}: ${show(tokens[i])} → ${show(keyTokens[j])} ${w.toFixed(3)}`;
  }
}
