// <explorable-ranks-view>: ranks through the layers (payload section "lens"; Ecco's rankings). First grid: for each
// generated token (without generated tokens, each token that came next), its rank after every layer in the
// prediction that produced it. Second grid (with `lens.watch`): the rank of each watched token after every layer at
// one position, chosen in a menu or pinned in a linked view. Log colour scale; rank 1 is bold.
import { View, h, scroller } from "./view.js";
import { pngButton } from "./export.js";
import { tokenNode, show } from "./tokens.js";
import { Grid } from "./lens-grid.js";
import { readLens, next, outputs, layerName, layerLabel, pct, rankText, rankShade, sharePosition, followPosition } from "./lens.js";

const quote = (t) => `“${show(t)}”`;

export class RanksView extends View {
  static tag = "explorable-ranks-view";

  async build(p) {
    const x = (this.x = await readLens(p)), { L, N, V } = x;
    this.outs = outputs(x);
    this.generated = x.nPrompt < N;
    this.pos = Math.min(N - 1, this.generated ? x.nPrompt - 1 : N - 1);
    this.setAttribute("role", "group");
    this.setAttribute("aria-label", this.getAttribute("aria-label") || "Ranks of tokens after every layer");
    this.rows = Array.from({ length: L + 1 }, (_, l) => ({ label: layerLabel(l, L), title: layerName(l, L) }));
    const shade = (r) => `--p:${rankShade(r, V).toFixed(3)}`;
    const parts = [];
    this.grids = [];
    if (this.outs.length) {
      this.gen = new Grid({
        rows: this.rows, cols: this.outs.map((q) => tokenNode(x.tokens[q + 1])),
        cell: (l, j) => {
          const r = next(x, l, this.outs[j]).rank;
          return { content: rankText(r), cls: r === 1 ? "xp-match" : "", style: shade(r) };
        },
        corner: this.generated ? "layer ↓ · generated →" : "layer ↓ · next token →",
        label: `Rank of each ${this.generated ? "generated" : "next"} token after every layer`,
        start: [L, 0], changed: () => this.redraw(), pinned: (c) => this.pinned(this.gen, c && this.outs[c[1]]),
      });
      this.grids.push(this.gen);
      parts.push(h("p", { class: "xp-lhead" }, this.generated ? "Each generated token: its rank after every layer, where the model predicted it"
        : "Each token: its rank after every layer, in the prediction made at the token before it"), scroller(this.gen.el));
    }
    if (x.watch.length) {
      this.posSel = h("select", { "aria-label": "Position", onchange: (e) => this.setPosition(+e.target.value) },
        ...x.tokens.map((t, i) => h("option", { value: i }, `${i} ${quote(t)}`)));
      this.posSel.value = this.pos;
      this.watchBox = h("div");
      parts.push(h("p", { class: "xp-lhead" }, "Watched tokens: their ranks after every layer at position ", this.posSel), scroller(this.watchBox));
      this.watchGrid();
    }
    if (!parts.length) parts.push(h("p", { class: "xp-note" }, "Nothing to rank: the text has a single token and no watched tokens."));
    this.out = h("div", { class: "xp-readout xp-lout", "aria-live": "polite" });
    const legend = h("span", { class: "xp-hint" }, "rank 1 ", h("span", { class: "xp-ramp xp-lramp", "aria-hidden": "true" }),
      ` ${rankText(V)} (log scale) · `, h("b", null, "bold"), ": rank 1, the top prediction");
    this.figure = h("div", { class: "xp-lfig" }, ...parts);
    this.replaceChildren(h("div", { class: "xp-bar" }, legend, pngButton(this, () => [this.figure, "Token ranks after each layer", "ranks"])),
      this.figure, this.out);
  }

  /** (Re)build the watched tokens' grid for the chosen position. */
  watchGrid() {
    const x = this.x, { L, N, V } = x, W = x.watch.length, p = this.pos;
    const rank = (l, w) => Math.round(x.watch[w].ranks[l * N + p]);
    const best = (l) => x.watch.reduce((b, _, w) => (rank(l, w) < rank(l, b) ? w : b), 0);
    const ahead = W > 1;
    const old = this.wgrid;
    this.wgrid = new Grid({
      rows: this.rows, cols: [...x.watch.map((w) => tokenNode({ text: w.text })), ...(ahead ? ["ahead"] : [])],
      cell: (l, w) => {
        if (w === W) return { content: tokenNode({ text: x.watch[best(l)].text }), cls: "xp-lahead" };
        const r = rank(l, w);
        return { content: rankText(r), cls: r === 1 ? "xp-match" : "", style: `--p:${rankShade(r, V).toFixed(3)}` };
      },
      corner: "layer ↓ · token →", label: `Rank of each watched token after every layer at position ${p}`,
      start: old ? old.cur : [L, 0], changed: () => this.redraw(), pinned: () => {},
    });
    this.grids = this.grids.filter((g) => g !== old).concat(this.wgrid);
    this.watchBox.replaceChildren(this.wgrid.el);
  }

  setPosition(p) {
    if (!(p >= 0 && p < this.x.N) || p === this.pos) return;
    this.pos = p;
    if (this.posSel) this.posSel.value = p;
    if (this.wgrid) this.watchGrid();
    this.redraw();
  }

  /** The reader pinned a cell of `grid` (position p) or released it: the other grid lets go; linked views follow. */
  pinned(grid, p) {
    for (const g of this.grids) if (g !== grid && g.pin) g.show({ pin: null });
    if (p != null) this.setPosition(p);
    sharePosition(this, p);
  }

  start() {
    this.unfollow = followPosition(this, (p) => {
      const j = this.outs.indexOf(p);
      if (this.gen) this.gen.setPin(j >= 0 ? [this.x.L, j] : null);
      if (p != null) this.setPosition(p);
    });
  }

  stop() {
    this.unfollow?.();
  }

  draw() {
    const x = this.x, { N } = x;
    let shown = null;
    for (const g of this.grids) {
      const on = g.mark();
      if (on && (!shown || g.hov)) shown = [g, on];
    }
    if (!shown) return void this.out.replaceChildren(h("span", { class: "xp-hint" },
      "Hover, tap or focus a cell for the rank and probability; arrow keys move, Enter pins."));
    const [g, [l, j]] = shown, pinned = g.isPinned([l, j]) ? " (pinned)" : "";
    if (g === this.gen) {
      const q = this.outs[j], n = next(x, l, q), t = x.tokens[q + 1];
      const which = this.generated ? `generated token ${j + 1} of ${this.outs.length}` : `position ${q + 1}`;
      return void this.out.replaceChildren(h("span", { class: "xp-lro" },
        `${quote(t)} (${which})${pinned}, predicted at ${quote(x.tokens[q])} after ${layerName(l, x.L)}: rank ${rankText(n.rank)} of ${rankText(x.V)}, ${pct(n.prob)}`));
    }
    const p = this.pos, W = x.watch.length;
    const line = (w) => `${quote({ text: x.watch[w].text })}: rank ${rankText(x.watch[w].ranks[l * N + p])}, ${pct(x.watch[w].probs[l * N + p])}`;
    this.out.replaceChildren(h("span", { class: "xp-lro" }, `after ${layerName(l, x.L)}${pinned}, at position ${p} ${quote(x.tokens[p])}:`),
      ...(j < W ? [j, ...x.watch.keys()].filter((w, i, a) => a.indexOf(w) === i) : [...x.watch.keys()]).map((w) => h("span", { class: "xp-lro" }, line(w))));
  }
}

