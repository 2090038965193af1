// <explorable-neuron-view>: inside one attention head (BertViz's neuron view). For the chosen query token: its query
// vector q, every key vector k_j, the products q ⊙ k_j, the scores q·k_j × scale (causal mask where the model has
// one) and their softmax, which is the model's attention weight; lines from the query to each key weighted by it.
// Positive values blue, negative orange, intensity by magnitude; exact values on hover or with the arrow keys.
// Reads the payload section "neuron" (see ARCHITECTURE.md); the weights are recomputed here from q and k.
import { View, h, scroller } from "./view.js";
import { step } from "./token-list.js";
import { array } from "./payload.js";
import { headColour } from "./colour.js";
import { tokenNode, show } from "./tokens.js";
import { dark, cssRGB } from "./theme.js";
import { pngButton } from "./export.js";
import { attend, order, topDims, maxAbs, diverging, divergingLut, lutIndex, keySlot, section, num } from "./neuron.js";

const ROW = 22, LINES = 44, GAP = 10, MIN_CELL = 2, MAX_CELL = 5, NARROW = 560;

export class NeuronView extends View {
  static tag = "explorable-neuron-view";

  async build(p) {
    const s = (this.s = section(p));
    this.tok = p.tokens;
    this.N = p.tokens.length;
    this.data = new Map();
    const last = this.tok.findLastIndex((t) => !t.special);
    const q0 = Number.isInteger(s.query) && s.query >= 0 && s.query < this.N ? s.query : last >= 0 ? last : this.N - 1;
    this.state = { li: 0, hi: 0, qPin: q0, qHov: null, kPin: -1, kHov: null, cell: null, sorted: false };
    await this.layer(0);
    // read before the DOM below exists, so that the first draw forces no layout: the width, the palette, and the
    // width of everything beside the strips, estimated from the text (checked once laid out: this.ro)
    this.w = this.clientWidth;
    this.palette();
    this.fixed = this.estimate();
    this.setAttribute("role", "group");
    this.setAttribute("aria-label", this.getAttribute("aria-label") || "Neuron view: the query and key vectors behind one head's attention weights");

    const layerSel = (this.layerSel = h("select", { "aria-label": "Layer", onchange: (e) => this.pickLayer(+e.target.value) },
      ...s.layers.map((l, i) => h("option", { value: i }, `Layer ${l}`))));
    const headSel = (this.headSel = h("select", { "aria-label": "Head", onchange: (e) => this.pickHead(+e.target.value) },
      ...s.heads.map((hd, i) => h("option", { value: i }, `Head ${hd}`))));
    this.kvNote = h("span", { class: "xp-hint" });
    this.err = h("span", { class: "xp-error", role: "alert" });
    const sort = h("label", null, h("input", { type: "checkbox", onchange: (e) => this.set({ sorted: e.target.checked }) }),
      " sort dimensions by |q ⊙ k| of the chosen key");
    this.legend = h("span", { class: "xp-nlegend" }, "negative ", h("span", { class: "xp-ramp xp-nramp" }), " positive");
    const bar = h("div", { class: "xp-bar" },
      s.layers.length > 1 ? h("label", null, "Layer ", layerSel) : h("span", null, `Layer ${s.layers[0]}`),
      s.heads.length > 1 ? h("label", null, "Head ", headSel) : h("span", null, `Head ${s.heads[0]}`),
      this.kvNote, sort, this.legend, this.err,
      pngButton(this, () => [this.grid, this.caption(), `L${s.layers[this.state.li]}-H${s.heads[this.state.hi]}-q${this.query}`]));

    const col = (label, cls, on) => h("div", { class: "xp-col " + cls, role: "listbox", "aria-label": label, ...on });
    this.qCol = col("Query tokens: hover, tap or use the arrow keys to choose the query", "xp-q", {
      onpointerover: (e) => this.onQuery(e, false),
      onfocusin: (e) => this.onQuery(e, true), // keyboard: the focused token is the query
      onpointerleave: () => this.set({ qHov: null }),
      onclick: (e) => this.onQuery(e, true),
      onkeydown: (e) => this.tokenKey(e, this.qCol, true),
    });
    this.kCol = col("Key tokens: hover or tap to choose the key whose dimensions are read out", "", {
      onpointerover: (e) => this.onKey(e, false),
      onfocusin: (e) => this.onKey(e, false),
      onpointerleave: () => this.set({ kHov: null }),
      onclick: (e) => this.onKey(e, true),
      onkeydown: (e) => this.tokenKey(e, this.kCol, false),
    });
    const fill = (c, t) => c.replaceChildren(...this.tok.map((x, i) => {
      const n = tokenNode(x);
      n.setAttribute("role", "option");
      n.tabIndex = i === (t ? 0 : q0) ? 0 : -1;
      n.dataset.i = i;
      return n;
    }));
    fill(this.qCol, 0);
    fill(this.kCol, 1);

    this.lines = h("canvas", { "aria-hidden": "true", class: "xp-nlines" });
    this.qv = h("canvas", { "aria-hidden": "true" });
    this.strips = h("canvas", {
      tabindex: 0, class: "xp-nstrips", "aria-roledescription": "vector heatmap",
      "aria-label": "Key vectors and their products with the query, one row per key token. Arrow keys move between keys and dimensions.",
      onpointermove: (e) => this.onCell(e), onpointerleave: () => this.set({ cell: null, kHov: null }),
      onclick: (e) => this.onCell(e, true), onkeydown: (e) => this.cellKey(e),
    });
    this.kCap = h("span", { class: "xp-cap" }, "q (top), k_j (rows)");
    this.pCap = h("span", { class: "xp-cap" }, "q ⊙ k_j");
    this.scores = h("div", { class: "xp-col xp-nnum", "aria-hidden": "true" }, ...this.tok.map(() => h("span")));
    this.weights = h("div", { class: "xp-col xp-nnum", "aria-hidden": "true" }, ...this.tok.map(() => h("span", { class: "xp-nw" })));
    const head = h("div", { class: "xp-nhead" }, h("div", { class: "xp-ncaps" }, this.kCap, this.pCap), this.qv);
    this.grid = h("div", { class: "xp-nv" },
      h("div", { class: "xp-cap" }, "query"), h("div"), h("div", { class: "xp-cap" }, "key"), head,
      h("div", { class: "xp-cap" }, "score"), h("div", { class: "xp-cap" }, "weight"),
      this.qCol, this.lines, this.kCol, this.strips, this.scores, this.weights);
    this.out = h("div", { class: "xp-readout xp-nout", "aria-live": "polite" });
    this.replaceChildren(bar, scroller(this.grid), this.out);
    // after each layout (reading it is free here): the real width beside the strips; repaint if the cells change
    this.ro = new ResizeObserver(() => {
      const g = this.geo;
      if (!g) return;
      this.w = this.clientWidth;
      this.fixed = this.grid.offsetWidth - g.width + 8; // + 24 - the strips' 16 px of margin
      const now = this.fit();
      if (["narrow", "two", "cw"].some((k) => now[k] !== g[k])) (this.geo = now), this.redraw();
    });
  }

  start() {
    this.ro.observe(this);
  }

  stop() {
    this.ro.disconnect();
  }

  /** Decoded queries and keys of layer slot li (memoised; decoding is asynchronous). */
  async layer(li) {
    let d = this.data.get(li);
    if (!d) {
      const [q, k] = await Promise.all([array(this.s.queries[li]), array(this.s.keys[li])]);
      this.data.set(li, (d = { q: q.values, k: k.values }));
    }
    return d;
  }

  /** Show layer slot li once its arrays are here (on the site a layer but the first is fetched when picked). */
  async pickLayer(li) {
    this.err.textContent = "";
    const failed = await this.layer(li).then(() => null, (e) => e);
    if (+this.layerSel.value !== li) return; // the reader picked another layer meanwhile
    if (failed) { // the shown layer stays; picking this one again tries its file again
      this.layerSel.value = this.state.li;
      this.err.textContent = `Layer ${this.s.layers[li]} could not be loaded (${failed.message}): pick it again to retry.`;
      return;
    }
    this.set({ li, cell: null });
    this.tell({ layer: this.s.layers[li], head: this.s.heads[this.state.hi] });
  }

  pickHead(hi) {
    this.set({ hi, cell: null });
    this.tell({ layer: this.s.layers[this.state.li], head: this.s.heads[hi] });
  }

  get query() {
    return this.state.qHov ?? this.state.qPin;
  }

  /** Query vectors [N * d] of the current head and the key vectors [N * d] of its key head. */
  vectors() {
    const { s, N, state: st } = this, n = N * s.d, d = this.data.get(st.li), head = s.heads[st.hi];
    const slot = keySlot(head, s.keyHeads, s.nHeads, s.nKvHeads);
    return { q: d.q.subarray(st.hi * n, (st.hi + 1) * n), k: d.k.subarray(slot * n, (slot + 1) * n), kh: Math.floor(head / (s.nHeads / s.nKvHeads)) };
  }

  at(e, col) {
    const t = e.target.closest?.(".xp-tok");
    return t && col.contains(t) ? +t.dataset.i : null;
  }

  onQuery(e, pin) {
    const i = this.at(e, this.qCol);
    if (i == null || (pin && i === this.state.qPin && this.state.qHov == null)) return;
    if (pin) this.pinQuery(i);
    else this.set({ qHov: i });
  }

  /** The reader pins query i: linked views learn the token. */
  pinQuery(i) {
    this.set({ qPin: i, qHov: null, kPin: -1, cell: null });
    this.tell({ token: i });
  }

  /** A linked view chose a layer or head this view has, or a token (the query). */
  follow({ layer, head, token }) {
    const li = this.s.layers.indexOf(layer), hi = this.s.heads.indexOf(head);
    if (li >= 0) (this.layerSel.value = li), this.pickLayer(li);
    if (hi >= 0) (this.headSel.value = hi), this.set({ hi, cell: null });
    if (Number.isInteger(token) && token >= 0 && token < this.N) this.set({ qPin: token, qHov: null, kPin: -1, cell: null });
  }

  onKey(e, pin) {
    const j = this.at(e, this.kCol);
    if (j == null) return;
    if (pin) this.set({ kPin: this.state.kPin === j ? -1 : j, kHov: null });
    else this.set({ kHov: j });
  }

  tokenKey(e, col, isQuery) {
    const i = this.at(e, col);
    if (i == null) return;
    if (e.key === "Enter" || e.key === " ") {
      e.preventDefault();
      return isQuery ? this.pinQuery(i) : this.set({ kPin: this.state.kPin === i ? -1 : i });
    }
    if (e.key === "Escape") return this.set(isQuery ? { qHov: null } : { kPin: -1, kHov: null });
    const nodes = [...col.children], j = step(e.key, i, nodes.length);
    if (j == null) return;
    e.preventDefault();
    nodes[i].tabIndex = -1;
    nodes[j].tabIndex = 0;
    nodes[j].focus();
  }

  /** Key row and dimension under the pointer on the strips canvas. */
  onCell(e, pin) {
    const j = Math.floor(e.offsetY / ROW), x = e.offsetX, g = this.geo;
    if (!g || j < 0 || j >= this.N) return;
    const inK = g.two && x < g.sw, inP = x >= g.px && x < g.px + g.sw;
    const c = inK ? Math.floor(x / g.cw) : inP ? Math.floor((x - g.px) / g.cw) : -1;
    if (pin) return this.set({ kPin: this.state.kPin === j ? -1 : j, kHov: null });
    this.set({ kHov: j, cell: c >= 0 && c < this.s.d ? { j, c } : null });
  }

  cellKey(e) {
    const { N, s } = this, cur = this.state.cell || { j: Math.max(0, this.state.kPin), c: 0 };
    const d = { ArrowUp: [-1, 0], ArrowDown: [1, 0], ArrowLeft: [0, -1], ArrowRight: [0, 1] }[e.key];
    if (d) {
      e.preventDefault();
      const j = Math.max(0, Math.min(N - 1, cur.j + d[0])), c = Math.max(0, Math.min(s.d - 1, cur.c + d[1]));
      return this.set({ cell: { j, c }, kHov: j });
    }
    if (e.key === "Enter" || e.key === " ") return e.preventDefault(), this.set({ kPin: cur.j });
    if (e.key === "Escape") this.set({ cell: null, kHov: null });
  }

  caption() {
    const { s, state: st } = this;
    return `Neuron view, layer ${s.layers[st.li]}, head ${s.heads[st.hi]}, query ${show(this.tok[this.query])}`;
  }

  /** Width (CSS px) of the figure beside the strips, with 24 px to spare, estimated from the text: two token
   * columns (monospace, about 0.6 em a character, padding, at most 12 em), the weights ("0.000" in 4.2 em) and,
   * unless narrow, the lines and the scores ("−12.34"). Measuring text on a canvas would cost more than the
   * layout this saves. */
  estimate() {
    const em = parseFloat(getComputedStyle(this).fontSize) || 12;
    const tok = Math.max(...this.tok.map((t) => Math.min([...show(t)].length * 0.6 + 0.6, 12))) * em;
    return 2 * tok + 4.2 * em + 24 + (this.w < NARROW ? 8 : LINES + 4.4 * em);
  }

  /** Cell width and strip positions for the width we have (this.w) beside the rest (this.fixed): two strips
   * (k_j, q ⊙ k_j) or, with little room, one. */
  fit() {
    const { d } = this.s, W = this.w || 600, narrow = W < NARROW, room = Math.max(0, W - this.fixed);
    const two = room >= 2 * d * MIN_CELL + GAP;
    const cw = Math.max(MIN_CELL, Math.min(MAX_CELL, Math.floor((two ? room - GAP : room) / ((two ? 2 : 1) * d))));
    const sw = cw * d;
    return { narrow, two, cw, sw, px: two ? sw + GAP : 0, width: two ? 2 * sw + GAP : sw };
  }

  /** Colours of the palette in use: background [r, g, b], text colour, and the diverging lookup tables. */
  palette() {
    const dk = dark();
    if (this.pal?.dark !== dk) {
      const base = cssRGB(this, "--md-default-bg-color") || (dk ? [30, 33, 41] : [255, 255, 255]);
      const lut = divergingLut(dk, base);
      this.pal = { dark: dk, base, lut, faint: lut.map((_, x) => lut[255 + Math.round((x - 255) / 4)]), // masked rows
        fg: getComputedStyle(this).color };
    }
    return this.pal;
  }

  draw() {
    const { s, state: st, N } = this, d = s.d, i = this.query, { q, k, kh } = this.vectors();
    const scale = s.scales[st.li], r = attend(q, k, N, d, i, scale, s.causal);
    let best = -1;
    for (let j = 0; j < N; j++) if (best < 0 || r.weight[j] > r.weight[best]) best = j;
    const key = st.kHov ?? (st.kPin >= 0 ? st.kPin : best);
    const sortKey = st.kPin >= 0 ? st.kPin : best;
    const dims = order(q, k, d, i, sortKey, st.sorted);
    const g = (this.geo ||= this.fit()), { dark: dk, base, lut, faint, fg } = this.palette();
    this.grid.classList.toggle("xp-narrow", g.narrow); // no lines, no score column: both are in the readout
    const dpr = devicePixelRatio || 1, Hc = N * ROW;
    const fit = (cv, w, hgt) => {
      cv.style.width = w + "px";
      cv.style.height = hgt + "px";
      if (cv.width !== Math.round(w * dpr) || cv.height !== Math.round(hgt * dpr)) (cv.width = Math.round(w * dpr)), (cv.height = Math.round(hgt * dpr));
      const x = cv.getContext("2d");
      x.setTransform(dpr, 0, 0, dpr, 0, 0);
      x.clearRect(0, 0, w, hgt);
      return x;
    };

    // q above the k strip, then one row per key: k_j and q ⊙ k_j; cells written as pixels (device pixels)
    const qMax = maxAbs(q, i * d, d), kMax = maxAbs(k, 0, N * d);
    let pMax = 0;
    for (let j = 0; j < N; j++) if (!Number.isNaN(r.score[j])) for (let c = 0; c < d; c++) pMax = Math.max(pMax, Math.abs(q[i * d + c] * k[j * d + c]));
    pMax ||= 1;
    const cells = (cv, hgt, rows) => { // rows(put) calls put(x0, y0, w, h, colour) in CSS pixels
      fit(cv, g.width, hgt);
      const W = cv.width, img = new ImageData(W, cv.height), px = new Uint32Array(img.data.buffer), bands = new Map();
      rows((x0, y0, w, hh, colour) => { // fill the cell's top row of pixels; the band's other rows are copies of it
        const a = Math.round(x0 * dpr), b = Math.round((x0 + w) * dpr), top = Math.round(y0 * dpr);
        px.fill(colour, top * W + a, top * W + b);
        bands.set(top, Math.round((y0 + hh) * dpr));
      });
      for (const [top, bot] of bands) for (let y = top + 1; y < bot; y++) px.copyWithin(y * W, top * W, (top + 1) * W);
      cv.getContext("2d").putImageData(img, 0, 0);
      return cv.getContext("2d");
    };
    cells(this.qv, ROW - 4, (put) => { // above the first strip (k_j, or q ⊙ k_j alone when narrow)
      for (let x = 0; x < d; x++) put(x * g.cw, 0, g.cw, ROW - 4, lut[lutIndex(q[i * d + dims[x]], qMax)]);
    });
    const sx = cells(this.strips, Hc, (put) => {
      for (let j = 0; j < N; j++) {
        const y = j * ROW + 2, masked = Number.isNaN(r.score[j]);
        for (let x = 0; x < d; x++) {
          const c = dims[x], kv = k[j * d + c];
          if (g.two) put(x * g.cw, y, g.cw, ROW - 4, (masked ? faint : lut)[lutIndex(kv, kMax)]);
          if (!masked) put(g.px + x * g.cw, y, g.cw, ROW - 4, lut[lutIndex(q[i * d + c] * kv, pMax)]);
        }
      }
    });
    sx.setTransform(dpr, 0, 0, dpr, 0, 0);
    sx.globalAlpha = 1;
    sx.strokeStyle = fg;
    sx.lineWidth = 1.5;
    if (key >= 0) sx.strokeRect(0.75, key * ROW + 1.25, g.width - 1.5, ROW - 2.5);
    if (st.cell) {
      const x = dims.indexOf(st.cell.c);
      for (const off of g.two ? [0, g.px] : [g.px]) sx.strokeRect(off + x * g.cw - 0.75, st.cell.j * ROW + 0.75, g.cw + 1.5, ROW - 1.5);
    }
    this.kCap.style.width = g.two ? g.sw + GAP + "px" : "0";
    this.kCap.hidden = !g.two;
    this.pCap.style.width = g.sw + "px";
    this.pCap.textContent = g.two ? "q ⊙ k_j" : "q (top), q ⊙ k_j (rows)";
    this.pCap.style.whiteSpace = g.two ? "" : "normal"; // one strip is narrow: the longer caption wraps

    // lines from the query to every key, by weight, in the head's colour (none in the narrow layout)
    const lx = fit(this.lines, g.narrow ? 8 : LINES, Hc);
    lx.strokeStyle = headColour(s.heads[st.hi]);
    lx.lineCap = "round";
    for (let j = 0; j < N && !g.narrow; j++) {
      const w = r.weight[j];
      if (!(w > 0.005)) continue;
      lx.globalAlpha = Math.min(1, 0.15 + w);
      lx.lineWidth = 0.5 + 3.5 * w;
      lx.beginPath();
      lx.moveTo(2, i * ROW + ROW / 2);
      lx.lineTo(LINES - 2, j * ROW + ROW / 2);
      lx.stroke();
    }

    // token states and numbers
    [...this.qCol.children].forEach((n, x) => {
      n.classList.toggle("xp-on", x === i);
      n.setAttribute("aria-selected", x === st.qPin);
    });
    [...this.kCol.children].forEach((n, j) => {
      n.classList.toggle("xp-on", j === key);
      n.classList.toggle("xp-dim", Number.isNaN(r.score[j]));
      n.setAttribute("aria-selected", j === st.kPin);
      n.style.setProperty("--w", r.weight[j]);
    });
    [...this.scores.children].forEach((n, j) => (n.textContent = Number.isNaN(r.score[j]) ? "masked" : num(r.score[j])));
    [...this.weights.children].forEach((n, j) => {
      n.textContent = Number.isNaN(r.score[j]) ? "0" : r.weight[j].toFixed(3);
      n.style.setProperty("--w", r.weight[j]);
    });
    this.headSel.value = st.hi;
    this.layerSel.value = st.li;
    const group = s.nHeads / s.nKvHeads;
    this.kvNote.textContent = group > 1 ? `key head ${kh} (shared by heads ${kh * group}–${kh * group + group - 1})` : "";
    this.legend.querySelector(".xp-nramp").style.background =
      `linear-gradient(90deg, ${diverging(-1, dk, base)}, ${diverging(0, dk, base)}, ${diverging(1, dk, base)})`;
    this.readout(q, k, r, key, scale);
  }

  readout(q, k, r, key, scale) {
    const { s, state: st, tok } = this, d = s.d, i = this.query, T = (x) => `“${show(tok[x])}”`;
    const lines = [];
    if (key >= 0 && Number.isNaN(r.score[key])) {
      lines.push(`${T(i)} → ${T(key)}: masked (a causal model reads no later token), weight 0`);
    } else if (key >= 0) {
      lines.push(`${T(i)} → ${T(key)}: q·k = ${num(r.dot[key])} × ${scale.toPrecision(3)} = ${num(r.score[key])}, weight ${r.weight[key].toFixed(3)}`);
      const top = topDims(q, k, d, i, key, 3);
      lines.push(`largest |q ⊙ k|: ${top.map(([c, v]) => `dim ${c} ${num(v)}`).join(", ")} (sum over all ${d}: ${num(r.dot[key])})`);
    }
    if (st.cell) {
      const { j, c } = st.cell, qv = q[i * d + c], kv = k[j * d + c];
      lines.push(`dim ${c} of ${T(j)}: q = ${num(qv, 3)}, k = ${num(kv, 3)}, q ⊙ k = ${num(qv * kv, 3)}`);
    } else if (!lines.length) lines.push("Hover or tap a query token on the left; hover a key row for its dimensions.");
    this.out.replaceChildren(...lines.map((t) => h("span", { class: "xp-ro xp-nro" }, t)));
    this.strips.setAttribute("aria-valuetext", lines.join(". "));
  }
}

