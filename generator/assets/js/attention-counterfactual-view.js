// <explorable-attention-counterfactual-view>: counterfactual attention (payload section "counterfactuals", its
// "attention" record; Jain & Wallace 2019). One row per layer and one for all layers: how far the output
// distribution moves when that layer's attention rows at the explained position are permuted (box: quartiles over
// the seeded permutations, tick: median, whisker: min to max) or made uniform (diamond).
import { View, h } from "./view.js";
import { show } from "./tokens.js";
import { pngButton } from "./export.js";
import { num } from "./saliency.js";
import { attentionRows, pc } from "./counterfactuals.js";

const METRICS = [["tvd", "output change (TVD)", "total variation distance between the output distributions"],
  ["dprob", "Δ p(explained)", "change of the explained token's probability"]];

// An end of the axis: three significant digits, without trailing zeros ("1", "−0.962", "0.0379").
const tick = (v) => (v === 0 ? "0" : String(+v.toPrecision(3)).replace("-", "−"));

export class AttentionCounterfactualView extends View {
  static tag = "explorable-attention-counterfactual-view";

  build(p) {
    const s = p.counterfactuals;
    if (!s || typeof s !== "object") throw new Error("this payload has no counterfactuals section");
    if (!s.attention) throw new Error(s.kind === "similarity" ? "counterfactual attention is computed for causal models only"
      : "this explorable has no counterfactual attention (counterfactuals.attention is off)");
    this.a = s.attention;
    this.y = s.explained;
    attentionRows(this.a, "tvd"); // validates
    this.state = { metric: 0, layer: null };
    this.setAttribute("role", "group");
    this.setAttribute("aria-label", this.getAttribute("aria-label") || "Counterfactual attention: the output change when a layer's attention is permuted or made uniform");
    this.metricButtons = METRICS.map(([, label], i) => h("button", { type: "button", role: "radio", class: "xp-btn xp-mbtn", onclick: () => this.set({ metric: i }) }, label));
    this.metricButtons.forEach((b, i) => (b.onkeydown = (e) => {
      const d = { ArrowLeft: -1, ArrowRight: 1, ArrowUp: -1, ArrowDown: 1 }[e.key];
      if (!d) return;
      e.preventDefault();
      const j = (i + d + METRICS.length) % METRICS.length;
      this.set({ metric: j });
      this.metricButtons[j].focus();
    }));
    this.head = h("div", { class: "xp-hint" });
    this.rowsBox = h("div", { class: "xp-acf", role: "listbox", "aria-label": "Layers", tabindex: 0, onkeydown: (e) => this.key(e),
      onclick: (e) => { const r = e.target.closest?.("[data-r]"); if (r) this.pick(+r.dataset.r); } });
    this.axis = h("div", { class: "xp-acx" });
    this.readout = h("div", { class: "xp-readout", "aria-live": "polite" });
    this.note = h("p", { class: "xp-note" });
    this.figure = h("div", { class: "xp-cfig" }, this.head, this.rowsBox, this.axis);
    const legend = h("span", { class: "xp-hint" }, h("span", { class: "xp-acbox xp-key" }), " quartiles of ", String(this.a.permutations), " permutations  ",
      h("span", { class: "xp-acmed xp-key" }), " median  ", h("span", { class: "xp-acuni xp-key" }), " uniform");
    this.replaceChildren(h("div", { class: "xp-bar" }, h("span", { class: "xp-heads", role: "radiogroup", "aria-label": "Measure" }, ...this.metricButtons), legend,
      pngButton(this, () => [this.figure, this.caption(), "attention-counterfactual", this.keys()])), this.figure, this.readout, this.note);
  }

  caption() {
    return `Counterfactual attention at the position predicting “${show(this.y.token)}”: ${METRICS[this.state.metric][1]} per layer`;
  }

  keys() {
    const cs = getComputedStyle(this);
    return [{ fill: cs.getPropertyValue("--xp-box") || "#7fa7d9", w: 16 }, ` quartiles over ${this.a.permutations} seeded permutations   `,
      { fill: cs.getPropertyValue("--xp-uni") || "#e0823d", w: 8 }, " uniform attention row"];
  }

  pick(r) {
    const L = this.a.layers, layer = r === L ? null : r;
    this.set({ layer: r });
    if (layer != null) this.tell({ layer });
  }

  key(e) {
    const n = this.a.layers + 1, r = this.state.layer ?? -1;
    const j = { ArrowDown: r + 1, ArrowRight: r + 1, ArrowUp: r - 1, ArrowLeft: r - 1, Home: 0, End: n - 1 }[e.key];
    if (j == null) return;
    e.preventDefault();
    this.pick(Math.max(0, Math.min(n - 1, j)));
  }

  follow({ layer }) {
    if (Number.isInteger(layer) && layer >= 0 && layer < this.a.layers) this.set({ layer });
  }

  draw() {
    const { metric, layer } = this.state, [key, label, long] = METRICS[metric], { rows, lo, hi } = attentionRows(this.a, key);
    this.metricButtons.forEach((b, i) => (b.setAttribute("aria-checked", i === metric), (b.tabIndex = i === metric ? 0 : -1)));
    const x = (v) => (100 * (v - lo) / (hi - lo)).toFixed(2) + "%";
    this.head.textContent = `${label}: ${long}; the explained token “${show(this.y.token)}” has p = ${pc(this.a.prob)}`;
    this.rowsBox.replaceChildren(...rows.map((r, i) => {
      const s = r.spread, on = i === layer;
      return h("div", { class: "xp-acr" + (on ? " xp-on" : ""), role: "option", "aria-selected": String(on), "data-r": i,
        title: `layer ${r.label}: median ${num(s.median)}, quartiles ${num(s.q25)} – ${num(s.q75)}, max ${num(s.max)}; uniform ${num(r.uniform)}` },
      h("span", { class: "xp-acl" }, r.label),
      h("span", { class: "xp-act" },
        h("span", { class: "xp-acw", style: `left:${x(s.min)};width:calc(${x(s.max)} - ${x(s.min)})` }),
        h("span", { class: "xp-acbox", style: `left:${x(s.q25)};width:max(2px, calc(${x(s.q75)} - ${x(s.q25)}))` }),
        h("span", { class: "xp-acmed", style: `left:${x(s.median)}` }),
        h("span", { class: "xp-acuni", style: `left:${x(r.uniform)}` }),
        lo < 0 ? h("span", { class: "xp-ac0", style: `left:${x(0)}` }) : ""));
    }));
    this.axis.replaceChildren(h("span", {}, tick(lo)), h("span", {}, tick(hi)));
    const r = layer == null ? null : rows[layer];
    this.readout.textContent = r ? `layer ${r.label}: median ${num(r.spread.median)}, quartiles ${num(r.spread.q25)} – ${num(r.spread.q75)}, max ${num(r.spread.max)}; ` +
      `${Math.round(r.flips * this.a.permutations)} of ${this.a.permutations} permutations change the top-1; uniform: ${num(r.uniform)}${r.flipped ? " (top-1 changes)" : ""}` : "Choose a layer (arrow keys or a click) for its numbers.";
    const all = rows[rows.length - 1];
    this.note.textContent = `All layers permuted at once: median ${label} ${num(all.spread.median)}, the top-1 changes in ${pc(all.flips)} of the permutations; ` +
      `one layer at a time, the largest median is ${num(Math.max(...rows.slice(0, -1).map((q) => q.spread.median)))}.`;
  }
}
