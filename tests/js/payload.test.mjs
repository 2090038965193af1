// Decoding of ARRAYs encoded by an independent implementation (make_fixtures.py: numpy + zlib + base64).
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { decode, array, parse, attention, load } from "../../generator/assets/js/payload.js";

const fx = JSON.parse(readFileSync(new URL("./fixtures/arrays.json", import.meta.url), "utf8"));

for (const c of fx.cases) {
  test(`decode ${c.name} (${c.array.dtype} ${JSON.stringify(c.array.shape)}) within one quantization step`, async () => {
    const { shape, values } = await decode(c.array);
    assert.deepEqual(shape, c.array.shape);
    assert.ok(values instanceof Float32Array);
    assert.equal(values.length, c.expected.length);
    // rounding to the nearest level gives |error| <= step/2; allow float32 rounding on top
    const tol = c.step / 2 + 1e-6 * Math.max(1, Math.abs(c.array.max), Math.abs(c.array.min));
    let worst = 0;
    c.expected.forEach((x, i) => (worst = Math.max(worst, Math.abs(values[i] - x) - (c.array.dtype === "float32" ? Math.abs(x) * 1e-7 : 0))));
    assert.ok(worst <= tol, `max error ${worst} > ${tol}`);
  });
}

test("uint8 over [0, 1] has max error below 0.002 (ARCHITECTURE.md)", async () => {
  const c = fx.cases.find((x) => x.name === "u8");
  const { values } = await decode(c.array);
  c.expected.forEach((x, i) => assert.ok(Math.abs(values[i] - x) < 0.002));
});

test("uint16 'planes' on 511 levels: every decoded attention row sums to 1 within 1e-3, values within 0.002", async () => {
  const c = fx.cases.find((x) => x.name === "u16-planes-rows");
  const { values } = await decode(c.array);
  for (let r = 0; r < values.length / c.row; r++) {
    let sum = 0;
    for (let i = r * c.row; i < (r + 1) * c.row; i++) {
      sum += values[i];
      assert.ok(Math.abs(values[i] - c.expected[i]) < 0.002, `value ${i} off by ${values[i] - c.expected[i]}`);
    }
    assert.ok(Math.abs(sum - 1) <= 1e-3, `row ${r} sums to ${sum}`);
  }
});

test("unknown layout or levels out of range are rejected", async () => {
  const c = fx.cases.find((x) => x.name === "u16-planes-rows");
  await assert.rejects(decode({ ...c.array, layout: "columns" }), /unknown array layout/);
  await assert.rejects(decode({ ...fx.cases[0].array, layout: "planes" }), /unknown array layout/);
  await assert.rejects(decode({ ...c.array, levels: 70000 }), /levels/);
  await assert.rejects(decode({ ...c.array, levels: 1.5 }), /levels/);
});

test("array() memoises per ARRAY object", () => {
  const a = fx.cases[0].array;
  assert.equal(array(a), array(a));
});

test("attention() returns [L, H, N, N] matching the tokens", async () => {
  const p = parse(JSON.stringify(fx.payload));
  const a = await attention(p);
  assert.deepEqual([a.L, a.H, a.N], [2, 2, 4]);
  fx.attention_expected.forEach((x, i) => assert.ok(Math.abs(a.v[i] - x) <= 1 / 510 + 1e-7));
});

test("wrong or missing schema_version throws a clear error", () => {
  assert.throws(() => parse(fx.bad.schema_version), /schema_version 2 .*reads 1/);
  assert.throws(() => parse(fx.bad.no_schema), /schema_version/);
});

test("invalid JSON throws a clear error", () => {
  assert.throws(() => parse(fx.bad.not_json), /not valid JSON/);
  assert.throws(() => parse("null"), /not a JSON object/);
});

test("truncated compressed data throws", async () => {
  await assert.rejects(decode(fx.truncated.attention.values), /corrupt or truncated/);
});

test("shape that does not match the byte length throws", async () => {
  await assert.rejects(decode(fx.wrong_shape.attention.values), /needs 80 bytes of uint8, got 64/);
});

test("attention that does not fit the tokens throws", async () => {
  await assert.rejects(attention(fx.mismatch_tokens), /does not fit 3 tokens/);
});

test("bad dtype / shape / data are rejected", async () => {
  const a = fx.cases[0].array;
  await assert.rejects(decode({ ...a, dtype: "int8" }), /unknown array dtype/);
  await assert.rejects(decode({ ...a, shape: [2, -3] }), /shape/);
  await assert.rejects(decode({ ...a, data: 5 }), /base64/);
  await assert.rejects(decode({ ...a, data: "!!!!" }), /corrupt or truncated/);
});

test("load() shares one promise per .explorable container and reads data-payload", async () => {
  const box = { dataset: { payload: JSON.stringify(fx.payload) } };
  const view = (c) => ({ closest: (sel) => (sel === ".explorable" ? c : null) });
  const p1 = load(view(box)), p2 = load(view(box));
  assert.equal(p1, p2);
  assert.equal((await p1).id, "tiny");
  const other = { dataset: { payload: "{" } };
  await assert.rejects(load(view(other)), /not valid JSON/);
  await assert.rejects(load(view(null)), /no \.explorable container/);
  await assert.rejects(load(view({ dataset: {} })), /neither data-payload nor data-src/);
});

test("an ARRAY with a part fetches that data file once, beside the widgets, and decodes as the inline one", async () => {
  const c = fx.cases.find((x) => x.name === "u16-planes-rows"), { data, ...ref } = c.array;
  const asked = [], real = globalThis.fetch;
  let fail = true;
  globalThis.fetch = async (url) => {
    asked.push(url);
    if (fail) return { ok: false, status: 404 };
    return { ok: true, text: async () => JSON.stringify(data) };
  };
  try {
    const part = { ...ref, part: "0123456789abcdef0123.json" };
    await assert.rejects(array(part), /could not fetch 0123456789abcdef0123\.json \(HTTP 404\)/);
    fail = false; // a failed fetch is not kept: the next decode asks again
    const [a, b] = await Promise.all([array(part), array(part)]);
    assert.equal(a, b);
    assert.equal(asked.length, 2);
    assert.ok(asked.every((url) => url === new URL("../data/0123456789abcdef0123.json", new URL("../../generator/assets/js/", import.meta.url)).href));
    assert.deepEqual(a.values, (await decode(c.array)).values);
    // the reference's shape rules: data that does not fit it is refused
    await assert.rejects(array({ ...ref, shape: [1, 2], part: "0123456789abcdef0123.json" }), /needs 4 bytes/);
  } finally {
    globalThis.fetch = real;
  }
});
