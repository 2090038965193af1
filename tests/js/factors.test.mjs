// Pure logic of the factor view: per-factor maxima, dominant factor per token, tallies, ranking, run checks.
import { test } from "node:test";
import assert from "node:assert/strict";
import { colMax, dominant, tally, ranked, fmt, checkRun } from "../../generator/assets/js/factors.js";

// 4 positions x 3 factors, row-major
const W = Float32Array.from([
  5, 1, 0, // factor 0 strongest
  0, 2, 3, // factor 2
  0, 0, 0, // no factor active
  1, 4, 4, // tie between 1 and 2: the lower index wins
]);

test("colMax gives each factor's peak", () => {
  assert.deepEqual([...colMax(W, 4, 3)], [5, 4, 4]);
});

test("dominant picks the largest factor per position, -1 where all are zero, lowest index on ties", () => {
  assert.deepEqual([...dominant(W, 4, 3)], [0, 2, -1, 1]);
});

test("dominance is by raw value, not by each factor's share of its own peak", () => {
  // position 0: factor 0 = 1 (its peak is 10), factor 1 = 2 (its peak is 2): factor 1 dominates
  assert.deepEqual([...dominant(Float32Array.from([1, 2, 10, 0]), 2, 2)], [1, 0]);
});

test("tally counts the positions each factor dominates", () => {
  assert.deepEqual([...tally(dominant(W, 4, 3), 3)], [1, 1, 1]);
});

test("ranked lists active factors at a position, largest first", () => {
  assert.deepEqual(ranked(W, 1, 3), [2, 1]);
  assert.deepEqual(ranked(W, 2, 3), []);
  assert.deepEqual(ranked(W, 3, 3), [1, 2, 0]);
});

test("fmt keeps three significant digits", () => {
  assert.equal(fmt(0), "0");
  assert.equal(fmt(0.012345), "0.0123");
  assert.equal(fmt(3.14159), "3.14");
  assert.equal(fmt(4348.6), "4349");
});

test("checkRun refuses runs that do not fit the tokens", () => {
  const run = { count: 3, top_neurons: [[], [], []] };
  assert.equal(checkRun(run, [4, 3], 4), run);
  assert.throws(() => checkRun(run, [5, 3], 4), /do not fit 4 tokens and 3 factors/);
  assert.throws(() => checkRun(run, [12], 4), /do not fit/);
  assert.throws(() => checkRun({ count: 0, top_neurons: [] }, [4, 0], 4), /not a positive integer/);
  assert.throws(() => checkRun({ count: 3, top_neurons: [[]] }, [4, 3], 4), /one neuron list per factor/);
});
