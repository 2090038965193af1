// <explorable-contrast-view>: what would change the answer (payload section "counterfactuals", ARCHITECTURE.md).
// The original input above one other version (an author's contrast, the smallest edit found, the adversarial edit),
// aligned word by word, changed words outlined, every token shaded by its share of the explained output's saliency
// in its own version; the explained output before and after; for a search, its steps to walk through.
import { View, h, roving } from "./view.js";
import { tokenNode, show } from "./tokens.js";
import { pngButton } from "./export.js";
import { num } from "./saliency.js";
import { check, chunks, edited, sameLengthOps, words, peak, pc } from "./counterfactuals.js";

export class ContrastView extends View {
  static tag = "explorable-contrast-view";

  build(p) {
    const c = check(p);
    this.c = c;
    this.originalWords = words(c.original.tokens);
    // version: index into c.versions; step: null (the search's result) or the index of a search step shown
    this.state = { version: 0, step: null, pinned: null };
    this.setAttribute("role", "group");
    this.setAttribute("aria-label", this.getAttribute("aria-label") || "What would change the answer: the input beside another version of it");
    if (!c.versions.length) {
      this.replaceChildren(h("p", { class: "xp-note" }, "This explorable has no contrast and no edit search: add 'contrasts' or 'searches' under 'counterfactuals'."),
        ...selfPanel(c.section));
      this.empty = true;
      return;
    }
    this.versionButtons = c.versions.map((v, i) => h("button", { type: "button", role: "radio", class: "xp-btn xp-mbtn", "data-v": i }, v.label));
    const group = h("span", { class: "xp-heads", role: "radiogroup", "aria-label": "Version shown",
      onclick: (e) => e.target.dataset.v && this.set({ version: +e.target.dataset.v, step: null }) },
    ...roving(this.versionButtons, (version) => this.set({ version, step: null })));
    this.explained = h("div", { class: "xp-hint" });
    this.peakText = h("span");
    const legend = h("span", { class: "xp-hint" }, "saliency 0 ", h("span", { class: "xp-ramp xp-sramp", "aria-hidden": "true" }), " ", this.peakText,
      "  ", h("span", { class: "xp-tok xp-chg" }, "changed"), " word");
    this.aligned = h("div", { class: "xp-align", role: "img" });
    this.bars = h("div", { class: "xp-cbars" });
    this.steps = h("div", { class: "xp-steps" });
    this.readout = h("div", { class: "xp-readout", "aria-live": "polite" });
    this.note = h("p", { class: "xp-note" });
    this.figure = h("div", { class: "xp-cfig" }, this.explained, this.aligned, this.bars);
    this.replaceChildren(h("div", { class: "xp-bar" }, group, legend, pngButton(this, () => [this.figure, this.caption(), "contrast", this.keys()])),
      this.figure, this.steps, this.readout, this.note, ...selfPanel(c.section));
  }

  caption() {
    const v = this.c.versions[this.state.version], step = this.state.step;
    return `Original (top) and ${v.label}${step != null ? `, search step ${step + 1}` : ""} (bottom), shaded by gradient × input`;
  }

  keys() {
    return ["saliency 0 ", { fill: "linear-gradient(90deg, transparent, " + getComputedStyle(this).getPropertyValue("--xp-heat") + ")", w: 40 }, " strongest   ",
      { fill: getComputedStyle(this).getPropertyValue("--xp-chg") || "#e0823d", w: 10 }, " changed word"];
  }

  /** The bottom row now shown: {tokens, saliency (or null), align, result fields}. */
  shown() {
    const v = this.c.versions[this.state.version], step = this.state.step;
    if (step != null && v.search) {
      const s = v.search.steps[step], tokens = edited(this.c.original.tokens, s.edit);
      return { tokens, saliency: null, align: sameLengthOps(tokens, new Set(s.edit.map((e) => e[0]))), step: s };
    }
    if (!v.record) return null;
    return { tokens: v.record.tokens, saliency: v.record.saliency, align: v.record.align, record: v.record };
  }

  row(tokens, saliency, indices, top, max, changed) {
    return indices.map((i) => {
      const t = tokens[i], node = tokenNode(t), w = saliency ? saliency[i] || 0 : 0;
      node.style.setProperty("--w", max > 0 ? (w / max).toFixed(3) : 0);
      node.classList.toggle("xp-chg", !!changed && !t.special);
      node.classList.toggle("xp-on", top && this.state.pinned === i);
      node.title = (saliency ? `${pc(w)} of the saliency` : "saliency not computed for a search step") + (t.edited ? " · edited" : "");
      if (top) node.dataset.i = i;
      return node;
    });
  }

  draw() {
    if (this.empty) return;
    const c = this.c, o = c.original, { version } = this.state, v = c.versions[version], shown = this.shown();
    this.versionButtons.forEach((b, i) => (b.setAttribute("aria-checked", i === version), (b.tabIndex = i === version ? 0 : -1)));
    const y = c.section.explained;
    this.explained.textContent = c.causal
      ? `explained output: “${show(y.token)}” (generated token ${y.output + 1}), p = ${pc(o.prob)} in the original`
      : `explained output: the cosine similarity of the two sentences, ${num(o.score)} in the original; an edit changes the answer below ${num(y.threshold)}`;
    this.explained.textContent += ` · top line: the original; below it: ${v.label}${this.state.step != null ? `, step ${this.state.step + 1}` : ""}`;
    const max = Math.max(peak(o.saliency), shown?.saliency ? peak(shown.saliency) : 0);
    this.peakText.textContent = pc(max);
    if (!shown) {
      this.aligned.replaceChildren(h("p", { class: "xp-hint" }, `No edit within the budget of ${v.search.budget} forward passes changed the answer: ${v.search.forwards} edits verified over ${v.search.positions.length} positions.`));
    } else {
      const parts = chunks(shown.align.ops, this.originalWords, shown.align.words);
      this.aligned.replaceChildren(...parts.map((k) => h("span", { class: "xp-chunk" + (k.changed ? " xp-changed" : "") },
        h("span", { class: "xp-crow" }, ...this.row(o.tokens, o.saliency, k.top, true, max, k.changed)),
        h("span", { class: "xp-crow" }, ...this.row(shown.tokens, shown.saliency, k.bottom, false, max, k.changed)))));
      this.aligned.setAttribute("aria-label", `Original: ${o.tokens.map(show).join("")}. ${v.label}: ${shown.tokens.map(show).join("")}`);
    }
    this.bars.replaceChildren(...this.outputs(o, shown));
    this.drawSteps(v);
    this.drawNote(v, shown);
  }

  /** Output bars before (the original) and after (the version or step). */
  outputs(o, shown) {
    const c = this.c, y = c.section.explained;
    if (!c.causal) {
      const after = shown ? (shown.record ? shown.record.score : shown.step.score) : null;
      const bar = (label, value) => h("div", { class: "xp-cb" }, h("span", { class: "xp-cbl" }, label),
        h("span", { class: "xp-cbt", title: "cosine similarity; the mark is the threshold" }, h("span", { class: "xp-cbf", style: `--w:${Math.max(0, value ?? 0).toFixed(4)}` }),
          h("span", { class: "xp-cbm", style: `--w:${Math.max(0, y.threshold).toFixed(4)}` })), h("span", { class: "xp-cbv" }, num(value)));
      return [h("div", { class: "xp-cout" }, h("b", {}, "similarity"), bar("original", o.score), bar(this.c.versions[this.state.version].label.split(" ")[0], after))];
    }
    const list = (title, top, prob) => {
      const items = (top || []).map((t) => [t.text, t.p, t.id === y.id]);
      if (prob != null && !items.some((t) => t[2])) items.push([y.token.text, prob, true]);
      return h("div", { class: "xp-cout" }, h("b", {}, title), ...items.map(([text, p, mine]) => h("div", { class: "xp-cb" + (mine ? " xp-y" : "") },
        h("span", { class: "xp-cbl" }, show({ text })), h("span", { class: "xp-cbt" }, h("span", { class: "xp-cbf", style: `--w:${(p || 0).toFixed(4)}` })),
        h("span", { class: "xp-cbv" }, pc(p)))));
    };
    const after = shown ? (shown.record ? [shown.record.top, shown.record.prob] : [shown.step.top, shown.step.prob]) : [null, null];
    return [list("next token, original", o.top, o.prob), list(shown?.step ? "this step (top-1 and the explained token)" : "next token, this version", ...after)];
  }

  /** The search's steps as one row of radio buttons (built when the version changes, so focus stays put). */
  drawSteps(v) {
    if (this.stepsOf !== v) {
      this.stepsOf = v;
      this.stepButtons = [];
      if (!v.search || !v.search.steps.length) return this.steps.replaceChildren();
      this.stepButtons = [h("button", { type: "button", role: "radio", class: "xp-btn xp-mbtn" }, "result"),
        ...v.search.steps.map((t, i) => h("button", { type: "button", role: "radio", class: "xp-btn xp-mbtn", title: `${t.tried} edits verified, ${t.flips} changed the answer` },
          `${i + 1}: k = ${t.k} ${t.flips ? "✓" : "✗"}`))];
      const pick = (i) => this.set({ step: i === 0 ? null : i - 1 });
      this.stepButtons.forEach((b, i) => (b.onclick = () => pick(i)));
      this.steps.replaceChildren(h("span", { class: "xp-hint" }, "search steps (k: positions it may edit)"),
        h("span", { class: "xp-heads", role: "radiogroup", "aria-label": "Search step" }, ...roving(this.stepButtons, pick)));
    }
    const at = this.state.step == null ? 0 : this.state.step + 1;
    this.stepButtons.forEach((b, i) => (b.setAttribute("aria-checked", i === at), (b.tabIndex = i === at ? 0 : -1)));
  }

  drawNote(v, shown) {
    const c = this.c, lines = [];
    if (shown?.step) {
      const t = shown.step;
      lines.push(`step: the first ${t.k} ranked positions, ${t.tried} edits verified, ${t.flips} changed the answer; shown: the ${t.flipped ? "smallest that did" : "one that came closest"} (first-order estimate ${num(t.estimate)}, score ${num(t.score)})`);
    } else if (shown?.record) {
      const r = shown.record;
      lines.push(r.flipped ? "The answer changes in this version." : "The answer stays the same in this version.");
      if (r.edit) lines.push(`${r.edit.length} word${r.edit.length > 1 ? "s" : ""} changed: ${r.edit.map(([, a, b]) => `“${show({ text: a })}” → “${show({ text: b })}”`).join(", ")}.`);
      if (r.retokenizes === false) lines.push("Read again from its text, the edited version tokenises differently: the flip holds for these tokens.");
    }
    if (v.search) {
      const s = v.search, e = s.estimates;
      lines.push(`${v.key === "adversarial" ? "Adversarial: only the least salient half of the words may change" : "Positions ranked by gradient × input"}; ${s.forwards} of ${s.budget} verifying forward passes used.` +
        (e && e.pearson != null ? ` First-order estimate vs actual change: Pearson ${num(e.pearson)} over ${e.n} edits.` : ""));
    }
    this.note.textContent = lines.join(" ");
    this.readout.textContent = shown?.record && c.causal ? `top-1 now “${show(shown.record.top[0])}”, p(“${show(c.section.explained.token)}”) ${pc(c.original.prob)} → ${pc(shown.record.prob)}` : "";
  }

  follow({ token }) {
    if (token === undefined || this.empty) return;
    this.set({ pinned: token != null && token < this.c.original.tokens.length ? token : null });
  }

  start() {
    this.onclick = (e) => {
      const node = e.target.closest?.(".xp-crow .xp-tok[data-i]");
      if (!node) return;
      const i = +node.dataset.i, pinned = this.state.pinned === i ? null : i;
      this.set({ pinned });
      this.tell({ token: pinned });
    };
  }
}

/** The model's own explanation and its deletion test (section.self_explanation), or nothing. Every text the model
 * or the spec wrote goes in as text (DOM text nodes), never as HTML. */
function selfPanel(section) {
  const se = section.self_explanation;
  if (!se) return [];
  const y = show(section.explained.token);
  const quote = h("blockquote", { class: "xp-self-text" }, se.explanation || "(an empty answer)");
  const asked = h("p", { class: "xp-hint" }, `Asked in its chat template: “${se.messages[2].content}” (greedy, ${se.tokens} new tokens${se.ended ? "" : ", cut at the limit"}):`);
  const out = [h("h4", { class: "xp-self-h" }, "Its own explanation"), asked, quote];
  if (!se.deleted) {
    out.push(h("p", { class: "xp-note" }, "The explanation names no word of the text (other than words of the question), so there is nothing to delete."));
    return [h("section", { class: "xp-self", "aria-label": "The model's own explanation, tested" }, ...out)];
  }
  const d = se.deleted, r = d.random.drop;
  const widest = Math.max(1e-9, Math.abs(d.cited.drop), Math.abs(d.saliency.drop), Math.abs(r.max), Math.abs(r.min));
  const bar = (label, value, lo, hi) => h("div", { class: "xp-self-row" },
    h("span", { class: "xp-self-label" }, label),
    h("span", { class: "xp-self-track", "aria-hidden": "true" },
      lo != null ? h("span", { class: "xp-self-range", style: `left:${50 + 50 * lo / widest}%;width:${50 * (hi - lo) / widest}%` }) : "",
      h("span", { class: "xp-self-val", style: `left:${50 + 50 * Math.min(0, value) / widest}%;width:${50 * Math.abs(value) / widest}%` })),
    h("span", { class: "xp-self-num" }, `${value >= 0 ? "−" : "+"}${pc(Math.abs(value))}`));
  out.push(h("p", { class: "xp-hint" }, `Words of the text it cites: ${se.cited.map((w) => `“${w}”`).join(", ")} (${se.occurrences} in the text). Deleting them (each token replaced by the neutral token) against deleting as many words at random (${se.draws} seeded draws) or the most salient ones; p(“${y}”) is ${pc(se.prob)} with nothing deleted:`),
    h("div", { class: "xp-self-bars", role: "img", "aria-label": `drop of p(${y}) by deletion` },
      bar(`its words (${d.cited.tokens} token${d.cited.tokens === 1 ? "" : "s"})`, d.cited.drop),
      bar(`top saliency: ${d.saliency.words.join(", ")}`, d.saliency.drop),
      bar(`random, median (range)`, r.median, r.min, r.max)),
    h("p", { class: "xp-note" }, `${se.random_at_least} of ${se.draws} random draws lowered p(“${y}”) at least as much as the words it cites. Few such draws would mean its words matter more than chance; a match can still be an accident of wording (read its words above).`));
  return [h("section", { class: "xp-self", "aria-label": "The model's own explanation, tested" }, ...out)];
}
