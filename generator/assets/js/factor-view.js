// <explorable-factor-view>: NMF factors of MLP neuron activations (payload section "factors", see ARCHITECTURE.md).
// One sparkline per factor; the text is coloured by the chosen factor, or by each token's strongest factor.
import { h, roving } from "./view.js";
import { TokenListView } from "./token-list.js";
import { array } from "./payload.js";
import { pngButton } from "./export.js";
import { headColour as colour } from "./colour.js";
import { show } from "./tokens.js";
import { colMax, dominant, tally, ranked, fmt, checkRun } from "./factors.js";

const SPARK = 26; // sparkline height (CSS px)

/** "layers 0–29" / "layer 3" / "layers 1, 4" from a sorted list. */
function layerText(ls) {
  const contiguous = ls.every((l, i) => !i || l === ls[i - 1] + 1);
  return ls.length === 1 ? `layer ${ls[0]}` : contiguous ? `layers ${ls[0]}–${ls.at(-1)}` : `layers ${ls.join(", ")}`;
}

/** Draw factor k of a run (or, for k < 0, a strip of each position's strongest factor) with a marker at token `at`. */
function spark(canvas, run, N, k, at, fg) {
  const dpr = devicePixelRatio || 1, W = canvas.clientWidth || 120, H = SPARK, K = run.count, w = run.activations;
  if (canvas.width !== Math.round(W * dpr) || canvas.height !== Math.round(H * dpr)) (canvas.width = Math.round(W * dpr)), (canvas.height = Math.round(H * dpr));
  const ctx = canvas.getContext("2d"), X = (i) => (N > 1 ? 2 + (i * (W - 4)) / (N - 1) : W / 2);
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, W, H);
  if (k < 0) {
    const cw = W / N;
    for (let i = 0; i < N; i++) {
      const d = run.dominant[i];
      if (d < 0) continue;
      ctx.globalAlpha = 0.25 + (0.75 * w[i * K + d]) / run.peaks[d];
      ctx.fillStyle = colour(d);
      ctx.fillRect(i * cw, 4, Math.max(1, cw - (cw > 3)), H - 8);
    }
  } else {
    const m = run.peaks[k] || 1, Y = (i) => H - 2 - (w[i * K + k] / m) * (H - 5), line = new Path2D();
    for (let i = 0; i < N; i++) line[i ? "lineTo" : "moveTo"](X(i), Y(i));
    const area = new Path2D(line);
    area.lineTo(X(N - 1), H);
    area.lineTo(X(0), H);
    ctx.fillStyle = ctx.strokeStyle = colour(k);
    ctx.globalAlpha = 0.3;
    ctx.fill(area);
    ctx.globalAlpha = 1;
    ctx.lineWidth = 1.5;
    ctx.lineJoin = "round";
    ctx.stroke(line);
  }
  if (at != null) {
    ctx.globalAlpha = 1;
    ctx.fillStyle = fg;
    ctx.fillRect(k < 0 ? ((at + 0.5) * W) / N - 0.75 : X(at) - 0.75, 0, 1.5, H);
  }
}

export class FactorView extends TokenListView {
  static tag = "explorable-factor-view";

  async build(p) {
    const f = p.factors, N = p.tokens.length;
    if (!f || !Array.isArray(f.runs) || !f.runs.length) throw new Error("this payload has no factors section");
    this.runs = [];
    for (const r of f.runs) {
      const { shape, values } = await array(r.activations), pe = r.position_error && (await array(r.position_error));
      checkRun(r, shape, N);
      if (pe && pe.values.length !== N) throw new Error(`position errors of shape [${pe.shape}] do not fit ${N} tokens`);
      this.runs.push({ count: r.count, error: r.error, topNeurons: r.top_neurons, activations: values, positionError: pe && pe.values,
        peaks: colMax(values, N, r.count), dominant: dominant(values, N, r.count) });
    }
    const ls = Array.isArray(f.layers) ? f.layers : [];
    this.source = `${layerText(ls)} · ${(ls.length * (f.neurons_per_layer || 0)).toLocaleString("en")} neurons`;
    // run: index into this.runs; factor: the one shown (-1: each token's strongest); hover, pinned: token indices
    this.state = { run: 0, factor: -1, hover: null, pinned: null };
    this.setAttribute("role", "group");
    this.setAttribute("aria-label", this.getAttribute("aria-label") || "Neuron activation factors: the text coloured by factor, one sparkline per factor");

    const runSelect = h("select", { "aria-label": "Number of factors", onchange: (e) => this.set({ run: +e.target.value, factor: -1 }) },
      ...this.runs.map((r, i) => h("option", { value: i }, String(r.count))));
    this.info = h("span", { class: "xp-hint" });
    this.tokenNodes(p.tokens);
    const text = this.listbox({ class: "xp-flow xp-ftext", "aria-label": "Tokens, coloured by factor activation" }, ...this.lines());
    this.list = h("div", { class: "xp-flist", role: "radiogroup", "aria-label": "Factor to show",
      onclick: (e) => this.pick(e),
      onpointermove: (e) => e.target.tagName === "CANVAS" && this.set({ hover: this.at(e) }), onpointerleave: () => this.set({ hover: null }) });
    this.readout = h("div", { class: "xp-readout", "aria-live": "polite" });
    this.side = h("div", { class: "xp-fside" });
    this.replaceChildren(
      h("div", { class: "xp-bar" }, this.runs.length > 1 ? h("label", null, "Factors ", runSelect) : h("span", null, `${this.runs[0].count} factors`), this.info,
        pngButton(this, () => [this, `${this.currentRun.count} factors of the MLP neuron activations (NMF), ${this.source}`, `${this.currentRun.count}-factors`])),
      h("div", { class: "xp-fv" }, text, this.list), this.readout, this.side);
    this.resizes = new ResizeObserver(() => this.redraw());
    this.rows();
  }

  start() {
    this.resizes.observe(this.list);
  }

  stop() {
    this.resizes.disconnect();
  }

  get currentRun() {
    return this.runs[this.state.run];
  }

  set(patch) {
    const rows = "run" in patch && patch.run !== this.state.run;
    super.set(patch);
    if (rows) this.rows();
  }

  /** (Re)build the rows of the factor list for the current run: "all factors", then one sparkline per factor. */
  rows() {
    const K = this.currentRun.count, row = (k) => h("button", { type: "button", role: "radio", class: "xp-frow", "data-k": k, style: k < 0 ? null : `--c:${colour(k)}` },
      h("span", { class: "xp-fsw" }), h("span", null, k < 0 ? "All" : `Factor ${k + 1}`), h("canvas", { "aria-hidden": "true" }));
    this.list.replaceChildren(...roving(Array.from({ length: K + 1 }, (_, i) => row(i - 1)), (j) => this.set({ factor: j - 1 })));
    this.list.firstChild.firstChild.style.background = `conic-gradient(${Array.from({ length: Math.min(K, 6) }, (_, k) => colour(k))})`;
    this.panelFor = "";
  }

  /** Token index under a sparkline pointer. */
  at(e) {
    const W = e.target.clientWidth || 1, N = this.nodes.length, k = +e.target.parentNode.dataset.k;
    return Math.max(0, Math.min(N - 1, k < 0 ? Math.floor((e.offsetX / W) * N) : Math.round(((e.offsetX - 2) / (W - 4)) * (N - 1))));
  }

  pick(e) {
    const b = e.target.closest?.(".xp-frow, .xp-chip");
    if (b) this.set({ factor: +b.dataset.k });
  }

  shade(node, i, at) {
    const r = this.currentRun, K = r.count, chosen = this.state.factor, k = chosen >= 0 ? chosen : r.dominant[i];
    const v = k >= 0 && r.peaks[k] > 0 ? r.activations[i * K + k] / r.peaks[k] : 0;
    node.style.setProperty("--c", k >= 0 ? colour(k) : "transparent");
    node.style.setProperty("--w", v.toFixed(3));
    node.classList.toggle("xp-on", i === at);
    node.setAttribute("aria-selected", i === this.state.pinned);
  }

  draw() {
    const r = this.currentRun, { factor, hover, pinned } = this.state, at = hover ?? pinned, fg = getComputedStyle(this).color;
    this.shadeTokens(at);
    [...this.list.children].forEach((b) => {
      const k = +b.dataset.k, on = k === factor;
      b.setAttribute("aria-checked", on);
      b.tabIndex = on ? 0 : -1;
      spark(b.lastChild, r, this.nodes.length, k, at, fg);
    });
    this.info.textContent = this.source + (Number.isFinite(r.error) ? ` · reconstruction error ${(100 * r.error).toFixed(1)}% overall` : "");
    this.showReadout(at);
    if (this.panelFor !== (this.panelFor = `${this.state.run}:${factor}`)) this.panel();
  }

  showReadout(at) {
    const r = this.currentRun, K = r.count, chosen = this.state.factor;
    if (at == null) return void (this.readout.textContent = "Hover, tap or focus a token (or a sparkline) to read its factor values; choose a factor in the list.");
    const val = (k) => h("span", { class: "xp-ro", style: `--c:${colour(k)}` }, `factor ${k + 1}: ${fmt(r.activations[at * K + k])}` +
      (chosen >= 0 ? ` (${Math.round((100 * r.activations[at * K + k]) / (r.peaks[k] || 1))}% of its peak)` : ""));
    const ks = chosen >= 0 ? [chosen] : ranked(r.activations, at, K).slice(0, 3);
    const pe = r.positionError ? `, reconstruction error ${Math.round(100 * r.positionError[at])}%` : "";
    this.readout.replaceChildren(h("span", { class: "xp-ro xp-tl" }, `“${show(this.tokens[at])}” (token ${at}${pe})`), ...(ks.length ? ks.map(val) : ["no factor is active here"]));
  }

  /** Under the figure: the legend of the "all factors" mode, or the chosen factor's strongest neurons. */
  panel() {
    const r = this.currentRun, k = this.state.factor;
    if (k < 0) {
      const c = tally(r.dominant, r.count);
      return this.side.replaceChildren(h("span", { class: "xp-hint" }, "Each token has the colour of its strongest factor (paler where that factor is weaker):"),
        ...Array.from({ length: r.count }, (_, j) => h("button", { type: "button", class: "xp-chip", "data-k": j, style: `--c:${colour(j)}`, onclick: (e) => this.pick(e) },
          `${j + 1}`, h("small", null, ` ${c[j]} token${c[j] === 1 ? "" : "s"}`))));
    }
    const top = (r.topNeurons[k] || []).filter((x) => Array.isArray(x) && x.length === 3).map((x) => x.map(Number));
    this.side.replaceChildren(
      h("span", { class: "xp-hint" }, `Strongest neurons of factor ${k + 1} (layer · neuron: weight; a factor's weights have unit length)`),
      h("ol", { class: "xp-neu", style: `--c:${colour(k)}` }, ...top.map(([l, i, wt]) =>
        h("li", { style: `--w:${(wt / (top[0][2] || 1)).toFixed(3)}` }, `L${l} · ${i}: `, h("b", null, wt.toFixed(3))))));
  }
}
