// theme.js, lazy.js and the keyboard helper with small stand-ins for the browser APIs they use.
import { test } from "node:test";
import assert from "node:assert/strict";

globalThis.document = { body: { dataset: { mdColorScheme: "default" } } };
const observers = [];
globalThis.MutationObserver = class {
  constructor(cb) { this.cb = cb; this.on = false; observers.push(this); }
  observe(target, opts) { this.on = true; this.target = target; this.opts = opts; }
  disconnect() { this.on = false; }
};
const ios = [];
globalThis.IntersectionObserver = class {
  constructor(cb, opts) { this.cb = cb; this.opts = opts; this.els = []; ios.push(this); }
  observe(el) { this.els.push(el); }
  disconnect() { this.els = []; }
};

const { dark, onTheme } = await import("../../generator/assets/js/theme.js");
const { whenNear } = await import("../../generator/assets/js/lazy.js");
const { move } = await import("../../generator/assets/js/view.js");

test("theme: one shared observer, subscribers told only on a real change, disconnect when nobody listens", () => {
  assert.equal(dark(), false);
  const seen = [];
  const off1 = onTheme((d) => seen.push(["a", d]));
  const off2 = onTheme((d) => seen.push(["b", d]));
  assert.equal(observers.length, 1);
  const mo = observers[0];
  assert.deepEqual(mo.opts.attributeFilter, ["data-md-color-scheme"]);
  document.body.dataset.mdColorScheme = "slate";
  mo.cb([]);
  mo.cb([]); // same value again: no second notification
  assert.deepEqual(seen, [["a", true], ["b", true]]);
  off1();
  assert.equal(mo.on, true);
  document.body.dataset.mdColorScheme = "default";
  mo.cb([]);
  assert.deepEqual(seen.at(-1), ["b", false]);
  assert.equal(seen.length, 3);
  off2();
  assert.equal(mo.on, false);
});

test("lazy: starts once when near the viewport, and can be cancelled", () => {
  let runs = 0;
  const el = {};
  whenNear(el, () => runs++);
  const io = ios.at(-1);
  assert.deepEqual(io.els, [el]);
  io.cb([{ isIntersecting: false }]);
  assert.equal(runs, 0);
  io.cb([{ isIntersecting: true }]);
  assert.equal(runs, 1);
  assert.deepEqual(io.els, []); // disconnected after starting
  const cancel = whenNear({}, () => runs++);
  cancel();
  assert.deepEqual(ios.at(-1).els, []);
});

test("grid keyboard moves are clamped; Home/End jump within the row", () => {
  assert.deepEqual(move("ArrowDown", 0, 0, 3, 4), [1, 0]);
  assert.deepEqual(move("ArrowUp", 0, 2, 3, 4), [0, 2]);
  assert.deepEqual(move("ArrowRight", 2, 3, 3, 4), [2, 3]);
  assert.deepEqual(move("ArrowLeft", 2, 3, 3, 4), [2, 2]);
  assert.deepEqual(move("Home", 1, 2, 3, 4), [1, 0]);
  assert.deepEqual(move("End", 1, 0, 3, 4), [1, 3]);
  assert.equal(move("a", 1, 1, 3, 4), null);
});

test("lazy: elements already in view start after one microtask, their positions read together before any starts", async () => {
  const log = [];
  globalThis.innerHeight = 800;
  const el = (name, top, height = 100) => ({ name, getBoundingClientRect: () => (log.push(`read ${name}`), { top, bottom: top + height, width: height ? 300 : 0, height }) });
  const started = [];
  whenNear(el("a", 100), () => (started.push("a"), log.push("start a")));
  whenNear(el("b", 1500), () => started.push("b"));           // far below: waits for the observer
  whenNear(el("c", 900), () => (started.push("c"), log.push("start c"))); // within the 200px margin
  whenNear(el("hidden", 0, 0), () => started.push("hidden")); // no box (display: none)
  const cancel = whenNear(el("d", 50), () => started.push("d"));
  cancel();
  assert.deepEqual(started, []);
  await Promise.resolve();
  assert.deepEqual(started, ["a", "c"]);
  assert.deepEqual(log.slice(0, 5), ["read a", "read b", "read c", "read hidden", "read d"]);
  const far = ios.at(-4); // b's observer, still watching; it starts b once, on its report
  assert.equal(far.els.length, 1);
  far.cb([{ isIntersecting: true }]);
  far.cb([{ isIntersecting: true }]);
  assert.deepEqual(started, ["a", "c", "b"]);
});
