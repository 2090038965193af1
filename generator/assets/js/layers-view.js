// <explorable-layers-view>: the logit lens as a grid (payload section "lens", see ARCHITECTURE.md). Rows are layers
// (the embedding output, then each block; the last row is the model's own output), columns are positions. Each cell
// shows the token that layer would predict next, shaded by its probability, bold where it is the model's final
// prediction at that position. Hover, tap or focus a cell for its top-k candidates and the rank of the token that came
// next; a click, tap or Enter pins it and tells the block's other views (lens.js sharePosition).
import { View, h, scroller } from "./view.js";
import { pngButton } from "./export.js";
import { tokenNode, show } from "./tokens.js";
import { Grid } from "./lens-grid.js";
import { readLens, candidate, next, layerName, layerLabel, pct, rankText, sharePosition, followPosition } from "./lens.js";

const quote = (t) => `“${show(t)}”`;

export class LayersView extends View {
  static tag = "explorable-layers-view";

  async build(p) {
    const x = (this.x = await readLens(p)), { L, N } = x;
    this.setAttribute("role", "group");
    this.setAttribute("aria-label", this.getAttribute("aria-label") ||
      "Prediction after each layer: rows are layers, columns are positions, each cell the most probable next token");
    const final = Array.from({ length: N }, (_, i) => candidate(x, L, i, 0).index);
    this.grid = new Grid({
      rows: Array.from({ length: L + 1 }, (_, l) => ({ label: layerLabel(l, L), title: layerName(l, L) })),
      cols: x.tokens.map((t) => tokenNode(t)),
      cell: (l, i) => {
        const c = candidate(x, l, i, 0);
        return { content: tokenNode(c.token), cls: c.index === final[i] ? "xp-match" : "", style: `--p:${c.prob.toFixed(3)}` };
      },
      foot: { label: "next", title: "the token that actually came next", cells: x.tokens.map((_, i) => (i + 1 < N ? tokenNode(x.tokens[i + 1]) : "")) },
      corner: "layer ↓ · reads →",
      label: `${L + 1} layers × ${N} positions: the most probable next token after each layer`,
      start: [L, Math.max(0, Math.min(N - 1, x.nPrompt - 1))],
      changed: () => this.redraw(),
      pinned: (c) => sharePosition(this, c && c[1]),
    });
    this.out = h("div", { class: "xp-readout xp-lout", "aria-live": "polite" });
    const legend = h("span", { class: "xp-hint" }, "probability of the top token 0 ",
      h("span", { class: "xp-ramp xp-lramp", "aria-hidden": "true" }), " 100% · ", h("b", null, "bold"), ": the model's final prediction there");
    const note = h("p", { class: "xp-hint xp-lnote" }, `Each layer is read through the model's final norm` +
      `${x.norm ? ` (${x.norm}, with that layer's own statistics)` : ""} and its unembedding; the last row is the model's output.`);
    this.replaceChildren(h("div", { class: "xp-bar" }, legend, pngButton(this, () => [this.grid.el, "Top prediction after each layer (logit lens)", "layers"])),
      scroller(this.grid.el), this.out, note);
  }

  start() {
    this.unfollow = followPosition(this, (p) => this.grid.setPin(p != null && p >= 0 && p < this.x.N ? [this.x.L, p] : null));
  }

  stop() {
    this.unfollow?.();
  }

  draw() {
    const on = this.grid.mark(), x = this.x;
    if (!on) return void this.out.replaceChildren(h("span", { class: "xp-hint" },
      `Hover, tap or focus a cell: the top ${x.K} next tokens after that layer, and the rank of the token that came next. Arrow keys move; Enter pins.`));
    const [l, p] = on, n = next(x, l, p), after = p + 1 < x.N ? x.tokens[p + 1] : null;
    this.out.replaceChildren(
      h("span", { class: "xp-lro" }, `${layerName(l, x.L)}${this.grid.isPinned(on) ? " (pinned)" : ""}, position ${p} ${quote(x.tokens[p])}: predicts`),
      h("span", { class: "xp-lcands" }, ...Array.from({ length: x.K }, (_, j) => {
        const c = candidate(x, l, p, j);
        return h("span", { class: "xp-lcand", style: `--p:${c.prob.toFixed(4)}` }, `${j + 1}. ${quote(c.token)} ${pct(c.prob)}`);
      })),
      h("span", { class: "xp-lro" }, n ? `the token that came next, ${quote(after)}${after.generated ? " (generated)" : ""}: rank ${rankText(n.rank)} of ${rankText(x.V)}, ${pct(n.prob)}`
        : "the last position: no token came after it"));
  }
}

