// <explorable-head-view>: lines from query tokens (left) to key tokens (right), one colour per head.
// Attributes (optional): layer="3", heads="0 2 5" | "all", hide-special. Shares (selection.js) the layer it shows
// and whether special tokens are hidden, follows a head chosen in a linked view (that head alone is shown), and
// writes the token it pins.
import { View, h, move, roving, scroller } from "./view.js";
import { headColour } from "./colour.js";
import { tokenNode, show } from "./tokens.js";
import { keep, renorm, argmax, hiddenNote, sparseNote, HIDDEN_CAPTION } from "./attention.js";
import { pngButton } from "./export.js";
import { attentionParts, partSelect } from "./parts.js";
import { ROW, alphaOf, widthOf, batches, chunks, bandOf, outside, cachePlan, nearLayers } from "./head-lines.js";

// Drawing (head-lines.js says why): a figure taller than BAND px is drawn BAND px at a time around the part in view;
// the first frame after a change strokes at most `budget` (head-lines.js lineCost units), strongest lines first, the
// rest follows a chunk per frame; the budget adapts to keep frames near FRAME ms.
const BAND = 1600, FRAME = 40, EDGE = 3; // EDGE: px between the token columns and the lines' ends
// Each head's lines go to a bitmap of their own (composited, heads ascending, every frame); those of the shown layer,
// of the one shown before and of the next are kept (the others prepared in idle time, PREP cost at a time), so a head
// toggle or a switch among them strokes nothing; at most CACHE bytes (a phone at devicePixelRatio 3 gets scale-2
// bitmaps: cachePlan). Without OffscreenCanvas, or when not one layer fits, lines are stroked on the canvas.
const CACHE = 48e6, CAN_CACHE = typeof OffscreenCanvas === "function", PREP = 1e6;
const idle = globalThis.requestIdleCallback
  ? (f) => { const id = requestIdleCallback(f, { timeout: 2000 }); return () => cancelIdleCallback(id); }
  : (f) => { const id = setTimeout(f, 30); return () => clearTimeout(id); };
// Token columns (issue 22): a figure of more than ALL_ROWS rows keeps only the rows in view, MARGIN more on each side,
// in the DOM (2,048 tokens made 4,096 nodes, whose style, layout and paint were most of the first figure's time);
// each option says its place (aria-posinset of aria-setsize) for screen readers.
export const ALL_ROWS = 160, MARGIN = 40;
// "save PNG" of a figure of more than EXPORT_ROWS rows draws the rows in view (at most EXPORT_ROWS), and its caption
// says which: the whole of 2,048 rows would be 45,000 CSS px tall, past Chrome's largest canvas (32,767 px a side)
export const EXPORT_ROWS = 400;
// [value, label]: "qk" = query segment, key segment (an array: "10" as an object key would sort first)
const LINES_NOTE = "Long text: this layer's weights of 0.01 or more, the lines drawn; a readout gives each query's weights under 0.01 as one sum.";
const FILTERS = [["all", "All"], ["00", "A→A"], ["01", "A→B"], ["10", "B→A"], ["11", "B→B"]];
const segment = (t) => (t.segment === 1 ? 1 : 0);

/** Show a token node's state (HeadView.tokenState); a node is touched only when its state changed. */
function shade(n, { dim, on, sel, w }) {
  const mark = `${+dim}${+on}${+sel}${w}`;
  if (n.xpMark === mark) return;
  n.xpMark = mark;
  n.classList.toggle("xp-dim", dim);
  n.classList.toggle("xp-on", on);
  n.setAttribute("aria-selected", sel);
  n.style.setProperty("--w", w);
}

/** Stroke one planned batch (head-lines.js batches): one path, one colour, opacity and width. */
function stroke(ctx, { head, bucket, coords }, x0, x1) {
  const p = new Path2D();
  for (let i = 0; i < coords.length; i += 2) p.moveTo(x0, coords[i]), p.lineTo(x1, coords[i + 1]);
  ctx.strokeStyle = headColour(head);
  ctx.globalAlpha = alphaOf(bucket);
  ctx.lineWidth = widthOf(bucket);
  ctx.stroke(p);
}

export class HeadView extends View {
  static tag = "explorable-head-view";

  async build(p) {
    // the part shown (encoder-decoder models have three, see parts.js): query `tokens` x `keyTokens`, N x M
    this.parts ??= await attentionParts(p);
    const part = this.parts[(this.partIndex ??= 0)];
    this.attention = { L: part.L, H: part.H, N: part.R, M: part.C, part };
    const { L, H } = this.attention, a = (n) => this.getAttribute(n), list = a("heads");
    this.tokens = part.rows;
    this.keyTokens = part.cols;
    this.sharesTokens = part.rows === p.tokens;  // linked views know the payload's tokens only
    this.hasSpecial = [...part.rows, ...part.cols].some((t) => t.special);
    // layer; heads: a Set of head numbers; sentences: a FILTERS value; hideSpecial;
    // hoverSlot, pinnedSlot: a token of a column, {column: 0 (query) | 1 (key), row: index among the shown tokens}
    this.state = {
      layer: Math.min(L - 1, Math.max(0, +a("layer") || 0)),
      heads: new Set(list && list !== "all" ? list.split(/[\s,]+/).map(Number).filter((x) => x >= 0 && x < H) : [...Array(H).keys()]),
      sentences: "all",
      hideSpecial: this.hasAttribute("hide-special") && this.hasSpecial,
      hoverSlot: null,
      pinnedSlot: null,
    };
    this.setAttribute("role", "group");
    this.setAttribute("aria-label", this.getAttribute("aria-label") || "Attention head view: lines from each query token to the tokens it attends to");

    const bar = h("div", { class: "xp-bar" }, partSelect(this.parts, this.partIndex, (i) => this.showPart(p, i)) ?? "");
    this.layerSelect = h("select", { "aria-label": "Layer", onchange: (e) => this.share({ layer: +e.target.value }) },
      ...Array.from({ length: L }, (_, i) => h("option", { value: i }, `Layer ${i}`)));
    this.layerSelect.value = this.state.layer;
    this.headButtons = Array.from({ length: H }, (_, i) =>
      h("button", { type: "button", class: "xp-head", style: `--c:${headColour(i)}`, "aria-label": `head ${i}`, onclick: () => this.toggle(i) }, String(i)));
    const all = (on) => () => this.set({ heads: new Set(on ? this.headButtons.keys() : []) });
    bar.append(
      h("label", null, "Layer ", this.layerSelect),
      h("span", { class: "xp-heads", role: "toolbar", "aria-label": "Heads shown (arrow keys move, Space toggles)" }, "Heads ",
        ...roving([...this.headButtons, h("button", { type: "button", class: "xp-btn", onclick: all(1) }, "all"),
          h("button", { type: "button", class: "xp-btn", onclick: all(0) }, "none")])));
    if (this.tokens.some((t) => t.segment === 1)) {
      bar.append(h("label", null, "Sentences ", h("select", { onchange: (e) => this.set({ sentences: e.target.value }) },
        ...FILTERS.map(([v, t]) => h("option", { value: v }, t)))));
    }
    if (this.hasSpecial) {
      this.hideBox = h("input", { type: "checkbox", checked: this.state.hideSpecial, onchange: (e) => this.share({ hideSpecial: e.target.checked }) });
      bar.append(h("label", null, this.hideBox, " hide special tokens"));
    }
    this.note = h("p", { class: "xp-note", hidden: true });
    this.canvas = h("canvas", { "aria-hidden": "true" });
    bar.append(pngButton(this, () => this.exported()));
    this.columns = [0, 1].map((c) => h("div", { class: c ? "xp-col" : "xp-col xp-q", role: "listbox", "aria-label": c ? "Key tokens (attended to)" : "Query tokens (attending)" }));
    const grid = (this.grid = h("div", { class: "xp-hv", onkeydown: (e) => this.key(e), onclick: (e) => this.tap(e),
      onpointerover: (e) => this.point(e), onpointerleave: () => this.set({ hoverSlot: null }),
      onfocusin: (e) => this.point(e), onfocusout: (e) => !this.contains(e.relatedTarget) && this.set({ hoverSlot: null }) },
      h("div", { class: "xp-cap" }, part.q), h("div"), h("div", { class: "xp-cap" }, part.k),
      this.columns[0], (this.stage = h("div", { style: "position:relative" }, this.canvas)), this.columns[1]));
    this.readout = h("div", { class: "xp-readout", "aria-live": "polite" });
    this.replaceChildren(bar, this.note, scroller(grid), this.readout);
    this.resizes = new ResizeObserver(() => this.stage.clientWidth !== this.width && this.redraw());
    this.canvas.style.cssText = "position:absolute;left:0;top:0;width:100%";
    this.budget = 4e6; // px of stroked line area in one frame (adapted by strokeRest)
    this.onScroll = () => this.scrollCheck ||= requestAnimationFrame(() => {
      this.scrollCheck = 0;
      const seen = -this.stage.getBoundingClientRect().top;
      if (this.renderRows()) this.shadeColumns();
      if (this.band && outside(this.band, Math.max(this.kept.length, this.keptKeys.length) * ROW, seen, innerHeight)) this.paint();
    });
    this.fillColumns();
    // a long figure keeps its controls in sight (the layer, the heads, save PNG) while the reader scrolls its rows
    (this.bar = bar).classList.toggle("xp-sticky", this.virtual);
    await this.source(this.state.layer); // a long text's layer comes from its data file: the first figure waits for it
  }

  /** Show another part: the controls are rebuilt for its layers and heads. */
  async showPart(p, i) {
    this.stop();
    this.partIndex = i;
    this.matrices = null;
    await this.build(p);
    this.start();
    this.redraw();
  }

  start() {
    this.resizes.observe(this.stage);
    addEventListener("scroll", this.onScroll, { passive: true, capture: true });
    addEventListener("resize", this.onScroll); // a taller window needs more rows
  }

  stop() {
    this.resizes.disconnect();
    removeEventListener("scroll", this.onScroll, { capture: true });
    removeEventListener("resize", this.onScroll);
    cancelAnimationFrame(this.scrollCheck);
    cancelAnimationFrame(this.more);
    cancelAnimationFrame(this.paintedNow);
    this.scrollCheck = this.more = this.paintedNow = 0;
    this.dropCache();
  }

  set(patch) {
    const rebuild = "hideSpecial" in patch && patch.hideSpecial !== this.state.hideSpecial;
    if ("layer" in patch && patch.layer !== this.state.layer) (this.previous = this.state.layer), (this.switchAt = performance.now());
    super.set(patch);
    if ("layer" in patch) this.layerSelect.value = this.state.layer;
    if ("layer" in patch || rebuild) this.matrices = null;
    if (rebuild) this.fillColumns();
    if (this.hideBox) this.hideBox.checked = this.state.hideSpecial;
  }

  /** A linked view chose a layer, a head (shown alone), whether special tokens are hidden, or a token (pinned as a
   * query, unless pinned here already). */
  follow({ layer, head, hideSpecial, token }) {
    const { L, H } = this.attention, patch = {};
    if (layer >= 0 && layer < L) patch.layer = layer;
    if (head >= 0 && head < H && !(this.state.heads.size === 1 && this.state.heads.has(head))) patch.heads = new Set([head]);
    if (hideSpecial != null && this.hasSpecial) patch.hideSpecial = hideSpecial;
    this.set(patch);
    const pin = this.state.pinnedSlot, row = token == null ? -1 : this.kept.indexOf(token);
    if (token !== undefined && !(pin && this.kept[pin.row] === token)) this.set({ pinnedSlot: row < 0 ? null : { column: 0, row } });
  }

  /** Show or hide head i; when one head is left, linked views learn it. */
  toggle(i) {
    const heads = new Set(this.state.heads);
    heads.has(i) ? heads.delete(i) : heads.add(i);
    this.set({ heads });
    if (heads.size === 1) this.tell({ layer: this.state.layer, head: [...heads][0] });
  }

  /** (Re)build the token columns for the shown tokens: queries `kept` (into tokens), keys `keptKeys` (into
   * keyTokens); a long column keeps the rows near the viewport only (renderRows). */
  fillColumns() {
    this.kept = keep(this.tokens, this.state.hideSpecial);
    this.keptKeys = keep(this.keyTokens, this.state.hideSpecial);
    this.state.hoverSlot = this.state.pinnedSlot = null;
    this.tabStop = { column: 0, row: 0 };
    this.rendered = [new Map(), new Map()];
    this.window = null;
    this.virtual = Math.max(this.kept.length, this.keptKeys.length) > ALL_ROWS;
    this.columns.forEach((col, c) => {
      col.replaceChildren();
      col.style.cssText = "";
      if (!this.virtual) return;
      // a fixed width: that of the column's longest tokens (the rows come and go, the column must not)
      const list = c ? this.keptKeys : this.kept, all = c ? this.keyTokens : this.tokens;
      const size = new Map(list.map((ti) => [ti, show(all[ti]).length]));
      const longest = [...list].sort((a, b) => size.get(b) - size.get(a)).slice(0, 12);
      col.replaceChildren(...longest.map((ti) => tokenNode(all[ti])));
      const width = col.getBoundingClientRect().width;
      col.replaceChildren();
      col.style.cssText = `position:relative;box-sizing:border-box;height:${list.length * ROW}px;min-width:${Math.ceil(width)}px`;
    });
    this.renderRows();
  }

  /** The node of row `row` of column `c` (an option of its listbox). */
  rowNode(c, row) {
    const n = tokenNode((c ? this.keyTokens : this.tokens)[(c ? this.keptKeys : this.kept)[row]]);
    n.setAttribute("role", "option");
    n.setAttribute("aria-posinset", row + 1);
    n.setAttribute("aria-setsize", (c ? this.keptKeys : this.kept).length);
    n.tabIndex = this.tabStop.column === c && this.tabStop.row === row ? 0 : -1;
    n.dataset.i = row;
    n.dataset.s = c;
    return n;
  }

  /** The rows [a, b) to keep in the DOM: all of a short figure; of a long one, those in view and MARGIN on each side
   * (2 * MARGIN at least), or those around row `around`. */
  rowWindow(around) {
    const n = Math.max(this.kept.length, this.keptKeys.length);
    if (!this.virtual) return [0, n];
    const seen = around == null ? -this.stage.getBoundingClientRect().top : around * ROW - innerHeight / 2;
    const a = Math.max(0, Math.min(Math.floor(seen / ROW) - MARGIN, n - 2 * MARGIN));
    return [a, Math.min(n, Math.max(a + 2 * MARGIN, Math.ceil((seen + innerHeight) / ROW) + MARGIN))];
  }

  /** Put the rows of rowWindow(around) in the columns, keeping the nodes already there (and the focus of the one
   * focused); true when the rows changed. The tab stop stays on a row in the DOM. A focused row scrolled out of the
   * window stays in the DOM, out of the flow at its own place (absolute), so the keyboard goes on from it. */
  renderRows(around) {
    const [a, b] = this.rowWindow(around), old = this.window;
    if (old && old[0] === a && old[1] === b) return false;
    this.window = [a, b];
    const stop = this.tabStop, active = document.activeElement;
    const focused = active && this.columns.includes(active.parentNode) ? active : null;
    if ((stop.row < a || stop.row >= b) && !focused) {
      const seen = Math.floor(-this.stage.getBoundingClientRect().top / ROW);
      this.tabStop = { column: stop.column, row: Math.max(a, Math.min(b - 1, seen)) };
    }
    this.columns.forEach((col, c) => {
      const n = (c ? this.keptKeys : this.kept).length, was = this.rendered[c], now = new Map(), before = [], after = [];
      const lo = Math.min(a, n), hi = Math.min(b, n), first = old ? old[0] : Infinity;
      for (const [row, node] of was) {
        if (row >= lo && row < hi) continue;
        if (node !== focused) node.remove();
        else (node.style.cssText = `position:absolute;left:0;top:${row * ROW}px`), now.set(row, node);
      }
      for (let row = lo; row < hi; row++) {
        let node = was.get(row);
        if (node && node.style.position === "absolute") node.style.cssText = "", (row < first ? before : after).push(node);
        else if (!node) (node = this.rowNode(c, row)), (row < first ? before : after).push(node);
        node.tabIndex = this.tabStop.column === c && this.tabStop.row === row ? 0 : -1;
        now.set(row, node);
      }
      col.prepend(...before);
      col.append(...after);
      if (focused && document.activeElement !== focused && focused.isConnected) focused.focus({ preventScroll: true });
      if (this.virtual) col.style.paddingTop = lo * ROW + "px";
      this.rendered[c] = now;
    });
    return true;
  }

  /** Move the tab stop to row `row` of column `c` and focus it (its rows rendered first: focus scrolls it into view). */
  focusRow(c, row) {
    const stop = this.rendered[this.tabStop.column].get(this.tabStop.row);
    if (stop) stop.tabIndex = -1;
    this.tabStop = { column: c, row };
    if (!this.rendered[c].has(row)) this.renderRows(row), this.shadeColumns();
    const node = this.rendered[c].get(row);
    node.tabIndex = 0;
    node.focus();
  }

  /** Per-head matrices of the current layer, shown queries x shown keys, row stride k (renormalised when special
   * tokens are hidden); a sparse layer's (parts.js) also `rows`, its kept entries row by row. */
  matrix(head) {
    this.matrices ??= new Map();
    let m = this.matrices.get(head);
    if (!m) this.matrices.set(head, (m = this.weights(this.state.layer, head)));
    return m;
  }

  /** What draws layer `layer`: a long text's lines (its weights from 0.01, all the lines need: parts.js), or the
   * full layer when special tokens are hidden (rows renormalised over every weight), or when it is decoded anyway;
   * `cached` only: null when not decoded yet, else a Promise of it. */
  source(layer, cached) {
    const part = this.attention.part, full = part.cached(layer);
    if (cached) return full ?? (this.state.hideSpecial ? null : part.cachedLines(layer));
    return full ? Promise.resolve(full) : this.state.hideSpecial ? part.layer(layer) : part.lines(layer);
  }

  /** Like matrix(), for any decoded layer (null for one not decoded yet), not kept. */
  weights(layer, head) {
    const { N, M } = this.attention, lv = this.source(layer, true);
    if (!lv) return null;
    const off = head * N * M, dense = () => lv.v.subarray(off, off + N * M);
    if (this.state.hideSpecial) return renorm(dense(), M, this.kept, this.keptKeys);
    // m on first read: a sparse layer's dense form is made only when a token is isolated (parts.js, payload.js)
    let m = null;
    return { get m() { return (m ??= dense()); }, k: M, empty: 0, rows: lv.rows && { ...lv.rows, base: head * N }, rest: lv.rest?.subarray(head * N, (head + 1) * N), lines: lv.lines };
  }

  /** A long text's layer not decoded yet: fetched, then drawn (if still shown); the layers next to it follow in
   * idle time, so that the next switch finds them ready. */
  fetchLayer(layer) {
    this.source(layer).then(() => {
      if (!this.isConnected || this.state.layer !== layer) return;
      this.matrices = null;
      this.redraw();
    }, (e) => this.fail(e));
  }

  /** In idle time, decode the layers next to the shown one (a long text's: parts.js keeps KEEP_LAYERS). */
  prefetch() {
    const { part, L } = this.attention, l = this.state.layer;
    if (!part.layered || this.prefetched === l) return;
    this.prefetched = l;
    idle(() => [l + 1, l - 1].filter((x) => x >= 0 && x < L && !this.source(x, true)).reduce((q, x) => q.then(() => this.state.layer === l && this.source(x)), Promise.resolve()).catch(() => {}));
  }

  /** Whether query row i / key column j pass the sentence filter. */
  filters() {
    const { kept, keptKeys, tokens, keyTokens } = this, { sentences } = this.state;
    return [(i) => sentences === "all" || segment(tokens[kept[i]]) === +sentences[0],
      (j) => sentences === "all" || segment(keyTokens[keptKeys[j]]) === +sentences[1]];
  }

  /** The token slot an event happened on: {column, row, node} or null. */
  slot(e) {
    const node = e.target.closest?.(".xp-tok");
    return node && node.dataset.s != null ? { column: +node.dataset.s, row: +node.dataset.i, node } : null;
  }

  point(e) {
    const s = this.slot(e), h = this.state.hoverSlot;
    if (!s || (h && h.column === s.column && h.row === s.row)) return;
    this.set({ hoverSlot: { column: s.column, row: s.row } });
    if (e.type === "pointerover") this.paintNow();
  }

  /** Repaint within this event rather than on the next frame (a hover's few lines: it shows a frame sooner), at
   * most once a frame; otherwise the repaint set() asked for comes on the next frame. */
  paintNow() {
    if (this.paintedNow || !this.frame) return;
    cancelAnimationFrame(this.frame);
    this.frame = 0;
    this.paint();
    this.paintedNow = requestAnimationFrame(() => (this.paintedNow = 0));
  }

  tap(e) {
    const s = this.slot(e);
    if (!s) return;
    const p = this.state.pinnedSlot;
    this.pinSlot(p && p.column === s.column && p.row === s.row ? null : s);
  }

  /** Pin a slot (null releases); linked views learn the token. */
  pinSlot(s) {
    this.set({ pinnedSlot: s && { column: s.column, row: s.row } });
    if (this.sharesTokens) this.tell({ token: s && (s.column ? this.keptKeys : this.kept)[s.row] });
  }

  key(e) {
    const s = this.slot(e);
    if (!s) return;
    if (e.key === "Enter" || e.key === " ") return e.preventDefault(), this.tap(e);
    if (e.key === "Escape") return this.pinSlot(null);
    const m = move(e.key, s.row, s.column, (s.column ? this.keptKeys : this.kept).length, 2);
    if (!m) return;
    e.preventDefault();
    this.focusRow(m[1], Math.min(m[0], (m[1] ? this.keptKeys : this.kept).length - 1));
  }

  draw() {
    const { canvas, kept: shown, keptKeys } = this, { hoverSlot, pinnedSlot, hideSpecial } = this.state;
    const kq = shown.length, k = keptKeys.length, dpr = devicePixelRatio || 1;
    const lv = this.source(this.state.layer, true);
    if (!lv) { // a long text's layer still on its way: say so, draw it when it comes
      this.note.hidden = false;
      this.note.textContent = `Loading layer ${this.state.layer}…`;
      this.fetchLayer(this.state.layer);
      return;
    }
    const W = (this.width = this.stage.clientWidth) || 200, Hc = Math.max(kq, k) * ROW, x0 = EDGE, x1 = W - EDGE;
    const band = (this.band = this.full ? [0, Hc] : bandOf(Hc, -this.stage.getBoundingClientRect().top, innerHeight, BAND));
    const Hb = band[1] - band[0];
    this.stage.style.height = Hc + "px";
    canvas.style.top = band[0] + "px";
    canvas.style.height = Hb + "px";
    if (canvas.width !== Math.round(W * dpr) || canvas.height !== Math.round(Hb * dpr)) {
      canvas.width = Math.round(W * dpr);
      canvas.height = Math.round(Hb * dpr);
    }
    const ctx = canvas.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, W, Hb);
    ctx.lineCap = "round";
    const [okQuery, okKey] = this.filters();
    const f = hoverSlot || pinnedSlot, heads = [...this.state.heads].sort((a, b) => a - b);
    let empty = 0;
    const mats = heads.map((head) => {
      const w = this.matrix(head);
      empty = Math.max(empty, w.empty);
      return { head, m: w.rows ? null : w.m, n: kq, k, rows: w.rows };
    });
    cancelAnimationFrame(this.more);
    this.more = 0;
    // all lines shown (no token isolated, not the PNG) of a layer with bitmaps already: each head's lines go to its
    // bitmap (cached or drawn now, the strongest of every head first) and the canvas composites them, heads
    // ascending. Else strokes on the canvas itself: also the first picture and a layer none of whose bitmaps are
    // ready (making the bitmaps first would delay them); idle time then fills the cache, shown layer first.
    const cached = !f && !this.full && this.keepCache(W, band, dpr);
    const done = this.dataset.firstPaintMs && cached && cached.some(Boolean) ? cached : null;
    const missing = done ? mats.filter(({ head }) => !done[head]) : mats;
    this.live = done && new Map(missing.map(({ head }) => [head, this.sheet()]));
    const list = batches(missing, (i) => okQuery(i) && !(f && f.column === 0 && f.row !== i),
      (j) => okKey(j) && !(f && f.column === 1 && f.row !== j), band, x0, x1);
    // stroked on the canvas: head by head, as the composite is (source-over is associative: the same picture)
    if (!done) list.sort((a, b) => a.head - b.head || b.bucket - a.bucket);
    this.rest = chunks(list, this.full ? Infinity : this.budget, this.full ? Infinity : this.budget / 2);
    this.strokes = { ctx, x0, x1, W, Hb, dpr, heads, layer: this.state.layer };
    this.strokeNext();
    if (this.switchAt) this.dataset.layerSwitchMs = (performance.now() - this.switchAt).toFixed(1), (this.switchAt = 0);
    if (this.rest.length) this.more = requestAnimationFrame((t) => this.strokeRest(t));
    this.prepare();
    this.prefetch();
    this.shadeColumns();
    this.headButtons.forEach((b, i) => b.setAttribute("aria-pressed", this.state.heads.has(i)));
    const notes = [hideSpecial ? hiddenNote(empty) : "", lv.lines ? LINES_NOTE : lv.sparse ? sparseNote(lv.keep) : ""].filter(Boolean);
    this.note.hidden = !notes.length;
    this.note.textContent = notes.join(" ");
    this.showReadout(heads, okQuery, okKey);
  }

  /** Token states of the rows in the DOM: dimmed outside the sentence filter, shaded by the strongest weight to the
   * isolated token; a node is touched only when its state changed. Nothing while the layer is on its way. */
  shadeColumns() {
    if (!this.source(this.state.layer, true)) return;
    const state = this.tokenState();
    this.rendered.forEach((rows, c) => rows.forEach((n, i) => shade(n, state(c, i))));
  }

  /** (column, row) -> {dim, on, sel, w}: a token's state (outside the sentence filter, isolated, pinned, strongest
   * weight of the shown heads to the isolated token). */
  tokenState() {
    const { hoverSlot, pinnedSlot } = this.state, f = hoverSlot || pinnedSlot, k = this.keptKeys.length;
    const [okQuery, okKey] = this.filters(), heads = [...this.state.heads];
    return (c, i) => {
      let w = 0;
      if (f && f.column !== c) for (const head of heads) w = Math.max(w, this.matrix(head).m[c ? f.row * k + i : i * k + f.row]);
      return { dim: !(c ? okKey(i) : okQuery(i)), on: !!f && f.column === c && f.row === i,
        sel: !!pinnedSlot && pinnedSlot.column === c && pinnedSlot.row === i, w };
    };
  }

  /** Stroke the next chunk of planned batches (one path per head and weight bucket). */
  strokeNext() {
    const { ctx, x0, x1, W, Hb, dpr, heads, layer } = this.strokes, live = this.live;
    for (const b of this.rest.shift() || []) stroke(live ? live.get(b.head) : ctx, b, x0, x1);
    if (!live) return;
    const done = this.cache.layers.get(layer) ?? [];
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.globalAlpha = 1;
    ctx.clearRect(0, 0, W, Hb);
    for (const head of heads) ctx.drawImage(done[head] ?? live.get(head).canvas, 0, 0, W, Hb);
    if (!this.rest.length) for (const [head, c] of live) this.put(layer, head, c.canvas.transferToImageBitmap());
  }

  /** One chunk per frame until all are drawn; the budget follows the frame times seen. */
  strokeRest(t) {
    if (this.last) this.budget = Math.max(5e5, Math.min(5e7, this.budget * (t - this.last > FRAME ? 0.7 : 1.2)));
    this.last = t;
    this.strokeNext();
    this.more = this.rest.length && this.isConnected ? requestAnimationFrame((t) => this.strokeRest(t)) : (this.last = 0);
    this.prepare();
  }

  /** Keep the bitmap cache for this band, width, filter and scale (else drop it); drop layers no longer near.
   * Returns the shown layer's bitmaps (an array by head, holes where missing), or null without a cache. */
  keepCache(W, band, dpr) {
    const { H, L } = this.attention, Hb = band[1] - band[0], plan = cachePlan(dpr, W, Hb, H, CAN_CACHE ? CACHE : 0);
    const key = [W, band, this.state.sentences, this.state.hideSpecial, plan.scale, this.partIndex].join(" ");
    if (this.cache?.key !== key) {
      this.dropCache();
      this.cache = { key, plan, W, Hb, band, layers: new Map() };
    }
    const near = (this.cache.near = nearLayers(this.state.layer, L, plan.layers, this.previous ?? -1));
    for (const [l, maps] of this.cache.layers) if (!near.includes(l)) maps.forEach((b) => b?.close()), this.cache.layers.delete(l);
    for (const l of near) if (!this.cache.layers.has(l)) this.cache.layers.set(l, new Array(H));
    const job = this.cache.job;
    if (job && !near.includes(job.layer)) job.done?.close(), (this.cache.job = null);
    return near.length ? this.cache.layers.get(this.state.layer) : null;
  }

  /** A transparent canvas for one head's bitmap (the cache's scale), drawn on in CSS px of the band: its context. */
  sheet() {
    const { W, Hb, plan } = this.cache, canvas = new OffscreenCanvas(Math.round(W * plan.scale), Math.round(Hb * plan.scale));
    const ctx = canvas.getContext("2d");
    ctx.setTransform(canvas.width / W, 0, 0, canvas.height / Hb, 0, 0);
    ctx.lineCap = "round";
    return ctx;
  }

  /** Keep a finished bitmap (unless its layer was dropped or it is there already). */
  put(layer, head, bitmap) {
    const maps = this.cache?.layers.get(layer);
    if (maps && !maps[head]) maps[head] = bitmap;
    else bitmap.close();
  }

  dropCache() {
    this.cancelPrep?.();
    this.cancelPrep = null;
    for (const maps of this.cache?.layers.values() ?? []) maps.forEach((b) => b?.close());
    this.cache?.job?.done?.close();
    this.cache = this.live = null;
  }

  /** In idle time, until the near layers are all prepared (not while strokes are pending: those come first). */
  prepare() {
    if (this.cancelPrep || this.more || !this.cache?.near.length) return;
    this.cancelPrep = idle((deadline) => {
      this.cancelPrep = null;
      if (this.isConnected && this.prepareSome(deadline)) this.prepare();
    });
  }

  /** Rasterise missing bitmaps a chunk of PREP cost at a time while the idle period lasts (one chunk at least: a
   * task stays a few ms, so a reader's input waits little); false when none is missing. */
  prepareSome(deadline) {
    const { cache } = this;
    do {
      const job = (cache.job ??= this.nextJob());
      if (!job) return false;
      const ctx = this.sheet();
      if (job.done) ctx.globalAlpha = 1, ctx.drawImage(job.done, 0, 0, cache.W, cache.Hb), job.done.close();
      for (const b of job.rest.shift()) stroke(ctx, b, EDGE, cache.W - EDGE);
      // the transfer rasterises now (a canvas records strokes and rasterises when read): the chunk's cost is paid here
      job.done = ctx.canvas.transferToImageBitmap();
      if (!job.rest.length) this.put(job.layer, job.head, job.done), (cache.job = null);
    } while (deadline?.timeRemaining?.() > 4);
    return true;
  }

  /** The first missing bitmap's canvas and planned chunks, or null. */
  nextJob() {
    const { cache } = this;
    for (const layer of cache.near) {
      const head = cache.layers.get(layer).findIndex((b) => !b);
      if (head < 0) continue;
      const w = layer === this.state.layer ? this.matrix(head) : this.weights(layer, head);
      if (!w) continue; // a long text's layer not decoded (prefetch() brings the next ones)
      const list = batches([{ head, m: w.rows ? null : w.m, n: this.kept.length, k: this.keptKeys.length, rows: w.rows }], ...this.filters(), cache.band, EDGE, cache.W - EDGE);
      return { layer, head, rest: list.length ? chunks(list, PREP) : [[]] };
    }
    return null;
  }

  /** What "save PNG" / "save SVG" draw (export.js): [element, caption, file name part, colour keys]. A figure of at
   * most EXPORT_ROWS rows: the whole of it; a longer one: the rows in view, drawn apart (exportRows). */
  exported() {
    const { layer, heads, hideSpecial, sentences } = this.state, shown = [...heads].sort((a, b) => a - b);
    const { part, H } = this.attention, n = Math.max(this.kept.length, this.keptKeys.length);
    const filter = sentences === "all" ? "" : `, sentences ${FILTERS.find((f) => f[0] === sentences)[1]}`;
    const caption = `${part.label}, layer ${layer}, ${shown.length === 1 ? "head" : "heads"} ${shown.join(", ") || "none"} of ${H}${filter}` + (hideSpecial ? HIDDEN_CAPTION : "");
    const keys = ["head ", ...shown.flatMap((i) => [{ fill: headColour(i) }, `${i}  `]), " line width and opacity: attention weight"];
    if (n <= EXPORT_ROWS) return this.drawAll(), [this.grid, caption, `layer${layer}`, keys];
    const [a, b] = this.rowsInView(), el = this.exportRows(a, b);
    setTimeout(() => el.remove()); // (save() reads it at once)
    return [el, `${caption}; tokens ${a + 1}–${b} of ${n}: the rows in view (lines to tokens outside them end at the edge)`,
      `layer${layer}-tokens${a + 1}-${b}`, keys];
  }

  /** The rows [a, b) a reader sees of this figure (the first rows when it is out of sight), at most EXPORT_ROWS. */
  rowsInView() {
    const n = Math.max(this.kept.length, this.keptKeys.length);
    const seen = Math.max(0, this.bar.getBoundingClientRect().bottom) - this.stage.getBoundingClientRect().top; // (below the sticky bar)
    let a = Math.max(0, Math.min(n - 1, Math.floor(seen / ROW))), b = Math.ceil((seen + innerHeight) / ROW);
    if (b <= 0 || seen >= n * ROW) (a = 0), (b = Math.ceil(innerHeight / ROW));
    return [a, Math.max(a + 1, Math.min(n, b, a + EXPORT_ROWS))];
  }

  /** A copy of the figure holding rows [a, b) only (token states and lines as shown, every line drawn), out of sight
   * in this view for export; the caller removes it. */
  exportRows(a, b) {
    const W = this.stage.clientWidth || 200, Hb = (b - a) * ROW, scale = 2, state = this.tokenState();
    const { hoverSlot, pinnedSlot } = this.state, f = hoverSlot || pinnedSlot, [okQuery, okKey] = this.filters();
    const cols = [0, 1].map((c) => {
      const col = h("div", { class: c ? "xp-col" : "xp-col xp-q", style: `min-width:${this.columns[c].style.minWidth || "0"}` });
      for (let i = a; i < Math.min(b, (c ? this.keptKeys : this.kept).length); i++) {
        const node = this.rowNode(c, i);
        shade(node, state(c, i));
        col.append(node);
      }
      return col;
    });
    const canvas = h("canvas", { style: "position:absolute;left:0;top:0;width:100%;height:100%" });
    canvas.width = Math.round(W * scale);
    canvas.height = Math.round(Hb * scale);
    const ctx = canvas.getContext("2d");
    ctx.setTransform(scale, 0, 0, scale, 0, 0);
    ctx.lineCap = "round";
    const heads = [...this.state.heads].sort((x, y) => x - y), kq = this.kept.length, k = this.keptKeys.length;
    const mats = heads.map((head) => {
      const w = this.matrix(head);
      return { head, m: w.rows ? null : w.m, n: kq, k, rows: w.rows };
    });
    const list = batches(mats, (i) => okQuery(i) && !(f && f.column === 0 && f.row !== i),
      (j) => okKey(j) && !(f && f.column === 1 && f.row !== j), [a * ROW, b * ROW], EDGE, W - EDGE);
    list.sort((x, y) => x.head - y.head || y.bucket - x.bucket); // head by head, as the view draws them
    for (const batch of list) stroke(ctx, batch, EDGE, W - EDGE);
    const q = this.grid.children;
    const el = h("div", { class: "xp-hv", style: "position:absolute;left:-100000px;top:0" },
      h("div", { class: "xp-cap" }, q[0].textContent), h("div"), h("div", { class: "xp-cap" }, q[2].textContent),
      cols[0], h("div", { style: `position:relative;width:${W}px;height:${Hb}px` }, canvas), cols[1]);
    this.append(el);
    return el;
  }

  /** The whole figure at once (for the PNG export); the band comes back with the next repaint. */
  drawAll() {
    this.full = true;
    this.paint();
    this.full = false;
    this.redraw();
  }

  showReadout(heads, okQuery, okKey) {
    const { kept: shown, keptKeys, tokens, keyTokens } = this, { pinnedSlot: pin, hoverSlot: hover } = this.state;
    const kq = shown.length, k = keptKeys.length, T = (i) => show(tokens[shown[i]]), TK = (j) => show(keyTokens[keptKeys[j]]);
    const f = hover || pin, rows = [];
    for (const head of f ? heads : []) {
      const { m, rest, lines } = this.matrix(head);
      let q, kk;
      if (pin && hover && pin.column !== hover.column) [q, kk] = pin.column ? [hover.row, pin.row] : [pin.row, hover.row];
      else if (f && f.column === 0) (q = f.row), (kk = argmax(m, q * k, 1, k, okKey));
      else if (f) (kk = f.row), (q = argmax(m, kk, k, kq, okQuery));
      else break;
      if (q < 0 || kk < 0) rows.push([head, `head ${head}: no weight`]);
      else rows.push([head, `head ${head}: ${T(q)} → ${TK(kk)} ${lines && m[q * k + kk] === 0 ? "< 0.01" : m[q * k + kk].toFixed(3)}` +
        (rest ? ` (the row's ${lines ? "weights under 0.01" : "left-out weights"}: ${rest[shown[q]].toFixed(3)})` : "")]);
    }
    this.readout.replaceChildren(...(rows.length
      ? rows.map(([head, s]) => h("span", { class: "xp-ro", style: `--c:${headColour(head)}` }, s))
      : [heads.length ? "Hover, tap or focus a token to isolate its lines and read exact weights." : "No head selected."]));
  }
}
