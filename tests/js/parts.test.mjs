import { test } from "node:test";
import assert from "node:assert/strict";
import { deflateSync } from "node:zlib";
import { renorm } from "../../generator/assets/js/attention.js";
import { attentionParts, partKeys } from "../../generator/assets/js/parts.js";

/** An ARRAY (ARCHITECTURE.md) of uint8 values over [0, 1], written with Node's zlib, independent of payload.js. */
const arr = (shape, values) => ({ dtype: "uint8", shape, min: 0, max: 1,
  data: deflateSync(Uint8Array.from(values.map((v) => Math.round(v * 255)))).toString("base64") });
const toks = (n, special = []) => Array.from({ length: n }, (_, i) => ({ text: `t${i}`, special: special.includes(i) }));

test("renorm() restricts a rectangular matrix to kept rows and columns", () => {
  // 2 rows x 3 columns, row length 3; keep both rows, columns 0 and 2
  const m = Float32Array.from([0.2, 0.5, 0.3, 0.6, 0.4, 0.0]);
  const { m: r, k, empty } = renorm(m, 3, [0, 1], [0, 2]);
  assert.equal(k, 2);
  assert.equal(empty, 0);
  const close = (a, b) => assert.ok(Math.abs(a - b) < 1e-6, `${a} != ${b}`);
  close(r[0], 0.4); close(r[1], 0.6); // 0.2, 0.3 -> 0.4, 0.6
  close(r[2], 1); close(r[3], 0); // 0.6, 0 -> 1, 0
});

test("a decoder-only payload has one part, an encoder-decoder payload three", async () => {
  const one = { tokens: toks(2), attention: { values: arr([1, 1, 2, 2], [1, 0, 0.5, 0.5]) } };
  assert.deepEqual(partKeys(one), ["self"]);
  const [self] = await attentionParts(one);
  assert.deepEqual([self.label, self.R, self.C, self.L, self.H], ["Attention", 2, 2, 1, 1]);

  const src = toks(3), tgt = toks(2, [0]);
  const p = { tokens: src, target_tokens: tgt, attention: {
    values: arr([1, 1, 3, 3], Array(9).fill(1 / 3)),
    decoder: arr([2, 1, 2, 2], [1, 0, 0.2, 0.8, 1, 0, 0.6, 0.4]),
    cross: arr([2, 1, 2, 3], [0.2, 0.2, 0.6, 1, 0, 0, 0, 1, 0, 0.4, 0.4, 0.2]),
  } };
  const parts = await attentionParts(p);
  assert.deepEqual(parts.map((x) => x.key), ["encoder", "decoder", "cross"]);
  const cross = parts[2];
  assert.equal(cross.label, "Cross-attention");
  assert.deepEqual([cross.L, cross.R, cross.C, cross.q, cross.k], [2, 2, 3, "query (target)", "key (source)"]);
  assert.equal(cross.rows, tgt);
  assert.equal(cross.cols, src);
  assert.ok(Math.abs(cross.v[3] - 1) < 1e-6); // layer 0, target token 1 -> source token 0
});

test("attentionParts() says which array does not fit", async () => {
  const p = { tokens: toks(3), target_tokens: toks(2), attention: {
    values: arr([1, 1, 3, 3], Array(9).fill(0)), decoder: arr([1, 1, 2, 2], Array(4).fill(0)),
    cross: arr([1, 1, 3, 2], Array(6).fill(0)) } };
  await assert.rejects(attentionParts(p), /Cross-attention shape \[1,1,3,2\] does not fit 2 × 3 tokens/);
  await assert.rejects(attentionParts({ tokens: toks(1), attention: { values: arr([1, 1, 1, 1], [1]), cross: p.attention.cross } }),
    /has no target_tokens/);
  await assert.rejects(attentionParts({ tokens: [] }), /no attention values/);
});
