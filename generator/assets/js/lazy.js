// Start work only when an element comes near the viewport.
//
// An element already in view when it connects (the first figures of a page) starts at once: its position is read in
// a microtask, for every element connected in the same turn together (one layout), instead of waiting a rendered
// frame for the IntersectionObserver's first report (benchmarks/RESULTS.md: first figure).
let batch = null; // [element, start, margin in px] connected in this turn, read together

/** Calls fn once when el is within `margin` of the viewport. Returns a cancel function. */
export function whenNear(el, fn, margin = "200px") {
  if (typeof IntersectionObserver !== "function") {
    const t = setTimeout(fn);
    return () => clearTimeout(t);
  }
  let live = true;
  const start = () => {
    if (!live) return;
    live = false;
    io.disconnect();
    fn();
  };
  const io = new IntersectionObserver((es) => es.some((e) => e.isIntersecting) && start(), { rootMargin: margin });
  io.observe(el);
  if (typeof el.getBoundingClientRect === "function") {
    if (!batch) queueMicrotask(readBatch), (batch = []);
    batch.push([el, start, parseFloat(margin) || 0]);
  }
  return () => {
    live = false;
    io.disconnect();
  };
}

function readBatch() {
  const items = batch, view = globalThis.innerHeight || 0;
  batch = null;
  const rects = items.map(([el]) => el.getBoundingClientRect()); // all reads first: one layout
  items.forEach(([, start, m], i) => {
    const r = rects[i];
    if ((r.width || r.height) && r.bottom >= -m && r.top <= view + m) start();
  });
}
