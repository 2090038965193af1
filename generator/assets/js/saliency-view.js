// <explorable-saliency-view>: input saliency (payload section "saliency", see ARCHITECTURE.md).
// Causal: the prompt then the generated text; the chosen output token (hover, focus or tap a generated token; a
// click pins it) shades every token before it by its share of the output's saliency.
// Similarity: both sentences, every token shaded by its share of the saliency of their cosine similarity.
import { h, roving } from "./view.js";
import { TokenListView } from "./token-list.js";
import { array } from "./payload.js";
import { pngButton } from "./export.js";
import { show } from "./tokens.js";
import { METHODS, pct, num, top, peak, place, pairMap, check, checkShape, completeness } from "./saliency.js";

export class SaliencyView extends TokenListView {
  static tag = "explorable-saliency-view";

  async build(p) {
    const c = check(p), section = p.saliency, causal = c.kind === "causal";
    this.section = section;
    this.causal = causal;
    if (!causal) this.map = pairMap(p.tokens, section.tokens_a, section.tokens_b); // each sentence read on its own
    this.split = c.split; // the first generated token (causal) or sentence B's first token (similarity)
    this.outputs = c.outputs;
    this.methods = [];
    for (const [key, label, name] of METHODS) {
      if (!section.methods[key]) continue;
      const { shape, values } = await array(section.methods[key]);
      checkShape(c, shape);
      this.methods.push({ key, label, name, scores: values });
    }
    // method: index into this.methods; output: which generated token is explained (0 = the first);
    // hover, pinned (a generated token), picked (a token whose share stays in the readout): token indices or null
    this.state = { method: 0, output: 0, hover: null, pinned: null, picked: null };
    this.setAttribute("role", "group");
    this.setAttribute("aria-label", this.getAttribute("aria-label") || (causal
      ? "Input saliency: choose a generated token to shade the tokens before it by how much they drove it"
      : "Input saliency of a sentence pair's similarity: every token shaded by its share"));

    this.methodButtons = this.methods.map((m, i) => h("button", { type: "button", role: "radio", class: "xp-btn xp-mbtn", "data-m": i }, m.label));
    const group = h("span", { class: "xp-heads", role: "radiogroup", "aria-label": "Saliency method",
      onclick: (e) => e.target.dataset.m && this.set({ method: +e.target.dataset.m }) }, ...roving(this.methodButtons, (method) => this.set({ method })));
    this.info = h("div", { class: "xp-hint" });
    this.peakText = h("span");
    const legend = h("span", { class: "xp-hint", title: "share of the saliency; the strongest token is shaded fully" },
      "0 ", h("span", { class: "xp-ramp xp-sramp", "aria-hidden": "true" }), " ", this.peakText);
    this.tokenNodes(c.tokens, causal ? this.split : 0);
    const n = this.nodes.length, a = this.split;
    const text = causal
      ? this.listbox({ class: "xp-flow xp-sv", "aria-label": "Prompt and generated tokens" }, ...this.lines())
      : this.listbox({ "aria-label": "The two sentences, each read on its own" },
        h("div", { class: "xp-flow xp-sv" }, h("span", { class: "xp-slabel" }, "A"), ...this.lines(0, a)),
        h("div", { class: "xp-flow xp-sv" }, h("span", { class: "xp-slabel" }, "B"), ...this.lines(a, n)));
    this.readout = h("div", { class: "xp-readout", "aria-live": "polite" });
    this.note = h("p", { class: "xp-note" });
    this.replaceChildren(h("div", { class: "xp-bar" }, group, legend, pngButton(this, () => [this, this.caption(), "saliency"])),
      this.info, text, this.readout, this.note);
  }

  /** What the figure shows, for the PNG's caption. */
  caption() {
    const { method, output } = this.state, name = this.methods[method].name;
    return this.causal ? `Input saliency (${name}) of “${show(this.tokens[this.split + output])}”, generated token ${output + 1} of ${this.outputs}`
      : `Input saliency (${name}) of the two sentences' cosine similarity`;
  }

  /** The scores of the current method for the current output: [scores, number of scored inputs]. */
  scores() {
    const { scores } = this.methods[this.state.method], n = this.nodes.length;
    if (!this.causal) return [scores, n];
    const g = this.state.output;
    return [scores.subarray(g * n, (g + 1) * n), this.split + g];
  }

  /** Hovering a generated token explains it, unless an output is pinned. */
  hover(i) {
    const g = i == null ? -1 : i - this.split;
    this.set(this.causal && this.state.pinned == null && g >= 0 ? { hover: i, output: g } : { hover: i });
  }

  /** Causal: on a generated token at or after the output, pin it (or release it). Otherwise keep the token's share in
   * the readout (touch has no hover). Either is shared with the linked views. */
  tap(i) {
    const { output, pinned, picked } = this.state;
    if (this.causal && i >= this.split + output) return this.pin(pinned === i ? null : i);
    this.set({ picked: picked === i ? null : i });
    this.shareToken(this.state.picked);
  }

  /** A token chosen in a linked view: a generated one becomes the pinned output, another keeps its share shown. */
  showPinned(i) {
    if (i == null) this.set({ pinned: null, picked: null });
    else if (this.causal && i >= this.split) this.set({ pinned: i, output: i - this.split, picked: null });
    else this.set({ picked: i });
  }

  shade(node, i, { scores, scored, peak, at }) {
    const w = i < scored ? scores[i] : 0, picked = this.state.picked;
    node.style.setProperty("--w", peak > 0 ? (w / peak).toFixed(3) : 0);
    node.classList.toggle("xp-out", i === at);
    node.classList.toggle("xp-after", this.causal && i > at);
    node.setAttribute("aria-selected", this.causal ? i === at : i === picked);
    node.classList.toggle("xp-on", i === picked);
    node.title = i < scored ? `${pct(w)} of the saliency` : i === at ? "the output token being explained" : "after the output token: not an input";
  }

  draw() {
    const causal = this.causal, { method, output: g, hover, picked, pinned } = this.state, a = this.split;
    const [scores, scored] = this.scores(), strongest = peak(scores, scored), at = causal ? a + g : -1;
    this.shadeTokens({ scores, scored, peak: strongest, at });
    this.methodButtons.forEach((b, i) => (b.setAttribute("aria-checked", i === method), (b.tabIndex = i === method ? 0 : -1)));
    this.peakText.textContent = pct(strongest);
    const s = this.section, T = (i) => `“${show(this.tokens[i])}”`;
    const list = top(scores, scored, 3).map((i) => `${T(i)} ${pct(scores[i])} (${place(i, a, causal)})`).join(", ");
    const k = hover ?? picked, lines = [];
    if (causal) {
      this.info.textContent = `score: the ${s.target} of the chosen token`;
      if (k != null && k < scored) lines.push(`${T(k)} → ${T(at)}: ${pct(scores[k])}`);
      lines.push(`${T(at)} (${pinned === at ? "pinned, " : ""}generated token ${g + 1} of ${this.outputs}) · ${s.target} ${num(s.target_values?.[g])} · top: ${list}`);
    } else {
      const shareA = scores.subarray(0, a).reduce((x, y) => x + y, 0);
      this.info.textContent = `cosine similarity ${num(s.similarity)}`;
      if (k != null) lines.push(`${T(k)} (sentence ${k < a ? "A" : "B"}): ${pct(scores[k])}`);
      lines.push(`sentence A ${pct(shareA)}, B ${pct(1 - shareA)} · top: ${list}`);
    }
    this.readout.replaceChildren(...lines.map((t) => h("span", { class: "xp-sro" }, t)));
    const { key, name } = this.methods[method], ig = key === "integrated_gradients";
    const c = ig && (causal
      ? completeness(s.ig_attribution_sums?.[g], s.target_values?.[g], s.ig_baseline_values?.[g], s.ig_gap?.[g])
      : completeness(s.ig_attribution_sum, s.similarity, s.ig_baseline_value, s.ig_gap));
    this.note.classList.toggle("xp-warn", !!c && c.bad);
    this.note.textContent = c
      ? `${c.text}${c.bad ? ". The shares do not add up to the change they should explain: read them with care." : "."}` +
        ` Baseline: ${s.ig_baseline_text || "all-zero token embeddings"}; ${s.ig_steps} steps.`
      : key === "occlusion" ? "occlusion: each token's share is how much the similarity moves when [MASK] takes its place (its sentence read alone), divided by the sum over all tokens of both sentences."
      : `${name}: each token's share is the length of its vector${key === "gradient_norm" ? " of gradients" : " of attributions"}, divided by the sum over all ${causal ? "earlier tokens" : "tokens of both sentences"}.`;
  }
}
