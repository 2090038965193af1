// A payload made in the page (live blocks) reads back through the same decoder as baked ones.
import { test } from "node:test";
import assert from "node:assert/strict";
import { floatArray, unitArray, livePayload, zlibStored } from "../../generator/assets/js/live-payload.js";
import { inflateSync } from "node:zlib";
import { decode, attention, parse } from "../../generator/assets/js/payload.js";

test("float32 ARRAYs are exact, uint16 ones within 1/131070 over [0, 1]", async () => {
  const v = Float32Array.from({ length: 50 }, (_, i) => Math.sin(i) * 3);
  assert.deepEqual(Array.from((await decode(await floatArray(v, [5, 10]))).values), Array.from(v));
  const u = Float32Array.from({ length: 40 }, (_, i) => (i * 0.37) % 1);
  const back = (await decode(await unitArray(u, [4, 10]))).values;
  u.forEach((x, i) => assert.ok(Math.abs(back[i] - x) <= 1 / 131070 + 1e-7, `${i}: ${back[i]} vs ${x}`));
  await assert.rejects(floatArray(v, [3, 3]), /do not fill/);
});

test("livePayload: the baked schema, with the neuron section's layers and heads picked from the outputs", async () => {
  const L = 3, H = 4, KV = 2, N = 5, d = 2;
  const value = (l, h, i, k) => l * 1000 + h * 100 + i * 10 + k; // queries and keys: readable from their position
  const fill = (heads) => ({ dims: [L, heads, N, d], data: Float32Array.from({ length: L * heads * N * d }, (_, j) =>
    value(Math.floor(j / (heads * N * d)), Math.floor(j / (N * d)) % heads, Math.floor(j / d) % N, j % d)) });
  const att = new Float32Array(L * H * N * N).fill(1 / N);
  const base = { schema_version: 1, id: "x", model: { label: "m" }, tokens: [], n_prompt: 0, generation: { requested: 1 },
    attention: { values: "baked" }, neuron: { layers: [0, 2], heads: [1, 3], key_heads: [0, 1], d_head: d, query: 9, scales: [0.5, 0.5] } };
  const tokens = Array.from({ length: N }, (_, i) => ({ text: "t" + i, special: false, partial: false, segment: 0, generated: false }));
  const p = await livePayload(base, tokens, { attentions: { dims: [L, H, N, N], data: att }, queries: fill(H), keys: fill(KV) }, [0.7, 0.8, 0.9]);
  parse(JSON.stringify(p));
  assert.equal(p.n_prompt, N);
  assert.equal(p.generation, undefined);
  assert.equal(base.attention.values, "baked"); // the baked payload is left as it was
  const a = await attention(p);
  assert.deepEqual([a.L, a.H, a.N], [L, H, N]);
  assert.deepEqual(p.neuron.scales, [0.7, 0.9]);
  assert.equal(p.neuron.query, N - 1);
  const q = (await decode(p.neuron.queries[1])).values, k = (await decode(p.neuron.keys[1])).values;
  assert.deepEqual(p.neuron.queries[1].shape, [2, N, d]);
  assert.equal(q[(1 * N + 3) * d + 1], value(2, 3, 3, 1)); // layer 2, second listed head (3), token 3, dim 1
  assert.equal(k[(0 * N + 4) * d + 0], value(2, 0, 4, 0));
});

test("zlibStored: a zlib stream that zlib inflates to the same bytes (its Adler-32 checked), at block edges too", () => {
  for (const n of [0, 1, 5552, 65535, 65536, 3 * 65535 + 7]) {
    const bytes = Uint8Array.from({ length: n }, (_, i) => (i * 7919 + (i >> 8)) & 255);
    const z = zlibStored(bytes);
    assert.deepEqual(new Uint8Array(inflateSync(z)), bytes, `n = ${n}`);     // throws on a wrong checksum
    assert.equal(z.length, 2 + 5 * Math.max(1, Math.ceil(n / 65535)) + n + 4);
  }
  const z = zlibStored(Uint8Array.of(1, 2, 3));
  z[z.length - 1] ^= 1;
  assert.throws(() => inflateSync(z), /incorrect data check/);
});
