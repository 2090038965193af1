// Pure logic of the counterfactual views: section checks, word spans, the aligned chunks of a diff, a search step's
// edited tokens, and the rows of the counterfactual attention figure.
import { test } from "node:test";
import assert from "node:assert/strict";
import { check, words, chunks, edited, sameLengthOps, attentionRows } from "../../generator/assets/js/counterfactuals.js";

const tok = (text, extra = {}) => ({ text, special: false, partial: false, segment: 0, generated: false, ...extra });
const original = { tokens: ["The", " cat", " sat", "."].map((t) => tok(t)), saliency: [0.1, 0.5, 0.3, 0.1], score: -0.2, prob: 0.8, top: [] };

test("words start at spaces, special tokens and letter/other boundaries; a word may span tokens", () => {
  assert.deepEqual(words([tok("The"), tok(" ca"), tok("ts"), tok(","), tok(" ok")]), [[0, 1], [1, 3], [3, 4], [4, 5]]);
  assert.deepEqual(words([tok("[CLS]", { special: true }), tok("a"), tok(" b")]), [[0, 1], [1, 2], [2, 3]]);
});

test("chunks align the diff: one chunk per unchanged word, one per changed run", () => {
  const top = [[0, 1], [1, 2], [2, 3], [3, 4]], bottom = [[0, 1], [1, 3], [3, 4], [4, 5]];
  const ops = [["equal", 0, 1, 0, 1], ["replace", 1, 2, 1, 2], ["equal", 2, 4, 2, 4]];
  const out = chunks(ops, top, bottom);
  assert.equal(out.length, 4);
  assert.deepEqual(out[1], { changed: true, top: [1], bottom: [1, 2] });
  assert.deepEqual(out[3], { changed: false, top: [3], bottom: [4] });
});

test("a search step's edit replaces tokens in a copy and marks them; its alignment marks their words only", () => {
  const out = edited(original.tokens, [[1, " dog"]]);
  assert.equal(out[1].text, " dog");
  assert.equal(out[1].edited, true);
  assert.equal(original.tokens[1].text, " cat");
  const { ops } = sameLengthOps(out, new Set([1]));
  assert.deepEqual(ops, [["equal", 0, 1, 0, 1], ["replace", 1, 2, 1, 2], ["equal", 2, 4, 2, 4]]);
});

test("check lists contrasts and searches as versions, a search without a flip too, and refuses broken sections", () => {
  const version = { ...original, align: { ops: [], words: [] } };
  const p = { tokens: [], counterfactuals: { kind: "causal", explained: {}, original, contrasts: [version],
    searches: { minimal: { steps: [], result: null }, adversarial: { steps: [], result: version } } } };
  const c = check(p);
  assert.deepEqual(c.versions.map((v) => v.key), ["c0", "minimal", "adversarial"]);
  assert.equal(c.versions[1].record, null);
  assert.throws(() => check({ counterfactuals: { kind: "causal", original: { tokens: [tok("a")], saliency: [] } } }), /saliency/);
  assert.throws(() => check({ counterfactuals: { kind: "what" } }), /unknown counterfactuals kind/);
  assert.throws(() => check({}), /no counterfactuals section/);
});

test("attention rows: one per layer and one for all, on the axis of the measure's whole range", () => {
  const spread = (m) => ({ min: m - 0.1, q25: m - 0.05, median: m, q75: m + 0.05, max: m + 0.1 });
  const a = { layers: 2, permutations: 3, prob: 0.8, permuted: [0.2, 0.3, 0.5].map((m) => ({ tvd: spread(m), dprob: spread(-m), flips: 0 })),
    uniform: [0.1, 0.7, 0.4].map((v) => ({ tvd: v, dprob: -v, flipped: false })) };
  const { rows, lo, hi } = attentionRows(a, "tvd");
  assert.deepEqual(rows.map((r) => r.label), ["0", "1", "all"]);
  // a total variation distance is in [0, 1]: the axis ends at 1, not at the largest value (0.7)
  assert.deepEqual([lo, hi], [0, 1]);
  // p = 0.8 can fall by at most 0.8 and rise by at most 0.2
  const d = attentionRows(a, "dprob");
  assert.ok(Math.abs(d.lo + 0.8) < 1e-12 && Math.abs(d.hi - 0.2) < 1e-12, `${d.lo} ${d.hi}`);
  assert.throws(() => attentionRows({ ...a, layers: 3 }, "tvd"), /rows for 3 layers/);
});

test("attention rows: every value is on the axis, whatever the record says of p", () => {
  const spread = (m) => ({ min: m, q25: m, median: m, q75: m, max: m });
  const rows = (values) => values.map((v) => ({ tvd: spread(Math.abs(v)), dprob: spread(v), flips: 0 }));
  for (const [prob, values] of [[0.5, [-0.5, 0.5, 0]], [0.3, [-0.3000004, 0.1, 0.7000004]], [undefined, [-0.9, 0.2, 0.4]], [2, [0.1, -0.1, 0]]]) {
    const a = { layers: 2, permutations: 1, prob, permuted: rows(values), uniform: values.map((v) => ({ tvd: Math.abs(v), dprob: v, flipped: false })) };
    for (const metric of ["tvd", "dprob"]) {
      const { lo, hi } = attentionRows(a, metric);
      for (const v of values.map((x) => (metric === "tvd" ? Math.abs(x) : x))) assert.ok(lo <= v && v <= hi, `${metric} ${v} outside [${lo}, ${hi}]`);
      assert.ok(lo <= 0 && hi >= 0 && hi - lo >= 1 - 1e-12);
    }
  }
});
