// <explorable-probabilities-view>: the model's output probabilities (payload section "lens", its last layer). One
// card per generated token: the top-k candidates the model weighed at that step, with their probabilities, the one
// it chose highlighted. Without generated tokens, one card: what the model would write after the text. A click, tap
// or Enter on a card pins its position for the block's other views, and a position pinned there is outlined here.
import { View, h } from "./view.js";
import { pngButton } from "./export.js";
import { tokenNode, show } from "./tokens.js";
import { readLens, candidate, next, outputs, pct, rankText, sharePosition, followPosition } from "./lens.js";

const quote = (t) => `“${show(t)}”`;

export class ProbabilitiesView extends View {
  static tag = "explorable-probabilities-view";

  async build(p) {
    const x = (this.x = await readLens(p)), { L, N } = x;
    this.generated = x.nPrompt < N;
    this.outs = this.generated ? outputs(x) : [N - 1];
    this.pin = null;
    this.setAttribute("role", "group");
    this.setAttribute("aria-label", this.getAttribute("aria-label") ||
      (this.generated ? "Output probabilities: the top candidates at each generated token, the chosen one highlighted"
        : "Output probabilities: the top candidates for the token after the text"));
    this.cards = this.outs.map((q, j) => {
      const chosen = q + 1 < N ? x.tokens[q + 1] : null, id = chosen && x.ids ? x.ids[q + 1] : null;
      const rows = Array.from({ length: x.K }, (_, k) => candidate(x, L, q, k));
      const hit = id == null ? -1 : rows.findIndex((c) => c.id === id);
      const items = rows.map((c, k) => h("div", { role: "listitem", class: k === hit ? "xp-prow xp-chosen" : "xp-prow", style: `--p:${c.prob.toFixed(4)}` },
        tokenNode(c.token), h("span", { class: "xp-pp" }, pct(c.prob))));
      if (chosen && hit < 0) {
        const n = next(x, L, q);
        items.push(h("div", { role: "listitem", class: "xp-prow xp-chosen xp-pextra", style: `--p:${n.prob.toFixed(4)}` }, tokenNode(chosen), h("span", { class: "xp-pp" }, `${pct(n.prob)} · rank ${rankText(n.rank)}`)));
      }
      const title = this.generated ? `Token ${j + 1} of ${this.outs.length}: chose ${quote(chosen)}` : `After ${quote(x.tokens[q])}: the next token`;
      return h("div", { class: "xp-pcard", role: "listitem", tabindex: j ? -1 : 0, "data-j": j, "aria-label": title },
        h("div", { class: "xp-phead" }, this.generated ? h("span", null, `${j + 1}. after `, tokenNode(x.tokens[q])) : h("span", null, "after ", tokenNode(x.tokens[q]))),
        h("div", { class: "xp-plist", role: "list", "aria-label": "Candidates, most probable first" }, ...items));
    });
    this.list = h("div", { class: "xp-pcards", role: "list", "aria-label": "Candidates at each step",
      onclick: (e) => this.tap(e), onkeydown: (e) => this.key(e) }, ...this.cards);
    const legend = h("span", { class: "xp-hint" }, `the model's top ${x.K} candidates and their probabilities` +
      (this.generated ? "; outlined: the token it chose (greedy: the most probable)" : ""));
    this.replaceChildren(h("div", { class: "xp-bar" }, legend, pngButton(this, () => [this.list, "Output probabilities", "probabilities"])), this.list);
  }

  index(e) {
    const card = e.target.closest?.(".xp-pcard");
    return card ? +card.dataset.j : null;
  }

  tap(e) {
    const j = this.index(e);
    if (j == null) return;
    this.pin = this.pin === j ? null : j;
    sharePosition(this, this.pin == null ? null : this.outs[j]);
    this.redraw();
  }

  key(e) {
    const j = this.index(e);
    if (j == null) return;
    if (e.key === "Enter" || e.key === " ") return e.preventDefault(), this.tap(e);
    if (e.key === "Escape") return (this.pin = null), sharePosition(this, null), this.redraw();
    const n = this.cards.length, k = { ArrowLeft: j - 1, ArrowUp: j - 1, ArrowRight: j + 1, ArrowDown: j + 1, Home: 0, End: n - 1 }[e.key];
    if (k == null || k < 0 || k >= n) return;
    e.preventDefault();
    this.cards[j].tabIndex = -1;
    this.cards[k].tabIndex = 0;
    this.cards[k].focus();
  }

  start() {
    this.unfollow = followPosition(this, (p) => {
      const j = this.outs.indexOf(p);
      this.pin = j >= 0 ? j : null;
      if (j >= 0) this.cards[j].scrollIntoView({ block: "nearest", inline: "nearest" });
      this.redraw();
    });
  }

  stop() {
    this.unfollow?.();
  }

  draw() {
    this.cards.forEach((c, j) => {
      c.classList.toggle("xp-pin", j === this.pin);
      c.setAttribute("aria-current", j === this.pin ? "true" : "false");
    });
  }
}

