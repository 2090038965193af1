// <explorable-factor-view>: NMF factors of MLP neuron activations (payload section "factors", see ARCHITECTURE.md).
// One sparkline per factor; the text is coloured by the chosen factor, or by each token's strongest factor.
import { View, h, roveTokens } from "./view.js";
import { array } from "./payload.js";
import { pngButton } from "./export.js";
import { headColour as colour } from "./colour.js";
import { tokenNode, show } from "./tokens.js";
import { colMax, dominant, tally, ranked, fmt, checkRun } from "./factors.js";

const SPARK = 26; // sparkline height (CSS px)

/** "layers 0–29" / "layer 3" / "layers 1, 4" from a sorted list. */
function layerText(ls) {
  const contiguous = ls.every((l, i) => !i || l === ls[i - 1] + 1);
  return ls.length === 1 ? `layer ${ls[0]}` : contiguous ? `layers ${ls[0]}–${ls.at(-1)}` : `layers ${ls.join(", ")}`;
}

/** Draw factor k of run r (or, for k < 0, a strip of each position's strongest factor) with a marker at `at`. */
function spark(cv, r, N, k, at, fg) {
  const dpr = devicePixelRatio || 1, W = cv.clientWidth || 120, H = SPARK, K = r.K, w = r.w;
  if (cv.width !== Math.round(W * dpr) || cv.height !== Math.round(H * dpr)) (cv.width = Math.round(W * dpr)), (cv.height = Math.round(H * dpr));
  const x = cv.getContext("2d"), X = (i) => (N > 1 ? 2 + (i * (W - 4)) / (N - 1) : W / 2);
  x.setTransform(dpr, 0, 0, dpr, 0, 0);
  x.clearRect(0, 0, W, H);
  if (k < 0) {
    const cw = W / N;
    for (let i = 0; i < N; i++) {
      const d = r.dom[i];
      if (d < 0) continue;
      x.globalAlpha = 0.25 + (0.75 * w[i * K + d]) / r.max[d];
      x.fillStyle = colour(d);
      x.fillRect(i * cw, 4, Math.max(1, cw - (cw > 3)), H - 8);
    }
  } else {
    const m = r.max[k] || 1, Y = (i) => H - 2 - (w[i * K + k] / m) * (H - 5), line = new Path2D();
    for (let i = 0; i < N; i++) line[i ? "lineTo" : "moveTo"](X(i), Y(i));
    const area = new Path2D(line);
    area.lineTo(X(N - 1), H);
    area.lineTo(X(0), H);
    x.fillStyle = x.strokeStyle = colour(k);
    x.globalAlpha = 0.3;
    x.fill(area);
    x.globalAlpha = 1;
    x.lineWidth = 1.5;
    x.lineJoin = "round";
    x.stroke(line);
  }
  if (at != null) {
    x.globalAlpha = 1;
    x.fillStyle = fg;
    x.fillRect(k < 0 ? ((at + 0.5) * W) / N - 0.75 : X(at) - 0.75, 0, 1.5, H);
  }
}

class FactorView extends View {
  async build(p) {
    const f = p.factors, N = (this.N = p.tokens.length);
    if (!f || !Array.isArray(f.runs) || !f.runs.length) throw new Error("this payload has no factors section");
    this.runs = [];
    for (const r of f.runs) {
      const { shape, values } = await array(r.activations), pe = r.position_error && (await array(r.position_error));
      checkRun(r, shape, N);
      if (pe && pe.values.length !== N) throw new Error(`position errors of shape [${pe.shape}] do not fit ${N} tokens`);
      this.runs.push({ ...r, K: r.count, w: values, pe: pe && pe.values, max: colMax(values, N, r.count), dom: dominant(values, N, r.count) });
    }
    const ls = Array.isArray(f.layers) ? f.layers : [];
    this.where = `${layerText(ls)} · ${(ls.length * (f.neurons_per_layer || 0)).toLocaleString("en")} neurons`;
    this.tok = p.tokens;
    Object.assign(this, { ri: 0, sel: -1, hov: null, pin: null, shown: "" });
    this.setAttribute("role", "group");
    this.setAttribute("aria-label", this.getAttribute("aria-label") || "Neuron activation factors: the text coloured by factor, one sparkline per factor");

    const runSel = h("select", { "aria-label": "Number of factors", onchange: (e) => this.set({ ri: +e.target.value, sel: -1 }) },
      ...this.runs.map((r, i) => h("option", { value: i }, String(r.K))));
    this.info = h("span", { class: "xp-hint" });
    this.text = h("div", { class: "xp-ftext", role: "listbox", "aria-label": "Tokens, coloured by factor activation",
      onpointerover: (e) => this.point(e), onpointerleave: () => this.set({ hov: null }), onclick: (e) => this.tap(e),
      onkeydown: (e) => this.tokKey(e), onfocusin: (e) => this.point(e),
      onfocusout: (e) => !this.text.contains(e.relatedTarget) && this.set({ hov: null }) });
    this.nodes = this.tok.map((t, i) => {
      const n = tokenNode(t);
      n.setAttribute("role", "option");
      n.tabIndex = i ? -1 : 0;
      n.dataset.i = i;
      return n;
    });
    this.text.append(...this.nodes.flatMap((n, i) => (/\n/.test(this.tok[i].text) ? [n, h("span", { class: "xp-nl" })] : [n])));
    this.list = h("div", { class: "xp-flist", role: "radiogroup", "aria-label": "Factor to show",
      onclick: (e) => this.pick(e), onkeydown: (e) => this.listKey(e),
      onpointermove: (e) => e.target.tagName === "CANVAS" && this.set({ hov: this.at(e) }), onpointerleave: () => this.set({ hov: null }) });
    this.out = h("div", { class: "xp-readout", "aria-live": "polite" });
    this.side = h("div", { class: "xp-fside" });
    this.replaceChildren(
      h("div", { class: "xp-bar" }, this.runs.length > 1 ? h("label", null, "Factors ", runSel) : h("span", null, `${this.runs[0].K} factors`), this.info,
        pngButton(this, () => [this, "", `${this.run.K}-factors`])),
      h("div", { class: "xp-fv" }, this.text, this.list), this.out, this.side);
    this.ro = new ResizeObserver(() => this.redraw());
    this.rows();
  }

  start() {
    this.ro.observe(this.list);
  }

  stop() {
    this.ro.disconnect();
  }

  get run() {
    return this.runs[this.ri];
  }

  set(s) {
    const rows = "ri" in s && s.ri !== this.ri;
    Object.assign(this, s);
    if (rows) this.rows();
    this.redraw();
  }

  /** (Re)build the rows of the factor list for the current run: "all factors", then one sparkline per factor. */
  rows() {
    const K = this.run.K, row = (k) => h("button", { type: "button", role: "radio", class: "xp-frow", "data-k": k, style: k < 0 ? null : `--c:${colour(k)}` },
      h("span", { class: "xp-fsw" }), h("span", null, k < 0 ? "All" : `Factor ${k + 1}`), h("canvas", { "aria-hidden": "true" }));
    this.list.replaceChildren(...Array.from({ length: K + 1 }, (_, i) => row(i - 1)));
    this.list.firstChild.firstChild.style.background = `conic-gradient(${Array.from({ length: Math.min(K, 6) }, (_, k) => colour(k))})`;
    this.shown = "";
  }

  /** Token index under a sparkline pointer. */
  at(e) {
    const W = e.target.clientWidth || 1, N = this.N, k = +e.target.parentNode.dataset.k;
    return Math.max(0, Math.min(N - 1, k < 0 ? Math.floor((e.offsetX / W) * N) : Math.round(((e.offsetX - 2) / (W - 4)) * (N - 1))));
  }

  idx(e) {
    const t = e.target.closest?.(".xp-tok");
    return t && t.dataset.i != null ? +t.dataset.i : null;
  }

  point(e) {
    const i = this.idx(e);
    if (i != null) this.set({ hov: i });
  }

  tap(e) {
    const i = this.idx(e);
    if (i != null) this.set({ pin: this.pin === i ? null : i });
  }

  tokKey(e) {
    const i = this.idx(e);
    if (i == null) return;
    if (e.key === "Enter" || e.key === " ") return e.preventDefault(), this.tap(e);
    if (e.key === "Escape") return this.set({ pin: null });
    if (roveTokens(e.key, this.nodes, i)) e.preventDefault();
  }

  pick(e) {
    const b = e.target.closest?.(".xp-frow, .xp-chip");
    if (b) this.set({ sel: +b.dataset.k });
  }

  listKey(e) {
    const K = this.run.K, s = this.sel + 1, n = K + 1;
    const j = { ArrowUp: s - 1, ArrowLeft: s - 1, ArrowDown: s + 1, ArrowRight: s + 1, Home: 0, End: K }[e.key];
    if (j == null) return;
    e.preventDefault();
    this.set({ sel: ((j + n) % n) - 1 });
    this.list.children[this.sel + 1].focus();
  }

  draw() {
    const r = this.run, { N, sel } = this, K = r.K, at = this.hov ?? this.pin, fg = getComputedStyle(this).color;
    this.nodes.forEach((n, i) => {
      const k = sel >= 0 ? sel : r.dom[i], v = k >= 0 && r.max[k] > 0 ? r.w[i * K + k] / r.max[k] : 0;
      n.style.setProperty("--c", k >= 0 ? colour(k) : "transparent");
      n.style.setProperty("--w", v.toFixed(3));
      n.classList.toggle("xp-on", i === at);
      n.setAttribute("aria-selected", i === this.pin);
    });
    [...this.list.children].forEach((b) => {
      const k = +b.dataset.k, on = k === sel;
      b.setAttribute("aria-checked", on);
      b.tabIndex = on ? 0 : -1;
      spark(b.lastChild, r, N, k, at, fg);
    });
    this.info.textContent = this.where + (Number.isFinite(r.error) ? ` · reconstruction error ${(100 * r.error).toFixed(1)}% overall` : "");
    this.readout(at);
    if (this.shown !== (this.shown = `${this.ri}:${sel}`)) this.panel();
  }

  readout(at) {
    const r = this.run, K = r.K;
    if (at == null) return void (this.out.textContent = "Hover, tap or focus a token (or a sparkline) to read its factor values; choose a factor in the list.");
    const val = (k) => h("span", { class: "xp-ro", style: `--c:${colour(k)}` }, `factor ${k + 1}: ${fmt(r.w[at * K + k])}` +
      (this.sel >= 0 ? ` (${Math.round((100 * r.w[at * K + k]) / (r.max[k] || 1))}% of its peak)` : ""));
    const ks = this.sel >= 0 ? [this.sel] : ranked(r.w, at, K).slice(0, 3);
    const pe = r.pe ? `, reconstruction error ${Math.round(100 * r.pe[at])}%` : "";
    this.out.replaceChildren(h("span", { class: "xp-ro xp-tl" }, `“${show(this.tok[at])}” (token ${at}${pe})`), ...(ks.length ? ks.map(val) : ["no factor is active here"]));
  }

  /** Under the figure: the legend of the "all factors" mode, or the chosen factor's strongest neurons. */
  panel() {
    const r = this.run, k = this.sel;
    if (k < 0) {
      const c = tally(r.dom, r.K);
      return this.side.replaceChildren(h("span", { class: "xp-hint" }, "Each token has the colour of its strongest factor (paler where that factor is weaker):"),
        ...Array.from({ length: r.K }, (_, j) => h("button", { type: "button", class: "xp-chip", "data-k": j, style: `--c:${colour(j)}`, onclick: (e) => this.pick(e) },
          `${j + 1}`, h("small", null, ` ${c[j]} token${c[j] === 1 ? "" : "s"}`))));
    }
    const top = (r.top_neurons[k] || []).filter((x) => Array.isArray(x) && x.length === 3).map((x) => x.map(Number));
    this.side.replaceChildren(
      h("span", { class: "xp-hint" }, `Strongest neurons of factor ${k + 1} (layer · neuron: weight; a factor's weights have unit length)`),
      h("ol", { class: "xp-neu", style: `--c:${colour(k)}` }, ...top.map(([l, i, wt]) =>
        h("li", { style: `--w:${(wt / (top[0][2] || 1)).toFixed(3)}` }, `L${l} · ${i}: `, h("b", null, wt.toFixed(3))))));
  }
}

customElements.get("explorable-factor-view") || customElements.define("explorable-factor-view", FactorView);
