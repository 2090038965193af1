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

/** A sparse-rows ARRAY (generator/payload/sparse_rows.py's format) written here by hand: uint16 planes of counts,
 * rest, column gaps and values, on 65535 levels. */
function sparse(shape, rows) {
  const counts = rows.map((r) => r.kept.length), rest = rows.map((r) => r.rest);
  const gaps = rows.flatMap((r) => r.kept.map(([c], x) => (x ? c - r.kept[x - 1][0] : c)));
  const vals = rows.flatMap((r) => r.kept.map(([, v]) => v));
  const stream = [...counts, ...rest, ...gaps, ...vals];
  const bytes = Uint8Array.from([...stream.map((v) => v >> 8), ...stream.map((v) => v & 255)]);
  return { dtype: "uint16", shape, min: 0, max: 1, layout: "sparse-rows", keep: 0.99, kept: gaps.length,
    data: deflateSync(bytes).toString("base64") };
}

test("a long text's layers decode one at a time, sparse rows into dense rows, their rest and their entries", async () => {
  // 1 head, 3 tokens: row 0 keeps column 0; row 1 keeps columns 0 and 2; row 2 keeps column 2, 655 units left out
  const rows = [{ kept: [[0, 65535]], rest: 0 }, { kept: [[0, 30000], [2, 35535]], rest: 0 },
    { kept: [[2, 64880]], rest: 655 }];
  const layer = sparse([1, 3, 3], rows);
  const thumbs = arr([2, 1, 3, 3], Array(18).fill(0.5));
  const p = { tokens: toks(3), attention: { layers: [layer, { ...layer }], thumbnails: thumbs } };
  const [part] = await attentionParts(p);
  assert.equal(part.layered, true);
  assert.deepEqual([part.L, part.H, part.R, part.C], [2, 1, 3, 3]);
  assert.equal(part.cached(0), null, "nothing decoded before a view asks");
  const lv = await part.layer(0);
  const close = (a, b) => assert.ok(Math.abs(a - b) < 1e-6, `${a} != ${b}`);
  [1, 0, 0, 30000 / 65535, 0, 35535 / 65535, 0, 0, 64880 / 65535].forEach((v, i) => close(lv.v[i], v));
  close(lv.rest[2], 655 / 65535);
  assert.deepEqual([...lv.rows.start], [0, 1, 3, 4]);
  assert.deepEqual([...lv.rows.col], [0, 0, 2, 2]);
  assert.equal(lv.sparse, true);
  assert.equal(part.cached(0), lv);
  assert.equal(part.cached(1), null, "layer 1 waits for its turn");
  assert.deepEqual(part.thumbnails.all.shape, [2, 1, 3, 3]);
});

test("a long text's part keeps only the layers asked for last", async () => {
  const layer = sparse([1, 1, 1], [{ kept: [[0, 65535]], rest: 0 }]);
  const p = { tokens: toks(1), attention: { layers: Array.from({ length: 5 }, () => ({ ...layer })), thumbnails: arr([5, 1, 1, 1], [1, 1, 1, 1, 1]) } };
  const [part] = await attentionParts(p);
  for (const l of [0, 1, 2, 3]) await part.layer(l);
  assert.equal(part.cached(0), null, "the oldest of four is dropped (KEEP_LAYERS = 3)");
  assert.ok(part.cached(1) && part.cached(2) && part.cached(3));
});

test("a sparse-rows array whose counts do not fit its data is refused", async () => {
  const bad = { ...sparse([1, 2, 2], [{ kept: [[0, 65535]], rest: 0 }, { kept: [[1, 65535]], rest: 0 }]), kept: 3 };
  const p = { tokens: toks(2), attention: { layers: [bad], thumbnails: arr([1, 1, 2, 2], [1, 0, 0, 1]) } };
  const [part] = await attentionParts(p);
  await assert.rejects(part.layer(0), /sparse-rows data of/);
});
