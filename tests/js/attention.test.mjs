import { test } from "node:test";
import assert from "node:assert/strict";
import { keep, renorm, argmax } from "../../generator/assets/js/attention.js";

const tokens = [{ text: "[CLS]", special: true }, { text: "a" }, { text: "b" }, { text: "[SEP]", special: true }];

test("keep() drops special tokens only when hiding", () => {
  assert.deepEqual(keep(tokens, false), [0, 1, 2, 3]);
  assert.deepEqual(keep(tokens, true), [1, 2]);
});

test("renorm() restricts and renormalises rows to sum to 1", () => {
  // rows sum to 1 over all 4 tokens; much of the mass sits on the special tokens 0 and 3
  const m = Float32Array.from([
    0.7, 0.1, 0.1, 0.1,
    0.5, 0.2, 0.1, 0.2,
    0.6, 0.3, 0.0, 0.1,
    0.4, 0.3, 0.3, 0.0,
  ]);
  const { m: r, k, empty } = renorm(m, 4, keep(tokens, true));
  assert.equal(k, 2);
  assert.equal(empty, 0);
  const close = (a, b) => assert.ok(Math.abs(a - b) < 1e-6, `${a} != ${b}`);
  close(r[0], 2 / 3); close(r[1], 1 / 3); // row "a": 0.2, 0.1 -> 2/3, 1/3
  close(r[2], 1); close(r[3], 0); // row "b": 0.3, 0 -> 1, 0
  for (let i = 0; i < k; i++) close(r[i * k] + r[i * k + 1], 1);
});

test("renorm() leaves zero-mass rows empty and counts them", () => {
  const m = Float32Array.from([
    1, 0, 0,
    1, 0, 0, // all of row 1's mass is on the hidden token 0
    0.5, 0.25, 0.25,
  ]);
  const { m: r, k, empty } = renorm(m, 3, [1, 2]);
  assert.equal(k, 2);
  assert.equal(empty, 1);
  assert.deepEqual([...r.slice(0, 2)], [0, 0]);
  assert.ok(Math.abs(r[2] + r[3] - 1) < 1e-6);
  assert.ok(r.every(Number.isFinite));
});

test("renorm() of random causal rows: every non-empty row sums to 1", () => {
  const n = 16, m = new Float32Array(n * n);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let j = 0; j <= i; j++) s += m[i * n + j] = Math.random();
    for (let j = 0; j <= i; j++) m[i * n + j] /= s;
  }
  const idx = [...Array(n).keys()].filter((i) => i % 5 !== 0); // hide 0, 5, 10, 15
  const { m: r, k, empty } = renorm(m, n, idx);
  assert.equal(empty, 0);
  for (let a = 0; a < k; a++) {
    let s = 0;
    for (let b = 0; b < k; b++) s += r[a * k + b];
    assert.ok(Math.abs(s - 1) < 1e-5);
  }
});

test("argmax() honours stride and filter", () => {
  const m = [0.1, 0.5, 0.2, 0.9, 0, 0.3];
  assert.equal(argmax(m, 0, 1, 6), 3);
  assert.equal(argmax(m, 0, 1, 6, (i) => i !== 3), 1);
  assert.equal(argmax(m, 1, 2, 3), 1); // values at 1, 3, 5 = 0.5, 0.9, 0.3
  assert.equal(argmax([0, 0, 0], 0, 1, 3), -1);
});
