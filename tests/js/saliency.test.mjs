// Pure logic of the saliency view: formatting, ranking, and the checks of the payload section.
import { test } from "node:test";
import assert from "node:assert/strict";
import { METHODS, pct, num, top, peak, place, pairMap, check, checkShape, completeness } from "../../generator/assets/js/saliency.js";

const tok = (text) => ({ text, special: false, partial: false, segment: 0, generated: false });

test("pct gives one decimal and marks tiny non-zero shares", () => {
  assert.equal(pct(0.417), "41.7%");
  assert.equal(pct(0), "0.0%");
  assert.equal(pct(0.0004), "<0.1%");
  assert.equal(pct(1), "100.0%");
});

test("num keeps 4 significant digits with a real minus sign", () => {
  assert.equal(num(22.1232), "22.12");
  assert.equal(num(-1359.7), "−1360");
  assert.equal(num(0), "0");
  assert.equal(num(2.03451e-5), "2.03e−5");
  assert.equal(num(null), "?");
  assert.equal(num(Infinity), "?");
});

test("top ranks the largest shares among the first n, ties by position, zeros left out", () => {
  const v = Float32Array.from([0.1, 0.4, 0, 0.4, 0.1, 0.9]);
  assert.deepEqual(top(v, 5, 3), [1, 3, 0]);
  assert.deepEqual(top(v, 3, 5), [1, 0]);
  assert.equal(peak(v, 5), Math.fround(0.4));
  assert.equal(peak(v, 0), 0);
});

test("check reads a causal section and refuses one without generated tokens", () => {
  const tokens = ["a", "b", "c"].map(tok);
  const s = { kind: "causal", methods: { gradient_x_input: {} } };
  assert.deepEqual(check({ tokens, n_prompt: 2, saliency: s }), { kind: "causal", tokens, split: 2, outputs: 1 });
  assert.throws(() => check({ tokens, n_prompt: 3, saliency: s }), /no generated token/);
  assert.throws(() => check({ tokens, n_prompt: 2 }), /no saliency section/);
  assert.throws(() => check({ tokens, n_prompt: 2, saliency: { kind: "causal", methods: { other: {} } } }), /no method scores/);
  assert.throws(() => check({ tokens, n_prompt: 2, saliency: { kind: "pairwise", methods: s.methods } }), /unknown saliency kind/);
});

test("check joins the two sentences of a similarity section", () => {
  const s = { kind: "similarity", methods: { integrated_gradients: {} }, tokens_a: [tok("x"), tok("y")], tokens_b: [tok("z")] };
  const c = check({ tokens: [], saliency: s });
  assert.equal(c.tokens.length, 3);
  assert.equal(c.split, 2);
  assert.throws(() => check({ tokens: [], saliency: { ...s, tokens_b: undefined } }), /tokens_a and tokens_b/);
});

test("checkShape wants [G, N] for a causal section and [Na + Nb] for a pair", () => {
  const causal = { kind: "causal", tokens: [1, 2, 3, 4], outputs: 2 };
  checkShape(causal, [2, 4]);
  assert.throws(() => checkShape(causal, [4, 2]), /expected \[2,4\]/);
  checkShape({ kind: "similarity", tokens: [1, 2, 3] }, [3]);
  assert.throws(() => checkShape({ kind: "similarity", tokens: [1, 2, 3] }, [1, 3]), /do not fit/);
});

test("completeness states the sums and flags gaps above 5%", () => {
  const good = completeness(-0.357872, 0.640589, 0.998456, 1.35387e-5);
  assert.match(good.text, /sum to −0\.3579/);
  assert.match(good.text, /gap 0\.0014%/);
  assert.equal(good.bad, false);
  const bad = completeness(-1359.7, 22.1232, 0, 62.4603);
  assert.match(bad.text, /gap 6246%/);
  assert.equal(bad.bad, true);
  assert.equal(completeness(1, 2, 2, null).bad, true);
});

test("the methods are offered in a fixed order (occlusion: made in the page by live blocks)", () => {
  assert.deepEqual(METHODS.map((m) => m[0]), ["gradient_x_input", "gradient_norm", "integrated_gradients", "occlusion"]);
});

test("place tells repeated tokens apart: the position in the text, or the sentence and the position in it", () => {
  assert.equal(place(5, 3, true), "token 5");
  assert.equal(place(9, 3, true), "token 9");
  assert.equal(place(2, 4, false), "A, token 2");
  assert.equal(place(4, 4, false), "B, token 0");
  assert.equal(place(6, 4, false), "B, token 2");
});

test("pairMap finds each sentence's own tokens among the pair's tokens; B's own [CLS] has none", () => {
  const t = (text, segment = 0, special = false) => ({ text, segment, special });
  // the pair as the encoder read it: [CLS] A [SEP] B [SEP]; each sentence on its own: [CLS] A [SEP], [CLS] B [SEP]
  const pair = [t("[CLS]", 0, true), t("where"), t(","), t("[SEP]", 0, true), t("the", 1), t(",", 1), t("cat", 1), t("[SEP]", 1, true)];
  const a = [t("[CLS]", 0, true), t("where"), t(","), t("[SEP]", 0, true)];
  const b = [t("[CLS]", 0, true), t("the"), t(","), t("cat"), t("[SEP]", 0, true)];
  assert.deepEqual(pairMap(pair, a, b), [0, 1, 2, 3, -1, 4, 5, 6, 7]);
  // a token the pair tokenised differently has no counterpart; the ones after it still match
  const b2 = [t("[CLS]", 0, true), t("th"), t("e"), t(","), t("cat"), t("[SEP]", 0, true)];
  assert.deepEqual(pairMap(pair, a, b2).slice(4), [-1, -1, -1, 5, 6, 7]);
  // a special token does not stand in for a plain one of the same text
  assert.deepEqual(pairMap([t("[SEP]", 0, true)], [t("[SEP]")], []), [-1]);
});
