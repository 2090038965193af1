// Base of views showing tokens as running text (saliency, factors; later rankings, predictions, comparisons): one
// roving tab stop (arrows, Home, End); hover, focus or tap shows a token; click, tap, Enter or Space pins it (again,
// or Escape, releases); a line break after a newline token; the pinned token shared with linked views. A subclass
// gives the tokens (tokenNodes, listbox, lines) and shades each (shade(node, index, frame), via shadeTokens).
import { View, h } from "./view.js";
import { tokenNode } from "./tokens.js";

const STEPS = { ArrowLeft: -1, ArrowUp: -1, ArrowRight: 1, ArrowDown: 1 };

/** Where a key moves the tab stop in a row of n tokens from index i: an index, or null (other key, or an end). */
export function step(key, i, n) {
  const j = key in STEPS ? i + STEPS[key] : key === "Home" ? 0 : key === "End" ? n - 1 : null;
  return j != null && j >= 0 && j < n ? j : null;
}

/** Index of the token node an event happened on (data-i), or null. */
const indexOf = (e) => {
  const node = e.target.closest?.(".xp-tok");
  return node && node.dataset.i != null ? +node.dataset.i : null;
};

export class TokenListView extends View {
  /** null: the tokens are the payload's; else each token's index among the payload's (-1: none, never shared). */
  map = null;

  /** Build this.nodes for `tokens`: options of a listbox, data-i = index, the tab stop on token `first`. */
  tokenNodes(tokens, first = 0) {
    this.tokens = tokens;
    this.nodes = tokens.map((t, i) => {
      const node = tokenNode(t);
      node.setAttribute("role", "option");
      node.tabIndex = i === first ? 0 : -1;
      node.dataset.i = i;
      return node;
    });
  }

  /** Token nodes from..to, with a line break after each token that holds a newline. */
  lines(from = 0, to = this.nodes.length) {
    return this.nodes.slice(from, to).flatMap((n, i) => (/\n/.test(this.tokens[from + i].text) ? [n, h("span", { class: "xp-nl" })] : [n]));
  }

  /** The listbox element around the tokens (`kids`), listening for pointer, focus and keys. */
  listbox(attrs, ...kids) {
    const point = (e) => {
      const i = indexOf(e);
      if (i != null) this.hover(i);
    };
    return h("div", { role: "listbox", ...attrs, onpointerover: point, onfocusin: point, onpointerleave: () => this.hover(null),
      onfocusout: (e) => !e.currentTarget.contains(e.relatedTarget) && this.hover(null),
      onclick: (e) => {
        const i = indexOf(e);
        if (i != null) this.tap(i);
      },
      onkeydown: (e) => this.key(e) }, ...kids);
  }

  /** Keys on a token: Enter / Space tap it, Escape releases, arrows / Home / End move the tab stop and focus. */
  key(e) {
    const i = indexOf(e);
    if (i == null) return;
    if (e.key === "Enter" || e.key === " ") return e.preventDefault(), this.tap(i);
    if (e.key === "Escape") return this.release();
    const shown = this.nodes.filter((n) => !n.hidden), j = step(e.key, shown.indexOf(this.nodes[i]), shown.length);
    if (j == null) return;
    e.preventDefault();
    this.nodes[i].tabIndex = -1;
    shown[j].tabIndex = 0;
    shown[j].focus();
  }

  /** Shade every token node through the subclass's shade(node, index, frame); special ones hidden if state.hideSpecial. */
  shadeTokens(frame) {
    this.nodes.forEach((node, i) => {
      node.hidden = !!this.state.hideSpecial && !!this.tokens[i].special;
      this.shade(node, i, frame);
    });
    const stop = this.nodes.find((n) => n.tabIndex === 0), first = this.nodes.find((n) => !n.hidden);
    if (stop?.hidden && first) (stop.tabIndex = -1), (first.tabIndex = 0);
  }

  // Reactions a subclass may override.
  /** Pointer or focus on token i (null: left the tokens). */
  hover(i) {
    this.set({ hover: i });
  }

  /** Click, tap, Enter or Space on token i. */
  tap(i) {
    this.pin(this.state.pinned === i ? null : i);
  }

  /** Escape. */
  release() {
    this.pin(null);
  }

  /** The reader pins token i (null releases): shown here, and shared with the linked views. */
  pin(i) {
    this.showPinned(i);
    this.shareToken(i);
  }

  /** Linked views learn that token i (null: none) is chosen. */
  shareToken(i) {
    const t = i == null || !this.map ? i : this.map[i];
    if (t == null || t >= 0) this.tell({ token: t });
  }

  /** Show token i (or none) as the pinned one. */
  showPinned(i) {
    this.set({ pinned: i });
  }

  follow({ token: t, hideSpecial }) {
    if (hideSpecial != null) this.set({ hideSpecial });
    const i = t == null || !this.map ? t : this.map.indexOf(t);
    if (i === null || (i >= 0 && i < this.nodes.length)) this.showPinned(i);
  }
}
