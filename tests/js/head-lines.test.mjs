// The head view's line planning: band culling, weight buckets, drawing order and chunking, the band around the view.
import { test } from "node:test";
import assert from "node:assert/strict";
import { ROW, BUCKETS, MIN, THICK, batches, chunks, bandOf, outside, lineCost, widthOf, cachePlan, nearLayers } from "../../generator/assets/js/head-lines.js";

// a deterministic pseudo-random k x k matrix with rows summing to 1 and many weights below MIN
function matrix(k, seed) {
  let s = seed;
  const rand = () => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648);
  const m = new Float32Array(k * k);
  for (let i = 0; i < k; i++) {
    let sum = 0;
    for (let j = 0; j < k; j++) sum += m[i * k + j] = rand() ** 6;
    for (let j = 0; j < k; j++) m[i * k + j] /= sum;
  }
  return m;
}

const centre = (i) => i * ROW + ROW / 2;

test("batches() holds exactly the lines of weight >= MIN that cross the band, in their weight's bucket", () => {
  const k = 40, heads = [{ head: 2, m: matrix(k, 7), k }, { head: 5, m: matrix(k, 11), k }];
  const query = (i) => i % 3 !== 1, key = (j) => j !== 4, band = [300, 600];
  const got = new Map();
  for (const b of batches(heads, query, key, band, 3, 197))
    for (let c = 0; c < b.coords.length; c += 2) {
      const id = `${b.head}:${b.coords[c] + band[0]}:${b.coords[c + 1] + band[0]}`;
      got.set(id, (got.get(id) || []).concat(b.bucket));
    }
  // expected, enumerated directly: y positions identify rows and columns one to one
  const want = new Map();
  for (const { head, m } of heads)
    for (let i = 0; i < k; i++)
      for (let j = 0; j < k; j++) {
        const w = m[i * k + j], lo = Math.min(centre(i), centre(j)), hi = Math.max(centre(i), centre(j));
        if (w >= MIN && query(i) && key(j) && hi >= band[0] - 3 && lo <= band[1] + 3)
          want.set(`${head}:${centre(i)}:${centre(j)}`, [Math.min(BUCKETS - 1, Math.floor(w * BUCKETS))]);
      }
  assert.ok(want.size > 100, "the case should exercise many lines");
  assert.deepEqual([...got.keys()].sort(), [...want.keys()].sort());
  for (const [id, buckets] of want) assert.deepEqual(got.get(id), buckets, id);
});

test("batches() come strongest bucket first, heads ascending within a bucket, one batch per head and bucket", () => {
  const k = 30, heads = [{ head: 0, m: matrix(k, 3), k }, { head: 1, m: matrix(k, 5), k }, { head: 4, m: matrix(k, 9), k }];
  const list = batches(heads, () => true, () => true, [0, k * ROW], 3, 100);
  for (let i = 1; i < list.length; i++) {
    const a = list[i - 1], b = list[i];
    assert.ok(a.bucket > b.bucket || (a.bucket === b.bucket && a.head < b.head), `${a.bucket}/${a.head} before ${b.bucket}/${b.head}`);
  }
  assert.ok(list[0].bucket > 0 && list.at(-1).bucket === 0);
  assert.ok(list.every((b) => b.cost > 0 && b.coords.length >= 2));
});

test("chunks() keep the order, lose nothing, and stay within the budget unless one batch alone exceeds it", () => {
  const list = [5, 1, 7, 3, 3, 12, 2, 2, 2].map((cost, i) => ({ cost, i }));
  const out = chunks(list, 8);
  assert.deepEqual(out.flat().map((b) => b.i), list.map((b) => b.i));
  for (const c of out) {
    const sum = c.reduce((s, b) => s + b.cost, 0);
    assert.ok(sum <= 8 || c.length === 1, JSON.stringify(c));
  }
  assert.deepEqual(out.map((c) => c.map((b) => b.cost)), [[5, 1], [7], [3, 3], [12], [2, 2, 2]]);
  assert.equal(chunks(list, Infinity).length, 1);
  // a smaller first chunk: [5] alone (5 + 1 > 5), then the budget of 8 as before
  assert.deepEqual(chunks(list, 8, 5).map((c) => c.map((b) => b.cost)), [[5], [1, 7], [3, 3], [12], [2, 2, 2]]);
  assert.deepEqual(chunks([], 10), []);
});

test("bandOf() draws a short figure whole and a tall one around the viewport, inside the figure", () => {
  assert.deepEqual(bandOf(900, 400, 800, 1600), [0, 900]);
  for (const [height, seen, view] of [[5632, -300, 800], [5632, 2000, 800], [5632, 5400, 800], [5632, 6000, 800]]) {
    const [top, bottom] = bandOf(height, seen, view, 1600);
    assert.equal(bottom - top, 1600);
    assert.ok(top >= 0 && bottom <= height);
    const a = Math.max(0, seen), b = Math.min(height, seen + view); // the visible part of the figure
    if (b > a) assert.ok(top <= a && bottom >= b, `[${top}, ${bottom}) should hold [${a}, ${b})`);
    assert.equal(outside([top, bottom], height, seen, view), false);
  }
});

test("outside() says when scrolling has left the drawn band, never at the figure's own ends", () => {
  const band = bandOf(5632, 2000, 800, 1600); // [1600, 3200)
  assert.deepEqual(band, [1600, 3200]);
  assert.equal(outside(band, 5632, 1700, 800), false);
  assert.equal(outside(band, 5632, 1500, 800), true);
  assert.equal(outside(band, 5632, 2500, 800), true);
  assert.equal(outside([0, 1600], 5632, -500, 800), false); // above the figure: nothing more to draw there
});

test("batches() reads a rectangular n x k matrix (cross-attention: n decoder queries, k encoder keys) row by row", () => {
  // 3 query rows x 5 key columns, written out by hand: every weight >= MIN except the zeros
  const n = 3, k = 5, m = Float32Array.from([0.5, 0.5, 0, 0, 0, 0, 0, 0, 0, 1, 0.2, 0.2, 0.2, 0.2, 0.2]);
  const lines = [];
  for (const b of batches([{ head: 0, m, n, k }], () => true, () => true, [0, 1000], 0, 100))
    for (let c = 0; c < b.coords.length; c += 2) lines.push([(b.coords[c] - ROW / 2) / ROW, (b.coords[c + 1] - ROW / 2) / ROW, b.bucket]);
  const want = [[0, 0, 10], [0, 1, 10], [1, 4, 19], [2, 0, 4], [2, 1, 4], [2, 2, 4], [2, 3, 4], [2, 4, 4]];
  assert.deepEqual(lines.map(String).sort(), want.map(String).sort());
});

test("batches() cost sums each line's raster cost: thin lines their length, wider ones THICK x length x width", () => {
  const k = 30, m = matrix(k, 13), band = [100, 500], x0 = 3, x1 = 203;
  for (const b of batches([{ head: 0, m, k }], () => true, () => true, band, x0, x1)) {
    let want = 0;
    for (let c = 0; c < b.coords.length; c += 2) {
      const lo = Math.min(b.coords[c], b.coords[c + 1]) + band[0], hi = Math.max(b.coords[c], b.coords[c + 1]) + band[0];
      const length = Math.min(hi, band[1]) - Math.max(lo, band[0]) + (x1 - x0), w = widthOf(b.bucket);
      want += w < 1 ? length : THICK * length * w;
    }
    assert.ok(Math.abs(b.cost - want) < 1e-6 * want, `bucket ${b.bucket}: ${b.cost} vs ${want}`);
  }
  assert.equal(lineCost(100, 0.6), 100);
  assert.equal(lineCost(100, 2), 100 * 2 * THICK);
});

test("cachePlan() fits whole layers of bitmaps in the budget, at the device's scale up to 2, else at 1", () => {
  const layer = (w, h, s, heads) => Math.round(w * s) * Math.round(h * s) * 4 * heads;
  // desktop: 260 x 1600 CSS px, 12 heads at scale 1 take 19.97 MB: two fit in 48 MB
  assert.deepEqual(cachePlan(1, 260, 1600, 12, 48e6), { scale: 1, layers: 2, bytes: layer(260, 1600, 1, 12) });
  // a phone at dpr 3 is cached at scale 2: 120 x 1600 x 4 (scale 2 squared) x 4 bytes x 12 heads = 36.9 MB, one layer
  assert.deepEqual(cachePlan(3, 120, 1600, 12, 48e6), { scale: 2, layers: 1, bytes: layer(120, 1600, 2, 12) });
  // too wide for one layer at scale 2: scale 1
  const wide = cachePlan(2, 400, 1600, 12, 48e6);
  assert.equal(wide.scale, 1);
  assert.equal(wide.layers, Math.floor(48e6 / layer(400, 1600, 1, 12)));
  // never more than asked, none without a budget, none when even scale 1 does not fit
  assert.equal(cachePlan(1, 100, 100, 9, 1e9).layers, 3);
  assert.equal(cachePlan(1, 260, 1600, 12, 0).layers, 0);
  assert.equal(cachePlan(1, 2000, 1600, 30, 48e6).layers, 0);
  // fractional ratios round the bitmap like the canvas does
  assert.equal(cachePlan(1.5, 261, 1600, 1, 1e9).bytes, Math.round(261 * 1.5) * 2400 * 4);
});

test("nearLayers() keeps the shown layer, the one shown before, then the nearest, next before previous", () => {
  assert.deepEqual(nearLayers(0, 6, 3), [0, 1, 2]);
  assert.deepEqual(nearLayers(3, 6, 3), [3, 4, 2]);
  assert.deepEqual(nearLayers(3, 6, 2, 0), [3, 0]);
  assert.deepEqual(nearLayers(3, 6, 3, 0), [3, 0, 4]);
  assert.deepEqual(nearLayers(5, 6, 3), [5, 4, 3]);
  assert.deepEqual(nearLayers(2, 6, 3, 2), [2, 3, 1]); // "before" = the same layer: ignored
  assert.deepEqual(nearLayers(0, 1, 3), [0]);
  assert.deepEqual(nearLayers(4, 6, 0), []);
  assert.deepEqual(nearLayers(1, 30, 6, 20), [1, 20, 2, 0, 3, 4]);
});

test("batches() over a sparse layer's kept entries plans the same lines as over its dense rows", () => {
  // 3 x 3, head 1 of a 2-head layer: the rows' kept entries (columns ascending) and the dense matrix they make
  const m = Float32Array.from([0.5, 0, 0.5, 0, 1, 0, 0.2, 0.3, 0.5]);
  const rows = { start: Int32Array.from([0, 1, 2, 4, 6, 7, 10]), col: Int32Array.from([0, 1, 0, 2, 0, 2, 1, 0, 1, 2]),
    val: Float32Array.from([1, 1, 0.5, 0.5, 0.5, 0.5, 1, 0.2, 0.3, 0.5]), base: 3 };
  const all = () => true, band = [0, 3 * 22];
  const dense = batches([{ head: 1, m, n: 3, k: 3 }], all, all, band, 0, 100);
  const sparse = batches([{ head: 1, m, n: 3, k: 3, rows }], all, all, band, 0, 100);
  assert.deepEqual(sparse.map((b) => [b.bucket, [...b.coords]]), dense.map((b) => [b.bucket, [...b.coords]]));
});
