// <explorable-editing-view>: attention editing (payload section "interventions", part "editing"). The reader picks a
// word of the text and an edit (block, halve, double, x4: the attention *to* that word multiplied, rows
// renormalised) in every layer, in a layer range or in one head, and sees the output distribution before and after.
// A word picked here is the block's shared token; a head chosen in the head or model view selects that head's
// edit where it was baked.
import { View, h, roving } from "./view.js";
import { step } from "./token-list.js";
import { pngButton } from "./export.js";
import { tokenNode, show } from "./tokens.js";
import { section, factorName, factorLong } from "./interventions.js";

const pct = (p) => (p > 0 && p < 0.0005 ? "<0.1%" : `${(100 * p).toFixed(1)}%`);

export class EditingView extends View {
  static tag = "explorable-editing-view";

  build(p) {
    const { s, L } = section(p), e = s.editing;
    if (!e || !s.output) throw new Error("this payload has no attention edits (interventions.editing)");
    const J = e.keys?.length, F = e.factors?.length, S = e.scopes?.length, K = e.top_k;
    if (!J || !F || !S || !K) throw new Error("the attention edits list no word, factor or scope");
    if (e.keys.some((j) => !(j >= 0 && j < p.tokens.length))) throw new Error("an edited word is not a token of the text");
    const fits = (v, depth) => depth ? Array.isArray(v) && v.length === [S, J, F, K][4 - depth] && v.every((x) => fits(x, depth - 1)) : Number.isFinite(v);
    if (!fits(e.top, 4) || !fits(e.probs, 4)) throw new Error(`attention edits must be ${S} x ${J} x ${F} x ${K} candidates`);
    if (e.top.flat(3).some((i) => !(i >= 0 && i < e.candidates.text.length))) throw new Error("an edit names a candidate that is not listed");
    Object.assign(this, { s, e, L, tokens: p.tokens, J, F, S, K });
    this.state = { key: null, factor: 0, scope: 0 };
    this.setAttribute("role", "group");
    this.setAttribute("aria-label", this.getAttribute("aria-label") || "Attention editing: pick a word and an edit of the attention to it, and compare the output before and after");
    const scopeName = (sc) => sc.head != null ? `layer ${sc.layers[0]}, head ${sc.head}` : sc.layers[0] === 0 && sc.layers[1] === L - 1 ? "every layer" : `layers ${sc.layers[0]}–${sc.layers[1]}`;
    this.scopeNames = e.scopes.map(scopeName);
    this.scopeSel = h("select", { "aria-label": "Where the edit applies", onchange: (ev) => this.set({ scope: +ev.target.value }) },
      ...e.scopes.map((sc, i) => h("option", { value: i }, `in ${this.scopeNames[i]}`)));
    this.factorBtns = roving(e.factors.map((f, i) => h("button", { type: "button", class: "xp-wbtn", "aria-pressed": "false", title: factorLong(f), onclick: () => this.set({ factor: i }) }, factorName(f))), (i) => this.set({ factor: i }));
    const bar = h("div", { class: "xp-bar" }, h("span", { role: "group", "aria-label": "Edit", class: "xp-wfac" }, ...this.factorBtns), this.scopeSel,
      pngButton(this, () => [this.figure, this.caption(), "editing", []]));
    this.words = e.keys.map((j, x) => {
      const n = tokenNode(this.tokens[j]);
      n.dataset.x = x;
      n.setAttribute("role", "option");
      n.tabIndex = x ? -1 : 0;
      return n;
    });
    this.text = h("div", { class: "xp-wtext", role: "listbox", "aria-label": "Pick the word whose incoming attention is edited",
      onclick: (ev) => this.pickWord(ev), onkeydown: (ev) => this.wordKey(ev) }, ...this.words);
    this.before = h("div", { class: "xp-plist", role: "list" });
    this.after = h("div", { class: "xp-plist", role: "list" });
    this.afterHead = h("div", { class: "xp-phead" });
    this.summary = h("p", { class: "xp-wsum", "aria-live": "polite" });
    this.figure = h("div", { class: "xp-wfig" }, this.text,
      h("div", { class: "xp-wcols" },
        h("div", { class: "xp-pcard xp-wcard" }, h("div", { class: "xp-phead" }, "unedited"), this.before),
        h("div", { class: "xp-pcard xp-wcard" }, this.afterHead, this.after)),
      this.summary);
    this.replaceChildren(bar, this.figure, h("p", { class: "xp-hint" },
      "An edit multiplies the attention every query gives the chosen word (block: ×0), then renormalises each query's row to sum to 1; the model's prediction after the text is read again."));
    this.fill(this.before, e.base.top, e.base.probs, e.base.target);
  }

  caption() {
    const st = this.state, e = this.e;
    if (st.key == null) return `Attention editing: the output after “${show(this.tokens[this.s.output.position])}”`;
    return `Attention editing: ${factorLong(e.factors[st.factor]).replace("it", `“${show(this.tokens[e.keys[st.key]])}”`)} in ${this.scopeNames[st.scope]}`;
  }

  /** The top-k rows, the explained token outlined; when it is not among them, a row of its own below. */
  fill(list, top, probs, p) {
    const target = this.s.output.id, c = this.e.candidates;
    const row = (token, prob, chosen) => h("div", { role: "listitem", class: chosen ? "xp-prow xp-chosen" : "xp-prow", style: `--p:${prob.toFixed(4)}` },
      tokenNode(token), h("span", { class: "xp-pp" }, pct(prob)));
    const rows = top.map((i, k) => row({ text: c.text[i], special: c.special.includes(i), partial: c.partial.includes(i) }, probs[k], c.ids[i] === target));
    if (!top.some((i) => c.ids[i] === target)) rows.push(row(this.s.output.token, p, true));
    list.replaceChildren(...rows);
  }

  pickWord(ev) {
    const n = ev.target.closest?.(".xp-tok");
    if (n?.dataset.x == null) return;
    this.choose(+n.dataset.x);
  }

  choose(x) {
    const key = this.state.key === x ? null : x;
    this.set({ key });
    this.tell({ token: key == null ? null : this.e.keys[key] });
  }

  wordKey(ev) {
    const n = ev.target.closest?.(".xp-tok");
    if (n?.dataset.x == null) return;
    const x = +n.dataset.x;
    if (ev.key === "Enter" || ev.key === " ") return ev.preventDefault(), this.choose(x);
    if (ev.key === "Escape") return this.set({ key: null }), this.tell({ token: null });
    const y = step(ev.key, x, this.words.length);
    if (y == null) return;
    ev.preventDefault();
    this.words[x].tabIndex = -1;
    this.words[y].tabIndex = 0;
    this.words[y].focus();
  }

  follow({ token, layer, head }) {
    if (token !== undefined) {
      const x = token == null ? -1 : this.e.keys.indexOf(token);
      this.set({ key: x >= 0 ? x : null });
    }
    if (layer != null && head != null) {
      const i = this.e.scopes.findIndex((sc) => sc.head === head && sc.layers[0] === layer);
      if (i >= 0) this.set({ scope: i });
    }
  }

  draw() {
    const st = this.state, e = this.e, target = this.s.output, base = e.base.target;
    this.scopeSel.value = String(st.scope);
    this.factorBtns.forEach((b, i) => b.setAttribute("aria-pressed", String(i === st.factor)));
    this.words.forEach((n, x) => (n.classList.toggle("xp-on", x === st.key), n.setAttribute("aria-selected", String(x === st.key))));
    const word = `“${show(target.token)}”`;
    if (st.key == null) {
      this.afterHead.textContent = "edited: pick a word above";
      this.after.replaceChildren();
      this.summary.textContent = `p(${word}) unedited: ${pct(base)}. Pick a word to edit the attention to it.`;
      return;
    }
    const [s, j, f] = [st.scope, st.key, st.factor], v = e.target[s][j][f];
    this.afterHead.textContent = `${factorName(e.factors[f])} “${show(this.tokens[e.keys[j]])}”, ${this.scopeNames[s]}`;
    this.fill(this.after, e.top[s][j][f], e.probs[s][j][f], v);
    this.summary.textContent = `p(${word}): ${pct(base)} → ${pct(v)} (${v >= base ? "+" : "−"}${Math.abs(100 * (v - base)).toFixed(1)} pts) with the ${factorLong(e.factors[f]).replace("it", `“${show(this.tokens[e.keys[j]])}”`)} in ${this.scopeNames[s]}.`;
  }
}
