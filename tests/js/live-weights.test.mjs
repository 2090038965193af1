// live-weights.js: the page's float32 weights from the build's pack (generator/live/export.py `pack`). The pack is
// written by hand here and the expected floats are computed in the test (Math.fround of each product).
import { test } from "node:test";
import assert from "node:assert/strict";
import { floatWeights, loadWeights, work } from "../../generator/assets/js/live-weights.js";

function packOf() {
  // float file: [bias: 2 floats][matmul 2x3, one scale per column][gather 2x2, one scale per row] = 2+6+4 floats
  const buf = new ArrayBuffer(64), u8 = new Uint8Array(buf), f32 = new Float32Array(buf);
  f32.set([0.5, -1.25], 0);                        // bytes 0..8: kept float32
  new Int8Array(buf, 8, 6).set([1, -2, 3, 127, 0, -127]);   // 8..14: int8 2x3
  f32.set([0.1, 0.2, 0.3], 4);                     // 16..28: column scales
  new Int8Array(buf, 28, 4).set([5, -5, 10, 0]);   // 28..32: int8 2x2
  f32.set([0.01, 3], 8);                           // 32..40: row scales
  const layout = { file: "weights.bin", bytes: 48, segments: [
    { offset: 0, bytes: 8, at: 0 },
    { offset: 8, dims: [2, 3], axis: 1, int8: 8, scale: 16 },
    { offset: 32, dims: [2, 2], axis: 0, int8: 28, scale: 32 }] };
  return { layout, buf, u8 };
}

test("int8 times its column or row scale, float32 segments copied, at their offsets", () => {
  const { layout, buf } = packOf();
  const got = new Float32Array(floatWeights(layout, buf).buffer);
  const f = Math.fround, s = [f(0.1), f(0.2), f(0.3)];
  const want = [0.5, -1.25,
    f(1 * s[0]), f(-2 * s[1]), f(3 * s[2]), f(127 * s[0]), 0, f(-127 * s[2]),
    f(5 * f(0.01)), f(-5 * f(0.01)), f(10 * 3), 0];
  assert.deepEqual(Array.from(got), want);
});

test("a segment outside the pack or the file is an error, not garbage", () => {
  const { layout, buf } = packOf();
  assert.throws(() => floatWeights({ ...layout, segments: [{ offset: 0, bytes: 8, at: 60 }] }, buf), /outside the pack/);
  assert.throws(() => floatWeights({ ...layout, segments: [{ offset: 44, dims: [2, 3], axis: 1, int8: 8, scale: 16 }] }, buf), /outside the weights file/);
  assert.throws(() => floatWeights({ ...layout, bytes: 47 }, buf), /not float32/);
});

test("loadWeights where no worker can start (here: Node): the page's own fetch, the same floats and errors", async () => {
  const { layout, u8 } = packOf();
  const shifted = new Uint8Array(80);                 // a view that does not start its buffer
  shifted.set(u8, 16);
  let fetched = 0;
  const [pack, floats] = await loadWeights("http://h/live/e/weights.pack", layout, { onFetched: () => fetched++, here: async () => shifted.subarray(16) });
  assert.equal(fetched, 1);
  assert.deepEqual(pack, shifted.subarray(16));
  assert.deepEqual(floats, floatWeights(layout, u8.buffer));
  await assert.rejects(loadWeights("u", { ...layout, bytes: 47 }, { here: async () => u8 }), /not float32/);
  await assert.rejects(loadWeights("u", layout, { here: () => Promise.reject(new Error("could not fetch e/weights.pack (HTTP 404)")) }), /HTTP 404/);
});

test("the worker's job: the pack read in chunks, bytes reported, then the pack and the floats (both transferred)", async (t) => {
  const { layout, u8 } = packOf();
  const posted = [];
  t.mock.method(globalThis, "fetch", async (url) => {
    assert.equal(url, "http://h/live/e/weights.pack");
    return new Response(new ReadableStream({ start: (c) => (c.enqueue(u8.slice(0, 20)), c.enqueue(u8.slice(20)), c.close()) }));
  });
  globalThis.postMessage = (message, transfer) => posted.push([message, transfer]);
  try {
    await work({ url: "http://h/live/e/weights.pack", layout });
    const sizes = posted.filter(([m]) => m.bytes != null);
    assert.equal(sizes.reduce((a, [m]) => a + m.bytes, 0), 64);
    assert.ok(sizes.at(-1)[0].fetched);
    const [last, transfer] = posted.at(-1);
    assert.deepEqual(last.pack, u8);
    assert.deepEqual(last.out, floatWeights(layout, u8.buffer));
    assert.deepEqual(transfer, [last.pack.buffer, last.out.buffer]);
    t.mock.method(globalThis, "fetch", async () => new Response("missing", { status: 404 }));
    await assert.rejects(work({ url: "http://h/live/e/weights.pack", layout }), /could not fetch e\/weights\.pack \(HTTP 404\)/);
  } finally {
    delete globalThis.postMessage;
  }
});
