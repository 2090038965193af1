// Pure logic of the explanations view: section checks, row order by score, deletion curves and their range.
import { test } from "node:test";
import assert from "node:assert/strict";
import { LABELS, label, check, checkShape, inputs, order, curve, range, rho } from "../../generator/assets/js/explanations.js";

const tok = (text) => ({ text, special: false, partial: false, segment: 0, generated: false });
const faith = (M, T) => ({ steps: [10, 50], random_orders: 2, aopc: Array.from({ length: M + 1 }, () => Array(T).fill(0)),
  sufficiency: Array.from({ length: M + 1 }, () => Array(T).fill(0)),
  deleted: Array.from({ length: M + 1 }, (_, m) => Array.from({ length: T }, () => [m, -m])) });
const causal = (M = 2, T = 2) => ({ tokens: ["a", "b", "c", "d"].map(tok), n_prompt: 4 - T,
  explanations: { kind: "causal", methods: ["rollout", "flow"].slice(0, M), values: Array(T).fill(3), faithfulness: faith(M, T) } });

test("every method of the section has a label, a long name and a description", () => {
  for (const key of ["raw_attention", "rollout", "flow", "grad_rollout", "attention_x_gradient", "attention_attribution",
    "value_weighted", "value_zeroing", "gradient_x_input", "integrated_gradients"]) assert.equal(LABELS[key].length, 3, key);
  assert.equal(label("unknown_method"), "unknown_method");
});

test("check reads a causal and a similarity section and refuses broken ones", () => {
  const c = check(causal());
  assert.deepEqual([c.kind, c.n0, c.T, c.N, c.M], ["causal", 2, 2, 4, 2]);
  assert.equal(inputs(c, 0), 2);
  assert.equal(inputs(c, 1), 3);
  const p = { tokens: [tok("[CLS]")], explanations: { kind: "similarity", methods: ["flow"], tokens_a: [tok("x"), tok("y")],
    tokens_b: [tok("z")], values: [0.5], faithfulness: faith(1, 1) } };
  const s = check(p);
  assert.deepEqual([s.kind, s.n0, s.T, s.N, s.M], ["similarity", 2, 1, 3, 1]);
  assert.equal(inputs(s, 0), 3);
  assert.throws(() => check({ tokens: [] }), /no explanations section/);
  assert.throws(() => check({ ...causal(), n_prompt: 4 }), /leaves no generated token/);
  const bad = causal();
  bad.explanations.faithfulness.aopc.pop();
  assert.throws(() => check(bad), /do not fit 2 methods and 2 outputs/);
  assert.throws(() => checkShape(c, [2, 2, 5]), /expected \[2,2,4\]/);
  checkShape(c, [2, 2, 4]);
});

test("rows sort by AOPC (largest first) or sufficiency (smallest first), undefined scores last, ties stable", () => {
  const scores = [0.5, 2, null, 2, -1];
  assert.deepEqual(order(5, scores, null), [0, 1, 2, 3, 4]);
  assert.deepEqual(order(5, scores, "aopc"), [1, 3, 0, 4, 2]);
  assert.deepEqual(order(5, scores, "sufficiency"), [4, 0, 1, 3, 2]);
});

test("a deletion curve starts at f(x), and the range covers every curve", () => {
  const p = causal(), s = p.explanations;
  s.faithfulness.deleted[1][1] = [7, -4];
  assert.deepEqual(curve(s, 1, 1), [[0, 3], [10, 7], [50, -4]]);
  assert.deepEqual(range(s, 1), [-4, 7]);
  s.faithfulness.deleted = [[[3, 3]], [[3, 3]], [[3, 3]]];
  s.values = [3];
  assert.deepEqual(range(s, 0), [2.5, 3.5], "a flat set of curves still gets a drawable range");
});

test("rho prints two decimals with a real minus sign, and a dash where undefined", () => {
  assert.equal(rho(-0.456), "−0.46");
  assert.equal(rho(1), "1.00");
  assert.equal(rho(null), "–");
});
