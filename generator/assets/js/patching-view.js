// <explorable-patching-view>: activation patching, or causal tracing (payload section "interventions", part
// "patching"). Three grids of layers x positions (the residual stream, the attention output, the MLP output): the
// contrast run with that one activation restored from the clean run, normalised so 0 = the contrast run and 1 = the
// clean run; or the reverse direction (the clean run with that activation from the contrast run). A position picked
// here is the block's shared token.
import { View, h, move, scroller } from "./view.js";
import { array } from "./payload.js";
import { pngButton } from "./export.js";
import { diverging, divergingRGB } from "./colour.js";
import { dark, cssRGB } from "./theme.js";
import { tokenNode, show } from "./tokens.js";
import { section } from "./interventions.js";

const KINDS = { resid: "residual stream", attn: "attention output", mlp: "MLP output" };
const DIRECTIONS = { restore: "restore: the contrast run, one activation from the clean run",
  break: "break: the clean run, one activation from the contrast run" };
const pct = (p) => `${(100 * p).toFixed(1)}%`;

export class PatchingView extends View {
  static tag = "explorable-patching-view";

  async build(p) {
    const { s, L } = section(p), g = s.patching;
    if (!g || !s.output) throw new Error("this payload has no patching grids (interventions.patching)");
    const N = g.contrast_tokens?.length, K = g.kinds?.length;
    if (!N || N > p.tokens.length || !K || g.kinds.some((k) => !KINDS[k])) throw new Error("the patching grids name no known kind or no tokens");
    const grids = {};
    for (const d of ["restore", "break"]) {
      const { shape, values } = await array(g[d]);
      if (shape.length !== 3 || shape[0] !== K || shape[1] !== L || shape[2] !== N) throw new Error(`patching ${d} must be [${K}, ${L}, ${N}], not [${shape}]`);
      grids[d] = values;
    }
    if (!Number.isFinite(g.clean) || !Number.isFinite(g.contrast_prob)) throw new Error("the patching grids have no clean or contrast probability");
    Object.assign(this, { s, g, L, N, K, grids, tokens: p.tokens.slice(0, N) });
    this.span = g.clean - g.contrast_prob;
    this.state = { direction: "restore", cursor: null, pinned: null };
    this.setAttribute("role", "group");
    this.setAttribute("aria-label", this.getAttribute("aria-label") || "Activation patching: layers by positions for the residual stream, the attention output and the MLP output");
    const c = (this.cell = Math.max(10, Math.min(22, Math.floor(300 / N))));
    this.dirSelect = h("select", { "aria-label": "Direction", onchange: (e) => this.set({ direction: e.target.value }) },
      ...Object.entries(DIRECTIONS).map(([k, t]) => h("option", { value: k }, t)));
    this.legend = h("span", { class: "xp-kleg" });
    // no key lines under a saved figure: its colour scales are in the figure, above the grid (once)
    const bar = h("div", { class: "xp-bar" }, this.dirSelect, pngButton(this, () => [this.figure, this.caption(), `patching-${this.state.direction}`, []]));
    this.canvases = g.kinds.map((kind, k) => {
      // each grid is its own Tab stop (arrows move inside one grid only), so the attention and MLP grids are
      // reachable from the keyboard too; focusing a grid brings the cursor into it at the same layer and position
      const cv = h("canvas", { class: "xp-gcanvas", tabindex: 0, role: "img", "data-k": k,
        "aria-label": `${KINDS[kind]}: ${L} layers by ${N} positions; arrow keys move, Enter picks the position`,
        onpointermove: (e) => this.point(e, k), onpointerleave: () => this.read(), onclick: (e) => this.point(e, k, true),
        onkeydown: (e) => this.key(e, k), onfocus: () => this.enter(k) });
      cv.width = N * c;
      cv.height = L * c;
      cv.style.cssText = `width:${N * c}px;height:${L * c}px`;
      return cv;
    });
    const layerAxis = () => h("div", { class: "xp-gly", style: `height:${L * c}px` },
      ...Array.from({ length: L }, (_, l) => h("span", { style: `top:${(L - 1 - l) * c}px;height:${c}px;line-height:${c}px` }, l % 5 === 0 || l === L - 1 ? String(l) : "")));
    const tokenAxis = () => h("div", { class: "xp-gtx", style: `--c:${c}px` }, ...this.tokens.map((t) => tokenNode(t)));
    this.panels = g.kinds.map((kind, k) => h("div", { class: "xp-gpanel" }, h("div", { class: "xp-gtitle" }, KINDS[kind]),
      h("div", { class: "xp-gbody" }, layerAxis(), h("div", null, this.canvases[k], tokenAxis()))));
    this.readout = h("p", { class: "xp-kread", "aria-live": "polite" });
    const contrast = h("p", { class: "xp-gpair" }, "clean: ", ...this.tokens.map((t) => tokenNode(t)), h("br"), "contrast: ", ...g.contrast_tokens.map((t) => tokenNode(t)));
    this.figure = h("div", { class: "xp-gfig" }, contrast, h("div", { class: "xp-klegs" }, this.legend), scroller(h("div", { class: "xp-gpanels" }, ...this.panels)));
    this.replaceChildren(bar, this.figure, this.readout, h("p", { class: "xp-hint" },
      `Each cell: p(“${show(s.output.token)}”) with one activation (a layer, a position) swapped between the runs, as a share of the way from the contrast run (${pct(g.contrast_prob)}, 0) to the clean run (${pct(g.clean)}, 1). Layer 0 is at the bottom.`));
  }

  caption() {
    return `Activation patching (${this.state.direction}): p(“${show(this.s.output.token)}”), 0 = contrast run, 1 = clean run`;
  }

  base() {
    return cssRGB(this, "--md-default-bg-color") || (dark() ? [30, 33, 41] : [255, 255, 255]);
  }


  norm(k, l, n) {
    const p = this.grids[this.state.direction][(k * this.L + l) * this.N + n];
    return Math.abs(this.span) > 1e-9 ? (p - this.g.contrast_prob) / this.span : NaN;
  }

  at(e, k) {
    const r = this.canvases[k].getBoundingClientRect(), c = this.cell;
    const n = Math.floor((e.clientX - r.left) / c), l = this.L - 1 - Math.floor((e.clientY - r.top) / c);
    return n >= 0 && n < this.N && l >= 0 && l < this.L ? [k, l, n] : null;
  }

  point(e, k, click) {
    const at = this.at(e, k);
    if (!at) return;
    this.read(at);
    if (click) this.pick(at);
  }

  pick(at) {
    this.set({ cursor: at, pinned: at });
    this.tell({ token: at[2] });
  }

  read(at = this.state.cursor) {
    if (!at) return (this.readout.textContent = "Hover, tap or move with the arrow keys over a cell to read it.");
    const [k, l, n] = at, p = this.grids[this.state.direction][(k * this.L + l) * this.N + n], v = this.norm(k, l, n);
    this.readout.textContent = `${KINDS[this.g.kinds[k]]}, layer ${l}, position ${n} (“${show(this.tokens[n])}” / “${show(this.g.contrast_tokens[n])}”): p = ${pct(p)}, ${Number.isNaN(v) ? "not normalised (the runs agree)" : v.toFixed(2).replace("-", "−") + " of the way to the clean run"}`;
  }

  /** Focus came to grid `k`: the cursor moves into it, keeping its layer and position (the top right at first). */
  enter(k) {
    const [kk, l, n] = this.state.cursor || [k, this.L - 1, this.N - 1];
    if (kk !== k || !this.state.cursor) this.set({ cursor: [k, l, n] });
  }

  key(e, k) {
    const [, l, n] = this.state.cursor || [k, this.L - 1, this.N - 1];
    if (e.key === "Enter" || e.key === " ") return e.preventDefault(), this.pick([k, l, n]);
    const next = move(e.key, this.L - 1 - l, n, this.L, this.N);
    if (!next) return;
    e.preventDefault();
    this.set({ cursor: [k, this.L - 1 - next[0], next[1]] });
    this.read();
  }

  follow({ token }) {
    if (token == null || token >= this.N) return;
    const [k, l] = this.state.cursor || [0, this.L - 1];
    this.set({ cursor: [k, l, token], pinned: [k, l, token] });
    this.read();
  }

  draw() {
    const d = dark(), b = this.base(), c = this.cell, cur = this.state.cursor;
    this.dirSelect.value = this.state.direction;
    this.legend.replaceChildren("−1 ", h("span", { class: "xp-kramp", style: `background:linear-gradient(90deg, ${diverging(-1, d, b)}, ${diverging(0, d, b)}, ${diverging(1, d, b)})` }), " 1: share of the way from the contrast run (0) to the clean run (1)");
    this.canvases.forEach((cv, k) => {
      const ctx = cv.getContext("2d");
      for (let l = 0; l < this.L; l++)
        for (let n = 0; n < this.N; n++) {
          const v = this.norm(k, l, n);
          ctx.fillStyle = Number.isNaN(v) ? "#888" : `rgb(${divergingRGB(Math.max(-1, Math.min(1, v)), d, b)})`;
          ctx.fillRect(n * c, (this.L - 1 - l) * c, c, c);
        }
      if (cur && cur[0] === k) {
        ctx.strokeStyle = getComputedStyle(this).color;
        ctx.lineWidth = 2;
        ctx.strokeRect(cur[2] * c + 1, (this.L - 1 - cur[1]) * c + 1, c - 2, c - 2);
      }
    });
    this.read();
  }
}
