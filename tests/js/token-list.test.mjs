// The token-list base (token-list.js): keyboard moves of the tab stop, pin / release, line breaks, and the pinned
// token shared through the container's selection; the saliency view's mapping of a shared token.
import { test } from "node:test";
import assert from "node:assert/strict";

/** A fake document: elements with the few members the views touch. */
class El {
  constructor(tag) { Object.assign(this, { tagName: tag, children: [], attrs: {}, dataset: {}, className: "", tabIndex: -1, focused: 0 }); }
  setAttribute(k, v) { this.attrs[k] = String(v); }
  appendChild(n) { this.children.push(n); return n; }
  append(...ns) { this.children.push(...ns); }
  addEventListener() {}
  focus() { this.focused++; }
  closest() { return this.tagName === "span" && this.dataset.i != null ? this : null; }
}
globalThis.document = { createElement: (t) => new El(t), createTextNode: (s) => ({ nodeType: 3, data: s }) };

const { step, TokenListView } = await import("../../generator/assets/js/token-list.js");
const { SaliencyView } = await import("../../generator/assets/js/saliency-view.js");
const { createSelection } = await import("../../generator/assets/js/selection.js");

const tokens = (...texts) => texts.map((text) => ({ text }));

function listView(Class = TokenListView, texts = ["a", " b", "\n", "c", " d"]) {
  const v = new Class();
  v.selection = createSelection();
  v.shared = [];
  v.selection.subscribe((patch) => v.shared.push(patch));
  v.tokenNodes(tokens(...texts));
  return v;
}

/** A key event on token i: records whether the default was prevented. */
function press(v, key, i) {
  const e = { key, target: v.nodes[i], prevented: false, preventDefault() { this.prevented = true; } };
  v.key(e);
  return e.prevented;
}

const stop = (v) => v.nodes.findIndex((n) => n.tabIndex === 0);

test("step: arrows move by one, Home / End jump, nothing past the ends or for other keys", () => {
  assert.equal(step("ArrowRight", 2, 5), 3);
  assert.equal(step("ArrowDown", 2, 5), 3);
  assert.equal(step("ArrowLeft", 2, 5), 1);
  assert.equal(step("ArrowUp", 2, 5), 1);
  assert.equal(step("Home", 3, 5), 0);
  assert.equal(step("End", 1, 5), 4);
  assert.equal(step("ArrowLeft", 0, 5), null);
  assert.equal(step("ArrowRight", 4, 5), null);
  assert.equal(step("a", 2, 5), null);
  assert.equal(step("Tab", 2, 5), null);
});

test("the arrow keys move the one tab stop and the focus; at an end the key is left to the page", () => {
  const v = listView();
  assert.equal(stop(v), 0);
  assert.equal(press(v, "ArrowRight", 0), true);
  assert.equal(stop(v), 1);
  assert.equal(v.nodes[1].focused, 1);
  assert.equal(v.nodes.filter((n) => n.tabIndex === 0).length, 1);
  assert.equal(press(v, "End", 1), true);
  assert.equal(stop(v), 4);
  assert.equal(press(v, "ArrowRight", 4), false, "past the last token: not handled");
  assert.equal(stop(v), 4);
  assert.equal(press(v, "Home", 4), true);
  assert.equal(stop(v), 0);
  assert.equal(press(v, "ArrowLeft", 0), false);
  assert.equal(press(v, "x", 0), false);
  assert.equal(stop(v), 0);
});

test("Enter pins a token and shares it; Enter again, Space or Escape release it", () => {
  const v = listView();
  assert.equal(press(v, "Enter", 3), true);
  assert.equal(v.state.pinned, 3);
  assert.deepEqual(v.shared, [{ token: 3 }]);
  press(v, "Enter", 3);
  assert.equal(v.state.pinned, null);
  press(v, " ", 1);
  assert.equal(v.state.pinned, 1);
  assert.equal(press(v, "Escape", 4), false);
  assert.equal(v.state.pinned, null);
  assert.deepEqual(v.shared, [{ token: 3 }, { token: null }, { token: 1 }, { token: null }]);
});

test("a token pinned in a linked view is pinned here; one outside the tokens is ignored", () => {
  const v = listView();
  v.follow({ token: 2 });
  assert.equal(v.state.pinned, 2);
  v.follow({ token: 99 });
  v.follow({ layer: 1 });
  assert.equal(v.state.pinned, 2);
  v.follow({ token: null });
  assert.equal(v.state.pinned, null);
});

test("a list of its own tokens shares through its map to the payload's tokens, and only mapped tokens", () => {
  const own = listView();
  own.map = [3, 4, -1, 6, 7]; // own token i is the payload's token map[i]; token 2 has no counterpart
  own.follow({ token: 6 });
  assert.equal(own.state.pinned, 3);
  own.follow({ token: 5 }); // a payload token this list does not show
  assert.equal(own.state.pinned, 3);
  press(own, "Enter", 1);
  assert.equal(own.state.pinned, 1);
  press(own, "Enter", 2);
  assert.equal(own.state.pinned, 2);
  press(own, "Escape", 2);
  assert.deepEqual(own.shared, [{ token: 4 }, { token: null }], "the payload's indices; nothing for the unmapped token");
});

test("special tokens hidden by a linked view leave the list and the keyboard path", () => {
  const v = listView(TokenListView, ["[CLS]", "a", " b", "[SEP]"]);
  v.tokens.forEach((t) => (t.special = /^\[/.test(t.text)));
  v.shade = () => {};
  v.follow({ hideSpecial: true });
  v.shadeTokens();
  assert.deepEqual(v.nodes.map((n) => n.hidden), [true, false, false, true]);
  assert.equal(stop(v), 1, "the tab stop moved off the hidden [CLS]");
  assert.equal(press(v, "End", 1), true);
  assert.equal(stop(v), 2, "End goes to the last shown token");
  assert.equal(press(v, "ArrowRight", 2), false);
  v.follow({ hideSpecial: false });
  v.shadeTokens();
  assert.deepEqual(v.nodes.map((n) => n.hidden), [false, false, false, false]);
});

test("hover and leaving the tokens", () => {
  const v = listView();
  v.hover(2);
  assert.equal(v.state.hover, 2);
  v.hover(null);
  assert.equal(v.state.hover, null);
});

test("a line break follows each token holding a newline", () => {
  const v = listView(TokenListView, ["a", " b\n", "c", "\n\n", "d"]);
  const shown = v.lines().map((n) => (n.attrs.class === "xp-nl" ? "|" : n.dataset.i));
  assert.deepEqual(shown, [0, 1, "|", 2, 3, "|", 4]);
  assert.deepEqual(v.lines(2, 4).map((n) => (n.attrs.class === "xp-nl" ? "|" : n.dataset.i)), [2, 3, "|"]);
});

test("saliency: a shared generated token becomes the pinned output; a shared prompt token keeps its share shown", () => {
  const v = listView(SaliencyView, ["The", " cat", " sat", " on", " mats"]);
  Object.assign(v, { causal: true, split: 3 });
  v.state = { method: 0, output: 0, hover: null, pinned: null, picked: 1 };
  v.follow({ token: 4 });
  assert.deepEqual(v.state, { method: 0, output: 1, hover: null, pinned: 4, picked: null });
  v.follow({ token: 1 });
  assert.deepEqual(v.state, { method: 0, output: 1, hover: null, pinned: 4, picked: 1 });
  v.hover(3); // pinned: hovering another generated token does not change the output
  assert.equal(v.state.output, 1);
  v.follow({ token: null });
  assert.equal(v.state.pinned, null);
  assert.equal(v.state.picked, null);
  v.hover(3);
  assert.equal(v.state.output, 0, "released: hovering a generated token explains it");
  press(v, "Enter", 4);
  assert.deepEqual(v.shared.at(-1), { token: 4 });
  press(v, "Enter", 0); // a prompt token before the output: its share stays in the readout, and linked views learn it
  assert.equal(v.state.picked, 0);
  assert.equal(v.state.pinned, 4);
  assert.deepEqual(v.shared.at(-1), { token: 0 });
});
