// <explorable-saliency-view>: input saliency (payload section "saliency", see ARCHITECTURE.md).
// Causal: the prompt then the generated text; the chosen output token (hover, focus or tap a generated token; a
// click pins it) shades every token before it by its share of the output's saliency.
// Similarity: both sentences, every token shaded by its share of the saliency of their cosine similarity.
import { View, h, roveTokens } from "./view.js";
import { array } from "./payload.js";
import { pngButton } from "./export.js";
import { tokenNode, show } from "./tokens.js";
import { METHODS, pct, num, top, peak, check, checkShape, completeness } from "./saliency.js";

class SaliencyView extends View {
  async build(p) {
    const c = check(p), s = p.saliency;
    Object.assign(this, c, { s, N: c.tokens.length, out: 0, pin: null, hov: null, pick: null });
    this.ms = [];
    for (const [key, label, name] of METHODS) {
      if (!s.methods[key]) continue;
      const { shape, values } = await array(s.methods[key]);
      checkShape(c, shape);
      this.ms.push({ key, label, name, v: values });
    }
    this.mi = 0;
    const causal = this.kind === "causal";
    this.setAttribute("role", "group");
    this.setAttribute("aria-label", this.getAttribute("aria-label") || (causal
      ? "Input saliency: choose a generated token to shade the tokens before it by how much they drove it"
      : "Input saliency of a sentence pair's similarity: every token shaded by its share"));

    this.btns = this.ms.map((m, i) => h("button", { type: "button", role: "radio", class: "xp-btn xp-mbtn", "data-m": i }, m.label));
    const group = h("span", { class: "xp-heads", role: "radiogroup", "aria-label": "Saliency method",
      onclick: (e) => e.target.dataset.m && this.set({ mi: +e.target.dataset.m }), onkeydown: (e) => this.methodKey(e) }, ...this.btns);
    this.info = h("span", { class: "xp-hint" });
    this.max = h("span");
    const legend = h("span", { class: "xp-hint", title: "share of the saliency; the strongest token is shaded fully" },
      "0 ", h("span", { class: "xp-ramp xp-sramp", "aria-hidden": "true" }), " ", this.max);
    this.nodes = this.tokens.map((t, i) => {
      const n = tokenNode(t);
      n.setAttribute("role", "option");
      n.tabIndex = (causal ? i === this.n0 : !i) ? 0 : -1;
      n.dataset.i = i;
      return n;
    });
    const list = { role: "listbox", onpointerover: (e) => this.point(e), onpointerleave: () => this.set({ hov: null }),
      onclick: (e) => this.tap(e), onkeydown: (e) => this.tokKey(e), onfocusin: (e) => this.point(e),
      onfocusout: (e) => !e.currentTarget.contains(e.relatedTarget) && this.set({ hov: null }) };
    const flow = (from, to) => this.nodes.slice(from, to).flatMap((n, i) => (/\n/.test(this.tokens[from + i].text) ? [n, h("span", { class: "xp-sbr" })] : [n]));
    const text = causal
      ? h("div", { class: "xp-sv", "aria-label": "Prompt and generated tokens", ...list }, ...flow(0, this.N))
      : h("div", { ...list, "aria-label": "The two sentences, each read on its own" },
        h("div", { class: "xp-sv" }, h("span", { class: "xp-slabel" }, "A"), ...flow(0, this.n0)),
        h("div", { class: "xp-sv" }, h("span", { class: "xp-slabel" }, "B"), ...flow(this.n0, this.N)));
    this.out_ = h("div", { class: "xp-readout", "aria-live": "polite" });
    this.note = h("p", { class: "xp-note" });
    this.replaceChildren(h("div", { class: "xp-bar" }, group, legend, this.info, pngButton(this, () => [this, "", "saliency"])),
      text, this.out_, this.note);
  }

  set(s) {
    Object.assign(this, s);
    this.redraw();
  }

  /** The scores of the current method for the current output: [row, number of inputs]. */
  row() {
    const { v } = this.ms[this.mi];
    if (this.kind !== "causal") return [v, this.N];
    return [v.subarray(this.out * this.N, (this.out + 1) * this.N), this.n0 + this.out];
  }

  idx(e) {
    const t = e.target.closest?.(".xp-tok");
    return t && t.dataset.i != null ? +t.dataset.i : null;
  }

  point(e) {
    const i = this.idx(e);
    if (i == null) return;
    const g = i - this.n0, free = this.kind === "causal" && this.pin == null && g >= 0;
    this.set(free ? { hov: i, out: g } : { hov: i });
  }

  /** Click, tap or Enter. Causal: on a generated token at or after the output, pin it (or release it); on an earlier
   * token, keep its share in the readout (touch has no hover). Similarity: keep a token's share in the readout. */
  tap(e) {
    const i = this.idx(e);
    if (i == null) return;
    const g = i - this.n0, at = this.n0 + this.out;
    if (this.kind !== "causal" || i < at) return this.set({ pick: this.pick === i ? null : i });
    if (g >= 0) this.set(this.pin === g ? { pin: null } : { pin: g, out: g, pick: null });
  }

  tokKey(e) {
    const i = this.idx(e);
    if (i == null) return;
    if (e.key === "Enter" || e.key === " ") return e.preventDefault(), this.tap(e);
    if (e.key === "Escape") return this.set({ pin: null, pick: null });
    if (roveTokens(e.key, this.nodes, i)) e.preventDefault();
  }

  methodKey(e) {
    const n = this.ms.length, d = { ArrowLeft: -1, ArrowUp: -1, ArrowRight: 1, ArrowDown: 1 }[e.key];
    if (!d) return;
    e.preventDefault();
    this.set({ mi: (this.mi + d + n) % n });
    this.btns[this.mi].focus();
  }

  draw() {
    const causal = this.kind === "causal", [r, n] = this.row(), m = peak(r, n), at = causal ? this.n0 + this.out : -1;
    this.nodes.forEach((node, i) => {
      const w = i < n ? r[i] : 0;
      node.style.setProperty("--w", m > 0 ? (w / m).toFixed(3) : 0);
      node.classList.toggle("xp-out", i === at);
      node.classList.toggle("xp-after", causal && i > at);
      node.setAttribute("aria-selected", causal ? i === at : i === this.pick);
      node.classList.toggle("xp-on", i === this.pick);
      node.title = i < n ? `${pct(w)} of the saliency` : i === at ? "the output token being explained" : "after the output token: not an input";
    });
    this.btns.forEach((b, i) => (b.setAttribute("aria-checked", i === this.mi), (b.tabIndex = i === this.mi ? 0 : -1)));
    this.max.textContent = pct(m);
    const s = this.s, g = this.out, T = (i) => `“${show(this.tokens[i])}”`;
    const list = top(r, n, 3).map((i) => `${T(i)} ${pct(r[i])}`).join(", ");
    const k = this.hov ?? this.pick, lines = [];
    if (causal) {
      this.info.textContent = `score: the ${s.target} of the chosen token`;
      if (k != null && k < n) lines.push(`${T(k)} → ${T(at)}: ${pct(r[k])}`);
      lines.push(`${T(at)} (${this.pin === g ? "pinned, " : ""}generated token ${g + 1} of ${this.G}) · ${s.target} ${num(s.target_values?.[g])} · top: ${list}`);
    } else {
      const a = r.subarray(0, this.n0).reduce((x, y) => x + y, 0);
      this.info.textContent = `cosine similarity ${num(s.similarity)}`;
      if (k != null) lines.push(`${T(k)} (sentence ${k < this.n0 ? "A" : "B"}): ${pct(r[k])}`);
      lines.push(`sentence A ${pct(a)}, B ${pct(1 - a)} · top: ${list}`);
    }
    this.out_.replaceChildren(...lines.map((t) => h("span", { class: "xp-sro" }, t)));
    const ig = this.ms[this.mi].key === "integrated_gradients";
    const c = ig && (causal
      ? completeness(s.ig_attribution_sums?.[g], s.target_values?.[g], s.ig_baseline_values?.[g], s.ig_gap?.[g])
      : completeness(s.ig_attribution_sum, s.similarity, s.ig_baseline_value, s.ig_gap));
    this.note.classList.toggle("xp-warn", !!c && c.bad);
    this.note.textContent = c
      ? `${c.text}${c.bad ? ". The shares do not add up to the change they should explain: read them with care." : "."}` +
        ` Baseline: ${s.ig_baseline_text || "all-zero token embeddings"}; ${s.ig_steps} steps.`
      : `${this.ms[this.mi].name}: each token's share is the length of its vector${this.ms[this.mi].key === "gradient_norm" ? " of gradients" : " of attributions"}, divided by the sum over all ${causal ? "earlier tokens" : "tokens of both sentences"}.`;
  }
}

customElements.get("explorable-saliency-view") || customElements.define("explorable-saliency-view", SaliencyView);
