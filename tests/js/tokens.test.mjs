// Token rendering must only create text nodes from payload text (no HTML parsing).
import { test } from "node:test";
import assert from "node:assert/strict";
import { tokenNode, parts, show, describe } from "../../generator/assets/js/tokens.js";

/** A minimal fake document: records every element created; innerHTML is a trap. */
function fakeDoc() {
  const created = [];
  class Node {
    constructor(tag) { this.tagName = tag; this.childNodes = []; this.attrs = {}; this.className = ""; }
    appendChild(n) { this.childNodes.push(n); return n; }
    setAttribute(k, v) { this.attrs[k] = String(v); }
    set innerHTML(_) { throw new Error("innerHTML used"); }
    set textContent(s) { this.childNodes = [{ nodeType: 3, data: String(s) }]; }
    get textContent() { return this.childNodes.map((c) => (c.nodeType === 3 ? c.data : c.textContent)).join(""); }
  }
  return {
    created,
    createElement(tag) { const n = new Node(tag.toLowerCase()); created.push(n); return n; },
    createTextNode(s) { return { nodeType: 3, data: String(s) }; },
  };
}

test("a <script> token becomes text, never an element", () => {
  const doc = fakeDoc();
  const n = tokenNode({ text: "<script>alert(1)</script>" }, doc);
  assert.ok(doc.created.every((e) => e.tagName === "span"), doc.created.map((e) => e.tagName).join());
  assert.equal(n.textContent, "<script>alert(1)</script>");
  assert.equal(n.childNodes.length, 1);
  assert.equal(n.childNodes[0].nodeType, 3);
});

test("HTML-ish text with spaces stays text in every run", () => {
  const doc = fakeDoc();
  const n = tokenNode({ text: ' <img src=x onerror="alert(1)">' }, doc);
  assert.equal(doc.created.filter((e) => e.tagName !== "span").length, 0);
  assert.equal(n.textContent, '·<img·src=x·onerror="alert(1)">');
});

test("spaces are visible (middle dot in a dimmed, aria-hidden span)", () => {
  assert.deepEqual(parts(" the"), [[true, "·"], [false, "the"]]);
  assert.deepEqual(parts("a\n\tb"), [[false, "a"], [true, "↵→"], [false, "b"]]);
  assert.deepEqual(parts(""), [[true, "∅"]]);
  assert.equal(show({ text: "  cat" }), "··cat");
  const doc = fakeDoc();
  const n = tokenNode({ text: " cat" }, doc);
  const ws = n.childNodes[0];
  assert.equal(ws.className, "xp-ws");
  assert.equal(ws.attrs["aria-hidden"], "true");
  assert.equal(ws.textContent, "·");
});

test("characters without a glyph get a visible mark and the tooltip names them", () => {
  // U+200B ZERO WIDTH SPACE, U+200C/U+200D joiners, U+2009 THIN SPACE, U+FEFF, U+2028, a lone combining accent
  assert.deepEqual(parts("pass\u200bword"), [[false, "pass"], ["mark", "⟨200B⟩"], [false, "word"]]);
  assert.deepEqual(parts("\u200c\u200d"), [["mark", "⟨200C⟩⟨200D⟩"]]);
  assert.deepEqual(parts("x\u2009y"), [[false, "x"], ["mark", "⟨2009⟩"], [false, "y"]]);
  assert.deepEqual(parts("\u0301"), [[false, "◌\u0301"]]);
  assert.deepEqual(parts("e\u0301"), [[false, "e\u0301"]], "an accent on a letter is visible as it is");
  for (const text of ["\u200b", "\ufeff", "\u2028", "\u2060", "\u00ad", "\u0301", "\u3000"]) {
    const shown = show({ text });
    assert.ok(shown.length > 0 && /[^\s\p{Cf}\p{M}]/u.test(shown), `${JSON.stringify(text)} shows ${JSON.stringify(shown)}`);
  }
  const t = { text: "\u200b", partial: true, invisible: ["U+200B ZERO WIDTH SPACE"] };
  assert.match(describe(t).title, /U\+200B ZERO WIDTH SPACE/);
  assert.match(describe({ text: "a\u2060b" }).title, /U\+2060/, "without names from the bake, the code point");
  const doc = fakeDoc();
  const n = tokenNode({ text: "a\u200cb", invisible: ["U+200C ZERO WIDTH NON-JOINER"] }, doc);
  assert.equal(n.textContent, "a⟨200C⟩b");
  assert.equal(n.title, "U+200C ZERO WIDTH NON-JOINER");
  assert.equal(n.childNodes[1].className, "xp-ws xp-mark");
  assert.equal(n.childNodes[1].attrs["aria-hidden"], undefined, "screen readers read the mark");
});

test("the characters a page marks in an author's title are marks in the token views too (NUL, separators, bidi)", () => {
  // generator/errors.py MARKED: NUL and the other controls, U+2028 / U+2029, the explicit bidi controls. A guard:
  // the views draw them already (Unicode categories Cc, Zl, Zp, Cf), as the Python side now does in titles.
  for (const code of ["0000", "0007", "0085", "2028", "2029", "202A", "202E", "2066", "2069"]) {
    const c = String.fromCodePoint(parseInt(code, 16));
    assert.deepEqual(parts(`a${c}b`), [[false, "a"], ["mark", `⟨${code}⟩`], [false, "b"]], code);
  }
});

test("an unknown token is real input: not special, labelled by the text it stands for", () => {
  const d = describe({ text: " 🍕", unknown: true, special: false });
  assert.doesNotMatch(d.cls, /xp-special/);
  assert.match(d.cls, /xp-unk/);
  assert.match(d.title, /unknown token/);
  assert.equal(show({ text: " 🍕", unknown: true }), "·🍕");
});

test("partial, special and generated tokens are marked with classes and a tooltip", () => {
  const p = describe({ text: "🙂", partial: true });
  assert.match(p.cls, /xp-partial/);
  assert.match(p.title, /part of a character/);
  const s = describe({ text: "[CLS]", special: true, segment: 0 });
  assert.match(s.cls, /xp-special/);
  assert.match(s.title, /special/);
  const g = describe({ text: " dog", generated: true, segment: 1 });
  assert.match(g.cls, /xp-gen/);
  assert.match(g.cls, /xp-seg1/);
  assert.match(g.title, /generated/);
  assert.equal(describe({ text: "x" }).title, "");
  const doc = fakeDoc();
  assert.match(tokenNode({ text: "é", partial: true }, doc).title, /part of a character/);
});
