// <explorable-explanations-view>: explanation methods compared on one output (payload section "explanations").
// One row per method: the input tokens shaded by the method's shares, its faithfulness (AOPC, sufficiency) beside
// it; rows sort by either score; hovering a token lists every method's share of it; a small chart draws the
// deletion curves; the layer-by-layer maps of rollout and flow open on demand.
import { View, h, scroller } from "./view.js";
import { step } from "./token-list.js";
import { array } from "./payload.js";
import { pngButton } from "./export.js";
import { headColour as colour, lut } from "./colour.js";
import { dark } from "./theme.js";
import { tokenNode, show, describe } from "./tokens.js";
import { pct, num } from "./saliency.js";
import { LABELS, label, longName, check, checkShape, inputs, order, curve, range, rho, aside, firstHeavy, axisTitles, belowRandom,
  belowRandomNote } from "./explanations.js";

const CHART = [300, 170]; // CSS px
const MAPCOL = 18; // layer-map column width (CSS px)

export class ExplanationsView extends View {
  static tag = "explorable-explanations-view";

  async build(p) {
    const c = check(p), s = p.explanations;
    const { shape, values } = await array(s.shares);
    checkShape(c, shape);
    this.maps = {};
    for (const [key, a] of Object.entries(s.layers || {})) {
      const d = await array(a);
      if (d.shape.length !== 3 || d.shape[0] !== c.T || d.shape[2] !== c.N) throw new Error(`layer maps of ${key} do not fit the tokens`);
      this.maps[key] = { L: d.shape[1], v: d.values };
    }
    Object.assign(this, c, { s, v: values, out: 0, sort: null, hov: null, hrow: null, showMaps: false, cell: null, aside: false });
    const causal = c.kind === "causal";
    this.setAttribute("role", "group");
    this.setAttribute("aria-label", this.getAttribute("aria-label") ||
      "Explanation methods compared: one row per method, the input tokens shaded by its shares, with its faithfulness");

    // the output chooser (causal) or the pair's similarity (encoder)
    this.info = h("span", { class: "xp-hint" });
    this.mapBtn = Object.keys(this.maps).length
      ? h("button", { type: "button", class: "xp-btn xp-mbtn", "aria-pressed": "false", "data-no-export": true,
        onclick: () => this.set({ showMaps: !this.showMaps }) }, "layer maps")
      : "";
    // causal models pile attention on the first token: the reader may set it aside and compare the rest
    this.asideBtn = causal ? h("button", { type: "button", class: "xp-btn xp-mbtn", "aria-pressed": "false", "data-no-export": true,
      title: "Shade and read every share without the first token: each row's other shares as parts of what is left",
      onclick: () => this.set({ aside: !this.aside }) }, "set first token aside") : "";
    this.asideNote = h("p", { class: "xp-hint xp-easide", hidden: true });
    const bar = h("div", { class: "xp-bar" }, this.info, this.asideBtn, this.mapBtn,
      pngButton(this, () => [this, this.aside ? `shares with the first token “${show(c.tokens[0])}” set aside` : "", "explanations"]));
    let text = "";
    if (causal) {
      this.outs = c.tokens.map((t, i) => {
        const n = tokenNode(t);
        n.dataset.i = i;
        if (i >= c.n0) (n.setAttribute("role", "option"), (n.tabIndex = i === c.n0 ? 0 : -1), n.classList.add("xp-pick"));
        return n;
      });
      text = h("div", { class: "xp-sv xp-eout", role: "listbox", "aria-label": "Choose the generated token to explain",
        onclick: (e) => this.choose(e), onkeydown: (e) => this.outKey(e) }, ...this.outs);
    }

    // the table: one row per method, then the random baseline
    this.sortBtns = {};
    const head = (key, text, title) => (this.sortBtns[key] = h("button", { type: "button", class: "xp-sort", title,
      onclick: () => this.set({ sort: this.sort === key ? null : key }) }, text));
    this.grid = h("div", { class: "xp-egrid", role: "table", "aria-label": "Shares of the input tokens by method",
      onpointerover: (e) => this.point(e), onpointerleave: () => this.set({ hov: null, hrow: null }),
      onclick: (e) => this.point(e), onfocusin: (e) => this.point(e), onkeydown: (e) => this.cellKey(e) });
    this.headRow = h("div", { class: "xp-erow xp-ehead", role: "row" },
      h("span", { role: "columnheader", class: "xp-ename" }, "method"),
      h("span", { role: "columnheader", class: "xp-escore" }, head("aopc", "AOPC", "Area over the deletion curve: the mean drop of the score as the top-ranked tokens are removed (higher: more faithful). Click to sort.")),
      h("span", { role: "columnheader", class: "xp-escore" }, head("sufficiency", "suff.", "Sufficiency: the mean drop when only the top-ranked tokens are kept (lower: more faithful). Click to sort.")),
      h("span", { role: "columnheader", class: "xp-etoks" }, causal ? "input tokens, shaded by share" : "both sentences, shaded by share"));
    this.rows = this.methods.map((key, m) => {
      const cells = c.tokens.map((t, i) => {
        const n = tokenNode(t);
        n.setAttribute("role", "cell");
        n.dataset.i = i;
        n.dataset.m = m;
        n.tabIndex = m === 0 && i === 0 ? 0 : -1;
        return n;
      });
      const score = h("span", { class: "xp-escore", role: "cell" }), suff = h("span", { class: "xp-escore", role: "cell" });
      const name = h("span", { class: "xp-ename", role: "rowheader", title: LABELS[key]?.[2] || key, style: `--c:${colour(m)}` },
        h("span", { class: "xp-fsw", "aria-hidden": "true" }), label(key));
      const toks = h("span", { class: "xp-etoks" }, ...cells);
      if (c.kind === "similarity") toks.insertBefore(h("span", { class: "xp-esep", "aria-hidden": "true" }, "|"), cells[c.n0]);
      const row = h("div", { class: "xp-erow", role: "row", "data-m": m }, name, score, suff, toks);
      return { key, m, row, cells, score, suff };
    });
    const R = this.orders = this.s.faithfulness.random_orders;
    this.randRow = { score: h("span", { class: "xp-escore", role: "cell" }), suff: h("span", { class: "xp-escore", role: "cell" }) };
    this.randRow.row = h("div", { class: "xp-erow xp-erand", role: "row" },
      h("span", { class: "xp-ename", role: "rowheader", title: `the mean of ${R} seeded random orders of the tokens` },
        h("span", { class: "xp-fsw xp-dash", "aria-hidden": "true" }), `random (${R})`),
      this.randRow.score, this.randRow.suff, h("span", { class: "xp-etoks xp-hint" }, "a ranking by chance, for reference"));
    this.grid.append(this.headRow, ...this.rows.map((r) => r.row), this.randRow.row);

    // a method whose AOPC is under random's is said so in words (a reader may take a small AOPC for a small effect)
    this.randNote = h("p", { class: "xp-hint xp-erandnote", hidden: true });
    this.out_ = h("div", { class: "xp-readout", "aria-live": "polite" });
    this.chart = h("canvas", { class: "xp-echart", role: "img" });
    this.chartCap = h("div", { class: "xp-hint" });
    this.mapBox = h("div", { class: "xp-emaps", hidden: true });
    this.agree = h("details", { class: "xp-eagree" }, h("summary", {}, "Agreement between the methods (Spearman ρ)"));
    this.note = h("p", { class: "xp-note" });
    this.replaceChildren(bar, this.asideNote, text, scroller(this.grid), this.randNote, this.out_,
      h("div", { class: "xp-eside" }, h("div", {}, this.chart, this.chartCap), this.agree), this.mapBox, this.note);
  }

  set(s) {
    Object.assign(this, s);
    this.redraw();
  }

  choose(e) {
    const t = e.target.closest?.(".xp-tok"), i = t ? +t.dataset.i : -1;
    if (i >= this.n0) this.set({ out: i - this.n0 }), this.tell({ token: i });
  }

  /** A generated token chosen in a linked view is the one explained. */
  follow({ token }) {
    if (this.outs && token >= this.n0 && token < this.N) this.set({ out: token - this.n0 });
  }

  outKey(e) {
    const t = e.target.closest?.(".xp-tok");
    if (!t) return;
    const i = +t.dataset.i, g = i - this.n0, picks = this.outs.slice(this.n0);
    if (e.key === "Enter" || e.key === " ") return e.preventDefault(), this.set({ out: g }), this.tell({ token: i });
    const j = step(e.key, g, picks.length);
    if (j == null) return;
    e.preventDefault();
    picks[g].tabIndex = -1;
    picks[j].tabIndex = 0;
    picks[j].focus();
    this.set({ out: j });
  }

  /** Hover, focus or tap (touch has no hover) on a token cell: every method's share of that token. */
  point(e) {
    const t = e.target.closest?.(".xp-tok");
    if (!t || t.dataset.m == null) return;
    const i = +t.dataset.i, m = +t.dataset.m;
    if (i < inputs(this, this.out)) this.set({ hov: i, hrow: m });
  }

  cellKey(e) {
    const t = e.target.closest?.(".xp-tok");
    if (!t || t.dataset.m == null) return;
    const i = +t.dataset.i, m = +t.dataset.m, n = inputs(this, this.out), ord = this.rowOrder();
    const r = ord.indexOf(m);
    const d = { ArrowLeft: [0, -1], ArrowRight: [0, 1], ArrowUp: [-1, 0], ArrowDown: [1, 0], Home: [0, -i], End: [0, n - 1 - i] }[e.key];
    if (!d) return;
    e.preventDefault();
    const m2 = ord[Math.max(0, Math.min(this.M - 1, r + d[0]))], i2 = Math.max(0, Math.min(n - 1, i + d[1]));
    const next = this.rows[m2].cells[i2];
    t.tabIndex = -1;
    next.tabIndex = 0;
    next.focus();
    this.set({ hov: i2, hrow: m2 });
  }

  /** Scores of output `out` for key "aopc" or "sufficiency": M methods then random. */
  scores(key) {
    return this.s.faithfulness[key].map((r) => r[this.out]);
  }

  /** Method indices in display order: as in the payload, or by the chosen score. */
  rowOrder() {
    return order(this.M, this.scores(this.sort || "aopc"), this.sort);
  }

  share(m, i) {
    return this.v[(m * this.T + this.out) * this.N + i];
  }

  draw() {
    const causal = this.kind === "causal", n = inputs(this, this.out), s = this.s, t = this.out, f = s.faithfulness;
    const aopc = this.scores("aopc"), suff = this.scores("sufficiency"), M = this.M;
    const T = (i) => `“${show(this.tokens[i])}”`;
    if (causal) {
      const at = this.n0 + t;
      this.outs.forEach((node, i) => {
        node.classList.toggle("xp-out", i === at);
        node.classList.toggle("xp-after", i > at);
        if (i >= this.n0) node.setAttribute("aria-selected", i === at);
      });
      this.info.textContent = `explaining ${T(at)} (generated token ${t + 1} of ${this.T}: click another to switch) · ${s.target} ${num(s.values[t])}`;
    } else this.info.textContent = `explaining the cosine similarity of the two sentences, ${num(s.values[0])}`;

    // rows: shading, scores, order
    const ord = this.rowOrder(), off = causal && this.aside ? 1 : 0;
    for (const r of this.rows) {
      const base = (r.m * this.T + t) * this.N, row = this.v.subarray(base, base + this.N), shown = aside(row, n, off);
      r.cells.forEach((node, i) => {
        const w = i < n ? row[i] : 0;
        node.hidden = i >= n && causal;
        node.style.setProperty("--w", i < off || i >= n ? 0 : shown.shade[i].toFixed(3));
        node.classList.toggle("xp-aside", i < off);
        node.classList.toggle("xp-on", i === this.hov);
        const tip = describe(this.tokens[i]).title;
        node.title = i < n ? `${longName(r.key)}: ${pct(w)}${off && i >= off ? ` (${pct(shown.rest[i])} of the rest)` : ""}${tip ? "; " + tip : ""}` : "";
      });
      r.score.textContent = num(aopc[r.m]);
      r.suff.textContent = num(suff[r.m]);
      r.row.classList.toggle("xp-hrow", r.m === this.hrow);
    }
    this.randRow.score.textContent = num(aopc[M]);
    this.randRow.suff.textContent = num(suff[M]);
    const below = belowRandom(aopc, M);
    for (const r of this.rows) {
      r.score.classList.toggle("xp-ebelow", below.includes(r.m));
      r.score.title = below.includes(r.m) ? "below random: worse than removing tokens by chance" : "";
    }
    this.randNote.textContent = belowRandomNote(below.map((m) => label(this.methods[m])), num(aopc[M]),
      causal ? s.target : "similarity");
    this.randNote.hidden = !below.length;
    if (this.shown !== String(ord)) { // re-inserting rows would blur a focused cell: only when the order changes
      this.shown = String(ord);
      this.grid.replaceChildren(this.headRow, ...ord.map((m) => this.rows[m].row), this.randRow.row);
    }
    for (const [key, b] of Object.entries(this.sortBtns)) {
      const on = this.sort === key;
      b.parentElement.setAttribute("aria-sort", on ? (key === "aopc" ? "descending" : "ascending") : "none");
      b.textContent = (key === "aopc" ? "AOPC" : "suff.") + (on ? (key === "aopc" ? " ▾" : " ▴") : "");
    }

    // readout: every method's share of the hovered token
    const lines = [];
    if (this.hov != null && this.hov < n) {
      const i = this.hov;
      const rest = (m) => (off && i >= off ? ` (${pct(aside(this.v.subarray((m * this.T + t) * this.N), n, off).rest[i])} of the rest)` : "");
      lines.push(`${T(i)}${causal ? ` → ${T(this.n0 + t)}` : ` (sentence ${i < this.n0 ? "A" : "B"})`}: ` +
        ord.map((m) => `${label(this.methods[m])} ${pct(this.share(m, i))}${rest(m)}`).join(" · "));
    } else lines.push("Hover or focus a token for every method's share of it.");
    this.out_.replaceChildren(...lines.map((x) => h("span", { class: "xp-sro" }, x)));

    if (this.asideBtn) {
      this.asideBtn.setAttribute("aria-pressed", this.aside);
      const heavy = firstHeavy(this.v, this.methods, this.T, this.N, t, n);
      this.asideNote.hidden = !heavy && !this.aside;
      this.asideNote.textContent = this.aside
        ? `The first token, ${T(0)}, is set aside (dashed outline): the other tokens are shaded by their share of what is left, and hover shows it in brackets.`
        : heavy ? `${longName(heavy.key)} gives the first token, ${T(0)}, ${pct(heavy.share)}: the rest are nearly blank at this scale. ` +
          "Press “set first token aside” to compare them." : "";
    }
    this.drawChart(t);
    this.drawAgreement(t);
    this.mapBox.hidden = !this.showMaps;
    if (this.mapBtn) this.mapBtn.setAttribute("aria-pressed", this.showMaps);
    const mapKey = `${t}|${dark()}|${off}`;
    if (this.showMaps && this.mapKey !== mapKey) (this.mapKey = mapKey), this.drawMaps(t, n, off);

    const removed = `a removed token is replaced by “${f.neutral_token}” (positions stay)`;
    const ig = s.ig && this.methods.includes("integrated_gradients")
      ? ` Integrated gradients: ${s.ig.steps} steps from ${s.ig.baseline_text}; completeness gap ${s.ig.gap[t] == null ? "unknown" : pct(s.ig.gap[t])}.`
      : "";
    this.note.textContent = `Faithfulness, measured by re-running the model: ${removed}. AOPC is the mean drop of the ` +
      `${causal ? s.target : "similarity"} as the top ${f.steps.join(", ")}% of the ${causal ? "input" : ""} tokens are removed ` +
      `(higher is more faithful); sufficiency is the mean drop when only those are kept (lower is more faithful).` + ig;
  }

  drawChart(t) {
    const cv = this.chart, s = this.s, f = s.faithfulness, [W, H] = CHART, dpr = devicePixelRatio || 1;
    cv.style.width = W + "px";
    cv.style.height = H + "px";
    // both sides: at dpr 1 a new canvas already has the chart's width (300), not its height (150 for 170): the
    // drawing was stretched and its bottom, the x axis' title, cut off
    const bw = Math.round(W * dpr), bh = Math.round(H * dpr);
    if (cv.width !== bw || cv.height !== bh) (cv.width = bw), (cv.height = bh);
    const x = cv.getContext("2d"), cs = getComputedStyle(this), fg = cs.color;
    const fg2 = cs.getPropertyValue("--xp-fg2").trim() || "#666";
    x.setTransform(dpr, 0, 0, dpr, 0, 0);
    x.clearRect(0, 0, W, H);
    const [lo, hi] = range(s, t), kmax = f.steps.at(-1), L = 50, R = 8, Tp = 8, B = 30, [xTitle, yTitle] = axisTitles(s);
    const X = (k) => L + ((W - L - R) * k) / kmax, Y = (v) => Tp + ((H - Tp - B) * (hi - v)) / (hi - lo);
    x.font = `10px ${cs.fontFamily}`;
    x.fillStyle = x.strokeStyle = fg2;
    x.lineWidth = 1;
    x.beginPath();
    x.moveTo(L, Tp);
    x.lineTo(L, H - B);
    x.lineTo(W - R, H - B);
    x.stroke();
    x.textAlign = "right";
    x.textBaseline = "middle";
    for (const v of [hi, lo]) x.fillText(num(v), L - 4, Y(v));
    x.textAlign = "center";
    x.textBaseline = "top";
    for (const k of [0, ...f.steps]) x.fillText(String(k), X(k), H - B + 3);
    x.fillText(xTitle, (L + W - R) / 2, H - B + 15);
    // the y axis' title, read bottom to top beside the axis (drawn on the canvas, so a saved PNG has it)
    x.save();
    x.translate(2, (Tp + H - B) / 2);
    x.rotate(-Math.PI / 2);
    x.fillText(yTitle, 0, 0, Tp + H - B - 4);
    x.restore();
    const line = (m, style, width) => {
      x.strokeStyle = style;
      x.lineWidth = width;
      x.beginPath();
      curve(s, m, t).forEach(([k, v], i) => (v == null ? 0 : x[i ? "lineTo" : "moveTo"](X(k), Y(v))));
      x.stroke();
    };
    x.setLineDash([4, 3]);
    line(this.M, fg, 1.5);
    x.setLineDash([]);
    for (let m = 0; m < this.M; m++) if (m !== this.hrow) line(m, colour(m), 1.5);
    if (this.hrow != null) line(this.hrow, colour(this.hrow), 3.5);
    cv.setAttribute("aria-label", `Deletion curves for the chosen output: the ${this.kind === "causal" ? s.target : "similarity"} ` +
      `from ${num(s.values[t])} as tokens are removed; random order dashed. Horizontal axis: ${xTitle}; vertical axis: ${yTitle}`);
    this.chartCap.textContent = `Deletion curves: the ${this.kind === "causal" ? s.target : "similarity"} as tokens are removed in each method's order (colours as in the table; dashed: random). Hover a row to highlight its curve.`;
  }

  drawAgreement(t) {
    const sp = this.s.faithfulness.spearman[t], M = this.M;
    const cells = [h("tr", {}, h("th", {}, ""), ...this.methods.map((k) => h("th", { scope: "col" }, label(k))))];
    for (let a = 0; a < M; a++)
      cells.push(h("tr", {}, h("th", { scope: "row" }, label(this.methods[a])),
        ...this.methods.map((_, b) => {
          const v = sp[a][b];
          return h("td", { style: v == null ? "" : `--w:${Math.abs(v).toFixed(2)}`, class: v != null && v < 0 ? "xp-neg" : "" }, rho(v));
        })));
    const table = h("table", { class: "xp-rho" }, ...cells);
    const old = this.agree.querySelector("table");
    old ? old.replaceWith(table) : this.agree.append(table);
  }

  drawMaps(t, n, off) {
    const px = lut(dark()), kids = [];
    for (const key of this.methods.filter((k) => this.maps[k])) {
      const { L, v } = this.maps[key], w = Math.max(1, n), rowH = Math.max(6, Math.min(14, Math.round(240 / L)));
      const cv = h("canvas", { class: "xp-emap", role: "img",
        "aria-label": `${longName(key)} layer by layer: rows are layers 1 to ${L}, columns the input tokens` });
      const img = new ImageData(w, L), out = new Uint32Array(img.data.buffer);
      for (let l = 0; l < L; l++) {
        const shade = aside(v.subarray((t * L + l) * this.N), n, off).shade;
        for (let i = 0; i < n; i++) out[l * w + i] = i < off ? 0 : px[Math.round(255 * shade[i])];
      }
      cv.width = w;
      cv.height = L;
      cv.getContext("2d").putImageData(img, 0, 0);
      Object.assign(cv.style, { width: `${w * MAPCOL}px`, height: `${L * rowH}px` });
      const cap = h("div", { class: "xp-hint xp-emapread" }, "Hover the map for a layer's share of a token.");
      cv.onpointermove = (e) => {
        const r = cv.getBoundingClientRect(), i = Math.floor(((e.clientX - r.left) / r.width) * w);
        const l = Math.floor(((e.clientY - r.top) / r.height) * L);
        if (i >= 0 && i < n && l >= 0 && l < L)
          cap.textContent = `after layer ${l + 1} of ${L}: “${show(this.tokens[i])}” ${pct(v[(t * L + l) * this.N + i])}`;
      };
      const axis = h("div", { class: "xp-emapaxis", style: `height:${L * rowH}px` }, h("span", {}, "layer 1"), h("span", {}, `layer ${L}`));
      const labels = h("div", { class: "xp-dcols", style: `--c:${MAPCOL}px` }, ...this.tokens.slice(0, n).map((tk) => tokenNode(tk)));
      kids.push(h("figure", { class: "xp-emapfig" },
        h("div", { class: "xp-emaptitle" }, `${longName(key)}, layer by layer`),
        scroller(h("div", { class: "xp-emapgrid" }, axis, cv, h("span"), labels)), cap));
    }
    this.mapBox.replaceChildren(h("p", { class: "xp-hint" }, "Each row is the state of the explained position after one layer, " +
      "traced back to the input tokens (the last row is the method's shares); each row's largest share is shaded fully" +
      (off ? ", the first token set aside (its column left blank)." : ".")), ...kids);
  }
}

customElements.get(ExplanationsView.tag) || customElements.define(ExplanationsView.tag, ExplanationsView);
