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
 * Raster cost of one line `length` px long (a bound: clipped height + width), `width` px wide, in px of thin line.
 * Chromium's software rasteriser draws a line under 1 px wide as a hairline (cost ~ length) but outlines and fills a
 * wider one: measured at 256 tokens (benchmarks/peer.py pages, 1 M-unit chunks), a line of 1.1-3 px took about
 * THICK times as long per px of length x width as a thin one.
 */
export const THICK = 4;
export const lineCost = (length, width) => (width < 1 ? length : THICK * length * width);

/**
 * Batches of segments from the left edge (x0) to the right edge (x1) of the figure, in band coordinates.
 * `heads`: [{head, m (n x k row-major weights: n query rows, k key columns; n defaults to k), n, k, rows}] (rows,
 * optional: a sparse layer's kept entries, {start, col, val, base}: row i's are start[base + i] .. start[base + i + 1]); `query(i)` / `key(j)`: whether row i / column j is drawn;
 * `band`: [top, bottom) in figure pixels (query row i's centre, like key j's, is at i * ROW + ROW / 2).
 * Returns [{head, bucket, coords: Float32Array [y0, y1, ...] (relative to band top), cost}], strongest bucket first
 * (heads ascending within a bucket); cost estimates the raster work: sum of lineCost(clipped height + width, line width).
 */
export function batches(heads, query, key, band, x0, x1) {
  const [top, bottom] = band, span = x1 - x0, out = [];
  for (const { head, m, n, k, rows: sparse } of heads) {
    const rows = Array.from({ length: BUCKETS }, () => []), cost = new Float64Array(BUCKETS);
    for (let i = 0; i < (n ?? k); i++) {
      if (!query(i)) continue;
      const ya = i * ROW + ROW / 2;
      // a sparse layer (rows: its kept entries, row by row) is read entry by entry, a dense one cell by cell
      const e0 = sparse ? sparse.start[sparse.base + i] : 0, e1 = sparse ? sparse.start[sparse.base + i + 1] : k;
      for (let e = e0; e < e1; e++) {
        const j = sparse ? sparse.col[e] : e, w = sparse ? sparse.val[e] : m[i * k + j];
        if (w < MIN) continue;
        const yb = j * ROW + ROW / 2, lo = Math.min(ya, yb), hi = Math.max(ya, yb);
        if (hi < top - 3 || lo > bottom + 3 || !key(j)) continue;
        const b = Math.min(BUCKETS - 1, (w * BUCKETS) | 0);
        rows[b].push(ya - top, yb - top);
        cost[b] += lineCost(Math.min(hi, bottom) - Math.max(lo, top) + span, widthOf(b));
      }
    }
    rows.forEach((c, b) => c.length && out.push({ head, bucket: b, coords: Float32Array.from(c), cost: cost[b] }));
  }
  return out.sort((a, b) => b.bucket - a.bucket || a.head - b.head);
}

/** Split batches (already in drawing order) into consecutive chunks of total cost <= budget (the first chunk
 * <= first: its frame carries the planning too); a batch costlier than its chunk's budget is a chunk of its own (it
 * is one stroke). Returns a list of lists. */
export function chunks(list, budget, first = budget) {
  const out = [];
  let cur = [], sum = 0;
  for (const b of list) {
    if (cur.length && sum + b.cost > (out.length ? budget : first)) out.push(cur), (cur = []), (sum = 0);
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

/**
 * How to cache the lines as one bitmap per head and layer (head-view.js composites the shown heads' bitmaps, so a
 * head toggle or a switch to a prepared layer strokes nothing): the bitmaps' pixel scale and how many layers fit.
 * `dpr`: device pixel ratio; `width`, `height`: the drawn band in CSS px; `heads`: bitmaps per layer; `budget`:
 * bytes for all bitmaps (RGBA, 4 bytes a pixel); `most`: layers wanted at most.
 * The scale is the device pixel ratio, at most 2 (at 3, 12 heads of a 1,600 px band of a phone take 2.25 times the
 * memory and raster time of scale 2), lowered to 1 when not even one layer fits at that scale.
 * Returns {scale, layers (0: no cache), bytes (one layer)}.
 */
export function cachePlan(dpr, width, height, heads, budget, most = 3) {
  const bytesAt = (s) => Math.round(width * s) * Math.round(height * s) * 4 * heads;
  let scale = Math.max(1, Math.min(2, dpr || 1));
  if (bytesAt(scale) > budget) scale = 1;
  const bytes = bytesAt(scale), layers = bytes > 0 ? Math.min(most, Math.floor(budget / bytes)) : 0;
  return { scale, layers, bytes };
}

/**
 * The layers whose bitmaps to keep, in the order to prepare them: the shown `layer`, the one shown before it
 * (`previous`, if any: readers compare two layers back and forth), then the nearest others of 0 .. L - 1, the next
 * before the previous; at most n.
 */
export function nearLayers(layer, L, n, previous = -1) {
  const out = [layer];
  if (previous >= 0 && previous < L && previous !== layer) out.push(previous);
  for (let d = 1; d < L && out.length < n; d++) {
    for (const l of [layer + d, layer - d]) if (l >= 0 && l < L && !out.includes(l) && out.length < n) out.push(l);
  }
  return out.slice(0, Math.max(0, n));
}
