import { test } from "node:test";
import assert from "node:assert/strict";
import { section, grid, outputName, delta, value, maxAbs, niceMax, factorName, short } from "../../generator/assets/js/interventions.js";

test("section() refuses a payload without the section or without model counts", () => {
  assert.throws(() => section({ model: { n_layers: 2, n_heads: 3 } }), /no interventions section/);
  assert.throws(() => section({ interventions: { kind: "causal" }, model: {} }), /layer and head counts/);
  const { L, H, causal } = section({ interventions: { kind: "similarity" }, model: { n_layers: 2, n_heads: 3 } });
  assert.deepEqual([L, H, causal], [2, 3, false]);
});

test("grid() checks rows and columns", () => {
  assert.doesNotThrow(() => grid([[1, 2, 3], [4, null, 6]], 2, 3, "x"));
  assert.throws(() => grid([[1, 2], [3, 4]], 2, 3, "heads"), /heads must be 2 x 3/);
});

test("numbers read with a real minus sign, probabilities in points", () => {
  assert.equal(delta(-0.25, "prob"), "−25.0 pts");
  assert.equal(delta(0.5, "logprob"), "+0.500");
  assert.equal(delta(0, "logprob"), "±0.000");
  assert.equal(value(0.123, "prob"), "12.3%");
  assert.equal(value(-1.5, "logprob"), "−1.500");
  assert.equal(outputName({ kind: "causal", output: { token: { text: " Paris" } } }, "prob"), "p(“·Paris”)");
  assert.equal(outputName({ kind: "similarity" }, "similarity"), "similarity");
});

test("scales: the largest magnitude, rounded up to 1, 2 or 5 times a power of ten", () => {
  assert.equal(maxAbs([[0.1, -0.7], [null, 0.2]]), 0.7);
  assert.equal(maxAbs([[0, 0]]), 1);
  assert.equal(niceMax(0.7), 1);
  assert.equal(niceMax(0.13), 0.2);
  assert.ok(Math.abs(niceMax(3.2) - 5) < 1e-12);
  assert.equal(factorName(0), "block");
  assert.equal(factorName(4), "×4");
});

test("short() gives a cell as many decimals as its colour scale needs, never a bare zero for a shown cell", () => {
  // a cell is labelled when it reaches a quarter of the bound: each such value must read as non-zero
  for (const bound of [0.01, 0.03, 0.2, 1, 4, 30]) {
    for (const v of [bound / 4, -bound / 4, bound, -bound]) {
      const text = short(v, bound);
      assert.ok(text.length <= 5, `${text} fits a cell`);
      assert.notEqual(Number(text.replace("−", "-")), 0, `${v} of bound ${bound} reads ${text}`);
    }
  }
  assert.equal(short(0.004, 0.01), ".004");
  assert.equal(short(-0.0061, 0.01), "−.006");
  assert.equal(short(2.34, 4), "2.3");
  assert.equal(short(-23.4, 30), "−23");
});
