import { test } from "node:test";
import assert from "node:assert/strict";
import { attend, order, topDims, maxAbs, keySlot, section, num } from "../../generator/assets/js/neuron.js";

const close = (a, b, eps = 1e-9) => assert.ok(Math.abs(a - b) < eps, `${a} != ${b}`);

// Query [1, 0] against keys [ln(j + 1), 5]: scores ln 1, ln 2, ln 3, so the softmax is 1/6, 2/6, 3/6 (scale 1).
const N = 3, d = 2;
const q = Float32Array.from([1, 0, 1, 0, 1, 0]);
const k = Float64Array.from([Math.log(1), 5, Math.log(2), 5, Math.log(3), 5]);

test("attend() gives softmax of the scaled dot products", () => {
  const r = attend(q, k, N, d, 2, 1, false);
  [1 / 6, 2 / 6, 3 / 6].forEach((w, j) => close(r.weight[j], w, 1e-7));
  [0, Math.log(2), Math.log(3)].forEach((s, j) => close(r.score[j], s, 1e-7));
});

test("attend() applies the scale before the softmax", () => {
  // scale 2 squares the ratios: 1, 4, 9 over 14
  const r = attend(q, k, N, d, 0, 2, false);
  [1 / 14, 4 / 14, 9 / 14].forEach((w, j) => close(r.weight[j], w, 1e-7));
  close(r.dot[2], Math.log(3), 1e-7);
});

test("attend() masks later keys for a causal model", () => {
  const r = attend(q, k, N, d, 1, 1, true);
  close(r.weight[0], 1 / 3, 1e-7);
  close(r.weight[1], 2 / 3, 1e-7);
  assert.equal(r.weight[2], 0);
  assert.ok(Number.isNaN(r.score[2]));
  const first = attend(q, k, N, d, 0, 1, true);
  assert.equal(first.weight[0], 1);
});

test("attend() is stable for large scores", () => {
  const big = Float64Array.from([1000, 0, 1001, 0]), one = Float64Array.from([1, 0, 1, 0]);
  const r = attend(one, big, 2, 2, 0, 1, false);
  close(r.weight[1], 1 / (1 + Math.exp(-1)), 1e-12);
});

test("order() sorts dimensions by |q_c k_c| of the pair, ties by dimension", () => {
  const q4 = Float32Array.from([1, -3, 2, 0.5]), k4 = Float32Array.from([4, 1, -2, 2]); // products 4, -3, -4, 1
  assert.deepEqual(order(q4, k4, 4, 0, 0, false), [0, 1, 2, 3]);
  assert.deepEqual(order(q4, k4, 4, 0, 0, true), [0, 2, 1, 3]);
  assert.deepEqual(order(q4, k4, 4, 0, -1, true), [0, 1, 2, 3]);
  assert.deepEqual(topDims(q4, k4, 4, 0, 0, 2), [[0, 4], [2, -4]]);
});

test("maxAbs() never returns 0", () => {
  assert.equal(maxAbs(Float32Array.from([0.5, -2, 1])), 2);
  assert.equal(maxAbs(Float32Array.from([0, 0])), 1);
  assert.equal(maxAbs(Float32Array.from([9, 1, -3, 9]), 1, 2), 3);
});

test("keySlot() maps a query head to its grouped key head", () => {
  // 9 query heads on 3 key heads: heads 3-5 read key head 1, stored in slot 0 when only key heads 1 and 2 are kept
  assert.equal(keySlot(4, [1, 2], 9, 3), 0);
  assert.equal(keySlot(8, [1, 2], 9, 3), 1);
  assert.equal(keySlot(5, [0, 1, 2, 3, 4, 5], 6, 6), 5);
  assert.throws(() => keySlot(0, [1, 2], 9, 3), /no key head for query head 0/);
});

test("section() checks shapes against the tokens and the heads", () => {
  const arr = (shape) => ({ dtype: "uint16", shape, data: "" });
  const p = { tokens: [{}, {}], model: { n_heads: 4, n_kv_heads: 2 },
    neuron: { layers: [3], heads: [1, 2], key_heads: [0, 1], d_head: 8, causal: true, scales: [0.35],
      queries: [arr([2, 2, 8])], keys: [arr([2, 2, 8])] } };
  const s = section(p);
  assert.deepEqual([s.nHeads, s.nKvHeads, s.d, s.causal], [4, 2, 8, true]);
  assert.throws(() => section({ ...p, neuron: { ...p.neuron, queries: [arr([2, 3, 8])] } }), /queries of layer 3 do not have shape \[2, 2, 8\]/);
  assert.throws(() => section({ ...p, neuron: { ...p.neuron, scales: [] } }), /one entry per layer/);
  assert.throws(() => section({ ...p, neuron: { ...p.neuron, key_heads: [0] , keys: [arr([1, 2, 8])] } }), /no key head for query head 2/);
  assert.throws(() => section({ tokens: [] }), /no neuron section/);
});

test("num() signs and masks", () => {
  assert.equal(num(1.234), "+1.23");
  assert.equal(num(-0.5, 1), "−0.5");
  assert.equal(num(0), "0.00");
  assert.equal(num(NaN), "—");
});
