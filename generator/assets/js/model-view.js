// <explorable-model-view>: a layers x heads grid of attention heatmaps on one canvas; a head enlarges on demand.
// Attribute (optional): hide-special. Emits "explorable-select" {layer, head} on its .explorable container when a
// head is enlarged.
import { View, h, move } from "./view.js";
import { container } from "./payload.js";
import { lut, gradient } from "./colour.js";
import { tokenNode, show } from "./tokens.js";
import { dark, cssRGB } from "./theme.js";
import { keep, renorm, hiddenNote, HIDDEN_CAPTION } from "./attention.js";
import { pngButton } from "./export.js";
import { attentionParts, partSelect } from "./parts.js";

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

/** Thumbnail side (px) for n tokens: at least 48, at most 80, a whole number of pixels per token when enlarging. */
const side = (n) => (n >= 48 ? Math.min(n, 80) : n * Math.ceil(48 / n));

/** Paint the n x m matrix at v[off..] (n rows of m) as a t x u block (max-pooled when shrinking) into pixels px of
 * width W; rr and rc are ranges(n, t) and ranges(m, u). */
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

class ModelView extends View {
  async build(p) {
    // the part shown (encoder-decoder models have three, see parts.js): N query rows x M key columns
    this.parts ??= await attentionParts(p);
    const part = (this.shownPart = this.parts[(this.partIndex ??= 0)]);
    Object.assign(this, { L: part.L, H: part.H });
    const { L, H } = this;
    this.full = { v: part.v, N: part.R, M: part.C, tok: part.rows, ktok: part.cols };
    const anySpecial = [...part.rows, ...part.cols].some((t) => t.special);
    this.hide = this.hasAttribute("hide-special") && anySpecial;
    this.cur = [0, 0];
    this.open = null;
    this.setAttribute("role", "group");
    this.setAttribute("aria-label", this.getAttribute("aria-label") || `Attention of every layer and head (${L} layers × ${H} heads)`);
    this.style.setProperty("--g", GAP + "px");

    const cv = (this.cv = h("canvas", {
      class: "xp-grid", tabindex: 0, "aria-roledescription": "heatmap grid",
      "aria-label": `${L} × ${H} attention heatmaps. Arrow keys move between heads, Enter enlarges one.`,
      onkeydown: (e) => this.key(e), onclick: (e) => this.pick(e, true), onpointermove: (e) => this.pick(e),
      onfocus: () => this.mark(), onblur: () => this.mark(),
    }));
    this.box = h("div", { class: "xp-cur", hidden: true });
    this.legend = h("span", { class: "xp-ramp" });
    this.live = h("span", { class: "xp-sr", "aria-live": "polite" });
    this.note = h("p", { class: "xp-note", hidden: true });
    const lab = (n, f) => Array.from({ length: n }, (_, i) => h("span", null, f(i)));
    const grid = (this.grid = h("div", { class: "xp-mv" }, h("span"),
      h("div", { class: "xp-cols" }, ...lab(H, (i) => `H${i}`)),
      h("div", { class: "xp-rows" }, ...lab(L, (i) => `L${i}`)),
      h("div", { class: "xp-stage" }, cv, this.box)));

    // detail panel: bigger heatmap with token labels on both axes
    this.hm = h("canvas", {
      class: "xp-heat", tabindex: 0,
      onpointermove: (e) => this.cell(Math.floor(e.offsetY / this.c), Math.floor(e.offsetX / this.c)),
      onkeydown: (e) => {
        const m = move(e.key, ...(this.rc || [0, 0]), this.N, this.M);
        if (m) e.preventDefault(), this.cell(...m);
      },
    });
    this.cbox = h("div", { class: "xp-cur", hidden: true });
    this.rowL = h("div", { class: "xp-drows" });
    this.colL = h("div", { class: "xp-dcols" });
    this.hd = h("strong");
    this.dout = h("div", { class: "xp-readout", "aria-live": "polite" });
    this.detail = h("div", { class: "xp-detail", role: "region", hidden: true, onkeydown: (e) => e.key === "Escape" && this.close() },
      h("div", { class: "xp-bar" }, this.hd, pngButton(this, () => this.figure(true)),
        h("button", { type: "button", class: "xp-btn", onclick: () => this.close() }, "close ✕")),
      this.dout,
      h("div", { class: "xp-scroll" }, (this.dgrid = h("div", { class: "xp-dgrid" }, h("span", { class: "xp-axis" }, "query ↓  key →"),
        this.colL, this.rowL, h("div", { class: "xp-stage" }, this.hm, this.cbox)))));

    const bar = h("div", { class: "xp-bar" }, h("span", null, "weight 0 ", this.legend, " 1"));
    const partSel = partSelect(this.parts, this.partIndex, (i) => this.showPart(p, i));
    if (partSel) bar.prepend(partSel);
    if (anySpecial) {
      bar.append(h("label", null, h("input", { type: "checkbox", checked: this.hide, onchange: (e) => this.hideSpecial(e.target.checked) }), " hide special tokens"));
    }
    bar.append(pngButton(this, () => this.figure(false)), h("span", { class: "xp-hint" }, "Click, tap or press Enter on a head to enlarge it."));
    this.replaceChildren(bar, this.note, h("div", { class: "xp-scroll" }, grid), this.live, this.detail);
    this.layout();
  }

  /** [element, caption, file part] of the grid or of the enlarged head, for the PNG export. */
  figure(enlarged) {
    const hidden = this.hide ? HIDDEN_CAPTION : "";
    const what = this.parts.length > 1 ? this.shownPart.label : "Attention weights";
    if (!enlarged) return [this.grid, `${what}, ${this.L} layers × ${this.H} heads${hidden}`, "all-heads"];
    const [l, hd] = this.open;
    return [this.dgrid, `${what}, layer ${l}, head ${hd}${hidden}`, `L${l}-H${hd}`];
  }

  /** Show another part: the grid is rebuilt for its layers and heads. */
  async showPart(p, i) {
    this.stop();
    this.partIndex = i;
    this.open = null;
    await this.build(p);
    this.start();
    this.redraw();
  }

  hideSpecial(on) {
    this.hide = on;
    this.layout();
    this.redraw();
  }

  /** Sizes, labels and matrices for the shown tokens: all, or all but the special ones (rows renormalised).
   * N query rows x M key columns; thumbnails t x u px. */
  layout() {
    const { L, H, full } = this, idx = keep(full.tok, this.hide), kidx = keep(full.ktok, this.hide);
    const N = idx.length, M = kidx.length, size = full.N * full.M;
    let empty = 0;
    if (this.hide) {
      this.v = new Float32Array(L * H * N * M);
      for (let m = 0; m < L * H; m++) {
        const r = renorm(full.v.subarray(m * size, (m + 1) * size), full.M, idx, kidx);
        this.v.set(r.m, m * N * M);
        empty += r.empty;
      }
    } else this.v = full.v;
    this.N = N;
    this.M = M;
    this.tok = idx.map((i) => full.tok[i]);
    this.ktok = kidx.map((i) => full.ktok[i]);
    const t = (this.t = side(N)), u = (this.u = side(M));
    this.rg = ranges(N, t);
    this.cg = ranges(M, u);
    this.style.setProperty("--t", u + "px"); // column width (and row height when square)
    this.style.setProperty("--tr", t + "px");
    Object.assign(this.cv, { width: H * (u + GAP) - GAP, height: L * (t + GAP) - GAP });
    this.img = null;
    const c = (this.c = Math.max(12, Math.min(24, Math.floor(480 / Math.max(N, M)))));
    Object.assign(this.hm, { width: M, height: N });
    this.hm.style.cssText = `width:${M * c}px;height:${N * c}px`;
    this.cbox.style.width = this.cbox.style.height = c + "px";
    for (const [axis, tokens] of [[this.rowL, this.tok], [this.colL, this.ktok]]) {
      axis.style.setProperty("--c", c + "px");
      axis.replaceChildren(...tokens.map((x) => tokenNode(x)));
    }
    this.rc = null;
    this.note.hidden = !this.hide;
    this.note.textContent = this.hide ? hiddenNote(empty, " across all heads") : "";
    if (this.open) this.cell(0, 0, true);
  }

  draw() {
    const { L, H, N, M, t, u, v, cv } = this, d = dark(), base = cssRGB(this, "--md-code-bg-color");
    const lt = (this.lt = lut(d, base));
    const W = cv.width, ctx = cv.getContext("2d"), img = (this.img ??= ctx.createImageData(W, cv.height));
    const px = new Uint32Array(img.data.buffer);
    for (let l = 0; l < L; l++)
      for (let hd = 0; hd < H; hd++) blit(px, W, hd * (u + GAP), l * (t + GAP), v, (l * H + hd) * N * M, N, M, t, u, this.rg, this.cg, lt);
    ctx.putImageData(img, 0, 0);
    this.legend.style.background = gradient(d, base);
    if (this.open) this.heat();
  }

  at(e) {
    return [Math.min(this.L - 1, Math.floor(e.offsetY / (this.t + GAP))), Math.min(this.H - 1, Math.floor(e.offsetX / (this.u + GAP)))];
  }

  pick(e, go) {
    this.cur = this.at(e);
    this.mark(true);
    if (go) this.show(...this.cur);
  }

  /** Position the cursor box on the current thumbnail (visible on hover or keyboard focus). */
  mark(on) {
    const [l, hd] = this.cur;
    this.box.hidden = !(on || document.activeElement === this.cv);
    this.box.style.transform = `translate(${hd * (this.u + GAP)}px,${l * (this.t + GAP)}px)`;
  }

  key(e) {
    const m = move(e.key, ...this.cur, this.L, this.H);
    if (m) {
      e.preventDefault();
      this.cur = m;
      this.mark();
      this.live.textContent = `Layer ${m[0]}, head ${m[1]}`;
    } else if (e.key === "Enter" || e.key === " ") {
      e.preventDefault();
      this.show(...this.cur);
    } else if (e.key === "Escape") this.close();
  }

  show(l, hd) {
    this.open = [l, hd];
    this.detail.hidden = false;
    this.hd.textContent = `Layer ${l} · head ${hd}`;
    this.detail.setAttribute("aria-label", `Layer ${l}, head ${hd}, enlarged`);
    this.heat();
    this.cell(0, 0, true);
    this.hm.focus({ preventScroll: true });
    this.detail.scrollIntoView({ block: "nearest" });
    container(this)?.dispatchEvent(new CustomEvent("explorable-select", { bubbles: true, detail: { layer: l, head: hd } }));
  }

  close() {
    if (!this.open) return;
    this.open = null;
    this.detail.hidden = true;
    this.cv.focus({ preventScroll: true });
  }

  heat() {
    const { N, M, v, hm } = this, [l, hd] = this.open, ctx = hm.getContext("2d"), img = ctx.createImageData(M, N);
    blit(new Uint32Array(img.data.buffer), M, 0, 0, v, (l * this.H + hd) * N * M, N, M, N, M, ranges(N, N), ranges(M, M), this.lt);
    ctx.putImageData(img, 0, 0);
  }

  /** Hover / keyboard cell in the enlarged heatmap: exact value readout and axis highlights. */
  cell(i, j, quiet) {
    const { N, M, c } = this;
    if (!this.open || i < 0 || j < 0 || i >= N || j >= M) return;
    const old = this.rc;
    if (old) this.rowL.children[old[0]].classList.remove("xp-on"), this.colL.children[old[1]].classList.remove("xp-on");
    this.rc = [i, j];
    this.rowL.children[i].classList.add("xp-on");
    this.colL.children[j].classList.add("xp-on");
    this.cbox.hidden = !!quiet;
    this.cbox.style.transform = `translate(${j * c}px,${i * c}px)`;
    const [l, hd] = this.open, w = weight(this, l, hd, i, j);
    this.dout.textContent = quiet ? "Hover or use the arrow keys for exact values; Escape closes."
      : `L${l} H${hd}: ${show(this.tok[i])} → ${show(this.ktok[j])} ${w.toFixed(3)}`;
  }
}
const weight = (m, l, hd, i, j) => m.v[((l * m.H + hd) * m.N + i) * m.M + j];

customElements.get("explorable-model-view") || customElements.define("explorable-model-view", ModelView);
