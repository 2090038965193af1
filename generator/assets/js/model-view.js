// <explorable-model-view>: a layers x heads grid of attention heatmaps on one canvas; a head enlarges on demand.
// Attribute (optional): hide-special. Shares (selection.js) the head it enlarges (layer and head) and whether special
// tokens are hidden; a layer or head chosen in a linked view moves its keyboard cursor there.
import { View, h, move, scroller } from "./view.js";
import { attention } from "./payload.js";
import { lut, gradient } from "./colour.js";
import { tokenNode, show } from "./tokens.js";
import { dark, cssRGB } from "./theme.js";
import { keep, renorm, argmax, hiddenNote, HIDDEN_CAPTION } from "./attention.js";
import { pngButton } from "./export.js";

const GAP = 4;

/** Source index ranges [s0[p], s1[p]) covered by output pixel p when n values are drawn on t pixels. */
function ranges(n, t) {
  const s0 = new Int32Array(t), s1 = new Int32Array(t);
  for (let p = 0; p < t; p++) {
    s0[p] = Math.floor((p * n) / t);
    s1[p] = Math.max(s0[p] + 1, Math.floor(((p + 1) * n) / t));
  }
  return [s0, s1];
}

/** Paint the n x n matrix at v[off..] as a t x t block (max-pooled when shrinking) into pixels px of width W. */
function blit(px, W, x, y, v, off, n, t, [s0, s1], lt) {
  for (let py = 0; py < t; py++) {
    let o = (y + py) * W + x;
    if (t === n) { // 1:1, the common case
      for (let c = off + py * n, e = c + n; c < e; c++) px[o++] = lt[(v[c] * 255 + 0.5) | 0];
      continue;
    }
    const r0 = s0[py], r1 = s1[py];
    for (let qx = 0; qx < t; qx++) {
      let m = 0;
      for (let r = r0; r < r1; r++)
        for (let c = off + r * n + s0[qx], e = off + r * n + s1[qx]; c < e; c++) if (v[c] > m) m = v[c];
      px[o++] = lt[(m * 255 + 0.5) | 0];
    }
  }
}

export class ModelView extends View {
  static tag = "explorable-model-view";

  async build(p) {
    this.attention = await attention(p); // of every token: {L, H, N, v}
    this.tokens = p.tokens;
    const { L, H } = this.attention;
    this.hasSpecial = p.tokens.some((t) => t.special);
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
        const m = move(e.key, ...(this.state.cell || [0, 0]), this.shown.N, this.shown.N);
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

    const bar = h("div", { class: "xp-bar" }, h("span", null, "weight 0 ", this.legend, " 1"));
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
    const keys = ["attention weight 0 ", { fill: getComputedStyle(this.legend).backgroundImage, w: 72 }, " 1"];
    if (!enlarged) return [this.gridFigure, `Attention weights, ${L} layers × ${H} heads${hidden}`, "all-heads", keys];
    const [l, head] = this.state.enlarged;
    return [this.detailFigure, `Attention weights, layer ${l}, head ${head}${hidden}`, `L${l}-H${head}`, keys];
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
    const row = this.shown.idx.indexOf(token);
    if (this.state.enlarged && row >= 0) {
      const [a, b] = this.state.enlarged, N = this.shown.N;
      this.showCell(row, argmax(this.shown.v, ((a * H + b) * N + row) * N, 1, N));
    }
  }

  /** Sizes, labels and matrices for the shown tokens: all, or all but the special ones (rows renormalised). */
  layout() {
    const { L, H, N: all, v } = this.attention, hide = this.state.hideSpecial, idx = keep(this.tokens, hide), N = idx.length;
    let empty = 0, shown = v;
    if (hide) {
      shown = new Float32Array(L * H * N * N);
      for (let m = 0; m < L * H; m++) {
        const r = renorm(v.subarray(m * all * all, (m + 1) * all * all), all, idx);
        shown.set(r.m, m * N * N);
        empty += r.empty;
      }
    }
    this.shown = { N, v: shown, idx, tokens: idx.map((i) => this.tokens[i]) };
    this.thumb = 0;
    this.fit();
    const c = (this.cellSize = Math.max(12, Math.min(24, Math.floor(480 / N))));
    Object.assign(this.heatmap, { width: N, height: N });
    this.heatmap.style.cssText = `width:${N * c}px;height:${N * c}px`;
    this.cellBox.style.width = this.cellBox.style.height = c + "px";
    for (const axis of [this.rowLabels, this.columnLabels]) {
      axis.style.setProperty("--c", c + "px");
      axis.replaceChildren(...this.shown.tokens.map((x) => tokenNode(x)));
    }
    this.state.cell = null;
    this.note.hidden = !hide;
    this.note.textContent = hide ? hiddenNote(empty, " across all heads") : "";
    if (this.state.enlarged) this.showCell(0, 0, true);
  }

  /** Thumbnail size: N px (at least 48, a multiple of N; at most 80), less (down to 20 px) until all heads fit the width. */
  fit() {
    const { L, H } = this.attention, N = this.shown.N, big = N >= 48 ? Math.min(N, 80) : N * Math.ceil(48 / N);
    const room = Math.floor((this.gridBox.clientWidth - this.rowsEl.offsetWidth - 4 + GAP) / H) - GAP;
    const t = room > 0 ? Math.max(20, Math.min(big, room)) : big;
    if (t === this.thumb) return;
    this.thumb = t;
    this.pixelRanges = ranges(N, t);
    this.style.setProperty("--t", t + "px");
    Object.assign(this.gridCanvas, { width: H * (t + GAP) - GAP, height: L * (t + GAP) - GAP });
    this.image = null;
    this.mark();
    this.redraw();
  }

  draw() {
    const { L, H } = this.attention, { N, v } = this.shown, t = this.thumb, canvas = this.gridCanvas;
    const d = dark(), base = cssRGB(this, "--md-code-bg-color"), palette = (this.palette = lut(d, base));
    const W = canvas.width, ctx = canvas.getContext("2d"), img = (this.image ??= ctx.createImageData(W, canvas.height));
    const px = new Uint32Array(img.data.buffer);
    for (let l = 0; l < L; l++)
      for (let hd = 0; hd < H; hd++) blit(px, W, hd * (t + GAP), l * (t + GAP), v, (l * H + hd) * N * N, N, t, this.pixelRanges, palette);
    ctx.putImageData(img, 0, 0);
    this.legend.style.background = gradient(d, base);
    if (this.state.enlarged) this.heat();
  }

  /** [layer, head] under a pointer event on the grid. */
  at(e) {
    const s = this.thumb + GAP;
    return [Math.min(this.attention.L - 1, Math.floor(e.offsetY / s)), Math.min(this.attention.H - 1, Math.floor(e.offsetX / s))];
  }

  pick(e, go) {
    this.state.cursor = this.at(e);
    this.mark(true);
    if (go) this.enlarge(...this.state.cursor);
  }

  /** Position the cursor box on the current thumbnail (visible on hover or keyboard focus). */
  mark(on) {
    const [l, hd] = this.state.cursor, s = this.thumb + GAP;
    this.cursorBox.hidden = !(on || document.activeElement === this.gridCanvas);
    this.cursorBox.style.transform = `translate(${hd * s}px,${l * s}px)`;
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
    const { N, v } = this.shown, [l, hd] = this.state.enlarged, ctx = this.heatmap.getContext("2d"), img = ctx.createImageData(N, N);
    blit(new Uint32Array(img.data.buffer), N, 0, 0, v, (l * this.attention.H + hd) * N * N, N, N, ranges(N, N), this.palette);
    ctx.putImageData(img, 0, 0);
  }

  /** Hover / keyboard cell in the enlarged heatmap: exact value readout and axis highlights. */
  showCell(i, j, quiet) {
    const { N, v, tokens } = this.shown, c = this.cellSize, old = this.state.cell;
    if (!this.state.enlarged || i < 0 || j < 0 || i >= N || j >= N) return;
    if (old) this.rowLabels.children[old[0]].classList.remove("xp-on"), this.columnLabels.children[old[1]].classList.remove("xp-on");
    this.state.cell = [i, j];
    this.rowLabels.children[i].classList.add("xp-on");
    this.columnLabels.children[j].classList.add("xp-on");
    this.cellBox.hidden = !!quiet;
    this.cellBox.style.transform = `translate(${j * c}px,${i * c}px)`;
    const [l, hd] = this.state.enlarged, w = v[((l * this.attention.H + hd) * N + i) * N + j];
    this.cellReadout.textContent = quiet ? "Hover or use the arrow keys for exact values; Escape closes."
      : `L${l} H${hd}: ${show(tokens[i])} → ${show(tokens[j])} ${w.toFixed(3)}`;
  }
}
