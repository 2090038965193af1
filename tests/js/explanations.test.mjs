// Pure logic of the explanations view: section checks, row order by score, deletion curves and their range.
import { test } from "node:test";
import assert from "node:assert/strict";
import { LABELS, label, check, checkShape, inputs, order, curve, range, rho, aside, firstHeavy, axisTitles, belowRandom,
  belowRandomNote } from "../../generator/assets/js/explanations.js";

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

test("aside shades and reads the other tokens as parts of what the first one leaves", () => {
  // rollout on a causal model: nearly all the mass on the first token
  const row = Float32Array.from([0.999997, 0.000002, 0.000001, 0, 9]); // the last value lies beyond n = 4
  const whole = aside(row, 4, 0), rest = aside(row, 4, 1);
  assert.equal(whole.shade[0], 1);
  assert.ok(whole.shade[1] < 1e-5, "at the whole row's scale the others look blank");
  assert.equal(rest.shade[0], 0);
  assert.equal(rest.shade[1], 1);
  assert.ok(Math.abs(rest.shade[2] - 0.5) < 1e-6);
  // independent: 2e-6 / (2e-6 + 1e-6) and 1e-6 / 3e-6, as stored in float32
  assert.ok(Math.abs(rest.rest[1] - 2 / 3) < 1e-6 && Math.abs(rest.rest[2] - 1 / 3) < 1e-6);
  assert.equal(rest.rest[3], 0);
  assert.deepEqual([...aside(new Float32Array(3), 3, 1).shade], [0, 0, 0], "an empty rest stays blank");
});

test("firstHeavy names the method that piles the most on the first token, above the limit only", () => {
  const v = Float32Array.from([0.4, 0.6, 0, 0, 0.98, 0.02, 0, 0]); // [M = 2, T = 1, N = 4]
  assert.deepEqual(firstHeavy(v, ["raw_attention", "rollout"], 1, 4, 0, 2), { key: "rollout", share: v[4] });
  assert.equal(firstHeavy(v, ["raw_attention", "rollout"], 1, 4, 0, 2, 0.99), null);
  assert.equal(firstHeavy(v, ["raw_attention", "rollout"], 1, 4, 0, 1), null, "a single input has nothing to compare");
});

test("the chart's axis titles give the units of each explained score", () => {
  assert.deepEqual(axisTitles({ target: "logit" }), ["% of the input tokens removed, most relevant first", "logit (raw score)"]);
  assert.equal(axisTitles({ target: "probability" })[1], "probability (0–1)");
  assert.equal(axisTitles({ target: "similarity" })[1], "cosine similarity (−1 to 1)");
  assert.equal(axisTitles({ target: "<b>x</b>" })[1], "<b>x</b>", "an unknown target is shown as the text it is");
});

test("methods whose AOPC is under random's are found, and the note says what that means", () => {
  // M = 4 methods, then random (0.3): 0.1 and -0.2 are below it, 0.3 (equal) and null are not
  assert.deepEqual(belowRandom([0.1, 0.3, -0.2, null, 0.3], 4), [0, 2]);
  assert.deepEqual(belowRandom([0.5, 0.6, 0.4], 2), []);
  assert.deepEqual(belowRandom([0.1, 0.2, null], 2), [], "no random score: nothing to compare with");
  assert.equal(belowRandomNote([], "0.3", "logit"), "");
  const one = belowRandomNote(["rollout"], "0.3", "logit");
  assert.match(one, /^Below random: rollout has an AOPC under the random orders' 0\.3\./);
  assert.match(one, /hurts the logit less than removing random ones: this ranking is worse than chance here\.$/);
  const two = belowRandomNote(["raw attention", "flow", "IG"], "0.3", "similarity");
  assert.match(two, /raw attention, flow and IG have an AOPC/);
  assert.match(two, /their top tokens first hurts the similarity less .* these rankings are worse than chance/);
});
