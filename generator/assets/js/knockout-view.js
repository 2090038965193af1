// <explorable-knockout-view>: the head knockout map (payload section "interventions", part "knockout"). A grid of
// layers x heads, plus a column for each whole attention block and each MLP: the change of the explained output when
// that part's output is removed (mean or zero ablation), on a diverging scale centred on zero. A cell picked here is
// the layer and head of the block's head and model views, and a head chosen there is outlined here.
import { View, h, move, scroller } from "./view.js";
import { pngButton } from "./export.js";
import { diverging } from "./colour.js";
import { dark, cssRGB } from "./theme.js";
import { section, grid, outputName, delta, value, maxAbs, niceMax, short } from "./interventions.js";

const METRIC_LABEL = { logprob: "log-probability", prob: "probability", similarity: "similarity" };

export class KnockoutView extends View {
  static tag = "explorable-knockout-view";

  build(p) {
    const { s, L, H } = section(p), k = s.knockout;
    if (!k) throw new Error("this payload has no knockout map (interventions.knockout)");
    if (!Array.isArray(k.metrics) || !k.metrics.length) throw new Error("the knockout map names no metric");
    k.metrics.forEach((m, i) => {
      grid(k.heads?.[m], L, H, `knockout heads (${m})`);
      if (!Array.isArray(k.attention?.[m]) || k.attention[m].length !== L || !Array.isArray(k.mlp?.[m]) || k.mlp[m].length !== L)
        throw new Error(`knockout attention and mlp (${m}) must list ${L} numbers`);
      if (!Number.isFinite(k.base?.[i])) throw new Error("the knockout map has no unedited value");
    });
    Object.assign(this, { s, k, L, H, C: H + 2 });
    this.state = { metric: k.metrics[0], cursor: [0, 0], pinned: null };
    this.setAttribute("role", "group");
    this.setAttribute("aria-label", this.getAttribute("aria-label") || "Head knockout map: the change of the output when each head, attention block or MLP is removed");
    const metric = k.metrics.length > 1
      ? h("label", null, "show ", h("select", { "aria-label": "Measure", onchange: (e) => this.set({ metric: e.target.value }) },
        ...k.metrics.map((m) => h("option", { value: m }, `change of ${METRIC_LABEL[m]}`))))
      : h("span", null, `change of ${METRIC_LABEL[k.metrics[0]]}`);
    this.legends = [h("span", { class: "xp-kleg" }), h("span", { class: "xp-kleg" })];
    // no key lines under a saved figure: its colour scales are in the figure, above the grid (once)
    const bar = h("div", { class: "xp-bar" }, metric, pngButton(this, () => [this.figure, this.caption(), "knockout", []]));
    // the grid: a header row, then one row per layer
    this.cells = [];
    const head = h("div", { class: "xp-krow xp-khead", role: "row" }, h("span", { class: "xp-klab", role: "columnheader" }, "layer"),
      ...Array.from({ length: H }, (_, c) => h("span", { role: "columnheader", class: "xp-kcol" }, String(c))),
      h("span", { role: "columnheader", class: "xp-kcol xp-kblock", title: "the whole attention block (every head and the output projection's bias)" }, "attn"),
      h("span", { role: "columnheader", class: "xp-kcol", title: "the whole MLP" }, "MLP"));
    const rows = Array.from({ length: L }, (_, l) => {
      const cells = Array.from({ length: this.C }, (_, c) => h("span", { role: "gridcell", class: c === H ? "xp-kcell xp-kblock" : "xp-kcell", tabindex: l + c ? -1 : 0, "data-l": l, "data-c": c }));
      this.cells.push(cells);
      return h("div", { class: "xp-krow", role: "row" }, h("span", { class: "xp-klab", role: "rowheader" }, String(l)), ...cells);
    });
    this.gridEl = h("div", { class: "xp-kgrid", role: "grid", "aria-label": `Layers 0–${L - 1} by heads 0–${H - 1}, then the whole attention block and the MLP`, style: `--xp-kc:${H + 2}`,
      onpointerover: (e) => this.point(e), onfocusin: (e) => this.point(e), onclick: (e) => this.pick(e), onkeydown: (e) => this.key(e),
      onpointerleave: () => this.read() }, head, ...rows);
    this.readout = h("p", { class: "xp-kread", "aria-live": "polite" });
    this.note = h("p", { class: "xp-hint" }, this.explain());
    this.figure = h("div", { class: "xp-kfig" }, h("div", { class: "xp-klegs" }, ...this.legends), scroller(this.gridEl));
    this.replaceChildren(bar, this.figure, this.readout, this.note);
  }

  explain() {
    const k = this.k, how = k.ablation === "zero" ? "replaced by zeros" : "replaced by its mean over the text's positions";
    const gqa = (this.payload.model.n_kv_heads ?? this.H) < this.H ? " A head is a query head: the key/value heads it shares with others stay." : "";
    return `Each cell: the output when that head's output is ${how} (${k.ablation === "zero" ? "zero" : "mean"} ablation), minus the unedited output. Blue: removing it raises the output; orange: it lowers it.${gqa}`;
  }

  caption() {
    const m = this.state.metric, k = this.k;
    return `Head knockout (${k.ablation} ablation): change of ${outputName(this.s, m)} (unedited ${value(k.base[k.metrics.indexOf(m)], m)})`;
  }


  base() {
    return cssRGB(this, "--md-default-bg-color") || (dark() ? [30, 33, 41] : [255, 255, 255]);
  }

  /** [[bound, words], ...]: one scale for the heads, one for whole blocks and MLPs (often far larger). */
  scales() {
    const m = this.state.metric, k = this.k;
    return [[niceMax(maxAbs(k.heads[m])), "heads"], [niceMax(maxAbs([k.attention[m], k.mlp[m]])), "blocks, MLPs"]];
  }

  at(l, c) {
    const m = this.state.metric, k = this.k;
    return c < this.H ? k.heads[m][l][c] : c === this.H ? k.attention[m][l] : k.mlp[m][l];
  }

  describe(l, c) {
    const m = this.state.metric, k = this.k, i = k.metrics.indexOf(m), v = this.at(l, c);
    const part = c < this.H ? `layer ${l}, head ${c}` : c === this.H ? `layer ${l}, whole attention block` : `layer ${l}, MLP`;
    return `${part} removed: ${outputName(this.s, m)} ${value(k.base[i], m)} → ${value(k.base[i] + v, m)} (${delta(v, m)})`;
  }

  cellOf(e) {
    const c = e.target.closest?.(".xp-kcell");
    return c ? [+c.dataset.l, +c.dataset.c] : null;
  }

  point(e) {
    const at = this.cellOf(e);
    if (at) this.read(at);
  }

  read(at = this.state.pinned) {
    this.readout.textContent = at ? this.describe(...at) : "Hover, tap or move with the arrow keys over a cell to read it; Enter or a click picks a head for the linked views.";
  }

  pick(e) {
    const at = this.cellOf(e);
    if (at) this.choose(at);
  }

  choose([l, c]) {
    const same = this.state.pinned && this.state.pinned[0] === l && this.state.pinned[1] === c;
    this.set({ pinned: same ? null : [l, c], cursor: [l, c] });
    this.read([l, c]);
    if (!same) this.tell(c < this.H ? { layer: l, head: c } : { layer: l });
  }

  key(e) {
    const at = this.cellOf(e);
    if (!at) return;
    if (e.key === "Enter" || e.key === " ") return e.preventDefault(), this.choose(at);
    if (e.key === "Escape") return this.set({ pinned: null });
    const next = move(e.key, at[0], at[1], this.L, this.C);
    if (!next) return;
    e.preventDefault();
    this.focusCell(next);
  }

  focusCell([l, c]) {
    const [a, b] = this.state.cursor;
    this.cells[a][b].tabIndex = -1;
    this.cells[l][c].tabIndex = 0;
    this.cells[l][c].focus();
    this.state.cursor = [l, c];
  }

  follow({ layer, head }) {
    if (!(layer >= 0 && layer < this.L)) return;
    const c = head >= 0 && head < this.H ? head : this.state.pinned?.[1] ?? 0;
    this.set({ pinned: [layer, c], cursor: [layer, c] });
    this.cells[layer][c].scrollIntoView?.({ block: "nearest", inline: "nearest" });
    this.read([layer, c]);
  }

  draw() {
    const d = dark(), base = this.base(), [[mh], [mb]] = this.scales(), m = this.state.metric, pin = this.state.pinned;
    this.legends.forEach((el, i) => {
      const [bound, what] = this.scales()[i];
      el.replaceChildren(`${what}: ${delta(-bound, m)} `, h("span", { class: "xp-kramp", style: `background:linear-gradient(90deg, ${diverging(-1, d, base)}, ${diverging(0, d, base)}, ${diverging(1, d, base)})` }), ` ${delta(bound, m)}`);
    });
    for (let l = 0; l < this.L; l++)
      for (let c = 0; c < this.C; c++) {
        const v = this.at(l, c), cell = this.cells[l][c], t = v == null ? 0 : v / (c < this.H ? mh : mb);
        cell.style.background = diverging(t, d, base);
        cell.style.color = Math.abs(t) > 0.6 ? (d ? "#111" : "#fff") : "";
        const scale = m === "prob" ? 100 : 1;
        cell.textContent = Math.abs(t) >= 0.25 ? short(scale * v, scale * (c < this.H ? mh : mb)) : "";
        cell.classList.toggle("xp-pin", !!pin && pin[0] === l && pin[1] === c);
        cell.setAttribute("aria-label", this.describe(l, c));
      }
    if (!this.readout.textContent) this.read();
  }
}
