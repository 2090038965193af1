// The head view's lines, planned for drawing: only those crossing the drawn band of the figure, grouped by head and
// weight bucket (one stroke each: one colour, opacity and width), strongest buckets first, cut into chunks that fit a
// raster budget. Pure: no DOM, no canvas (head-view.js strokes the batches).
//
// Why: the canvas rasteriser's cost is the stroked area (line length x width). At 256 tokens a layer holds 25,000 to
// 55,000 lines of up to 5,600 px, seconds of software raster; most of them are faint (weight < 0.05, opacity 0.025).
// Drawing only the band in view, strongest lines first and the faint rest over the next frames, keeps the first frame
// after a change small and no frame long (benchmarks/peer.py, benchmarks/RESULTS.md).

export const ROW = 22, BUCKETS = 20, MIN = 0.01;

/** Opacity and width of weight bucket b (0 .. BUCKETS - 1; a weight w falls in min(BUCKETS - 1, floor(w * BUCKETS))). */
export const alphaOf = (b) => (b + 0.5) / BUCKETS;
export const widthOf = (b) => 0.6 + (2.4 * b) / BUCKETS;

/**
 * Batches of segments from the left edge (x0) to the right edge (x1) of the figure, in band coordinates.
 * `heads`: [{head, m (n x k row-major weights: n query rows, k key columns; n defaults to k), n, k}]; `query(i)` / `key(j)`: whether row i / column j is drawn;
 * `band`: [top, bottom) in figure pixels (query row i's centre, like key j's, is at i * ROW + ROW / 2).
 * Returns [{head, bucket, coords: Float32Array [y0, y1, ...] (relative to band top), cost}], strongest bucket first
 * (heads ascending within a bucket); cost estimates the stroked area in px: sum of (clipped height + width) x max(1, line width).
 */
export function batches(heads, query, key, band, x0, x1) {
  const [top, bottom] = band, span = x1 - x0, out = [];
  for (const { head, m, n, k } of heads) {
    const rows = Array.from({ length: BUCKETS }, () => []), cost = new Float64Array(BUCKETS);
    for (let i = 0; i < (n ?? k); i++) {
      if (!query(i)) continue;
      const ya = i * ROW + ROW / 2;
      for (let j = 0; j < k; j++) {
        const w = m[i * k + j];
        if (w < MIN) continue;
        const yb = j * ROW + ROW / 2, lo = Math.min(ya, yb), hi = Math.max(ya, yb);
        if (hi < top - 3 || lo > bottom + 3 || !key(j)) continue;
        const b = Math.min(BUCKETS - 1, (w * BUCKETS) | 0);
        rows[b].push(ya - top, yb - top);
        cost[b] += (Math.min(hi, bottom) - Math.max(lo, top) + span) * Math.max(1, widthOf(b));
      }
    }
    rows.forEach((c, b) => c.length && out.push({ head, bucket: b, coords: Float32Array.from(c), cost: cost[b] }));
  }
  return out.sort((a, b) => b.bucket - a.bucket || a.head - b.head);
}

/** Split batches (already in drawing order) into consecutive chunks of total cost <= budget; a batch costlier than
 * the budget is a chunk of its own (it is one stroke). Returns a list of lists. */
export function chunks(list, budget) {
  const out = [];
  let cur = [], sum = 0;
  for (const b of list) {
    if (cur.length && sum + b.cost > budget) out.push(cur), (cur = []), (sum = 0);
    cur.push(b);
    sum += b.cost;
  }
  if (cur.length) out.push(cur);
  return out;
}

/**
 * The band of the figure to draw: all of it when it is at most `most` px tall, else `most` px around the part in
 * view (figure-relative top of the viewport `seen`, viewport height `view`), clamped to the figure.
 * Returns [top, bottom).
 */
export function bandOf(height, seen, view, most) {
  if (height <= most) return [0, height];
  const top = Math.round(Math.min(height - most, Math.max(0, seen - (most - view) / 2)));
  return [top, top + most];
}

/** Whether the viewport ([seen, seen + view) in figure pixels) has left the safe part of a drawn band. */
export const outside = (band, height, seen, view) =>
  (band[0] > 0 && seen < band[0]) || (band[1] < height && seen + view > band[1]);
