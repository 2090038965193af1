// The selection shared by the views of one .explorable container, and how a view follows it across its lifecycle.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createSelection, selection } from "../../generator/assets/js/selection.js";
import { View } from "../../generator/assets/js/view.js";

test("set merges a patch and tells every subscriber, each time; unsubscribe stops the calls", () => {
  const store = createSelection(), seen = [];
  const off = store.subscribe((patch, fields) => seen.push(["a", patch, fields]));
  store.subscribe((patch) => seen.push(["b", patch]));
  store.set({ layer: 3, head: 1 });
  store.set({ hideSpecial: true });
  store.set({ hideSpecial: true }); // the same value again is a repeated action: told again
  assert.deepEqual(store.get(), { layer: 3, head: 1, hideSpecial: true });
  assert.deepEqual(seen.slice(0, 3), [
    ["a", { layer: 3, head: 1 }, { layer: 3, head: 1 }],
    ["b", { layer: 3, head: 1 }],
    ["a", { hideSpecial: true }, { layer: 3, head: 1, hideSpecial: true }],
  ]);
  assert.equal(seen.length, 6);
  off();
  store.set({ token: null });
  assert.deepEqual(seen.at(-1), ["b", { token: null }]);
  assert.equal(seen.length, 7);
});

test("a field outside the list is refused, and nothing is changed or told", () => {
  const store = createSelection(), seen = [];
  store.subscribe((patch) => seen.push(patch));
  assert.throws(() => store.set({ layer: 1, hide: true }), /unknown selection field "hide"/);
  assert.deepEqual(store.get(), {});
  assert.deepEqual(seen, []);
});

test("what get() returns is a copy: changing it does not change the store", () => {
  const store = createSelection();
  store.set({ layer: 2 });
  store.get().layer = 7;
  assert.equal(store.get().layer, 2);
});

test("one store per container element; no container gives a private store", () => {
  const boxA = {}, boxB = {};
  assert.equal(selection(boxA), selection(boxA));
  assert.notEqual(selection(boxA), selection(boxB));
  selection(boxA).set({ token: 4 });
  assert.deepEqual(selection(boxB).get(), {});
  assert.notEqual(selection(null), selection(null));
});

// -- a view follows its container's selection while connected ---------------------------------------------------

globalThis.document = { body: { dataset: {} } };
globalThis.MutationObserver = class { observe() {} disconnect() {} };
globalThis.requestAnimationFrame = (fn) => setTimeout(fn, 0);
globalThis.cancelAnimationFrame = (id) => clearTimeout(id);

/** A view element stand-in in container `box` (no IntersectionObserver here: a view starts on the next tick). */
class Probe extends View {
  constructor(box) {
    super();
    Object.assign(this, { box, dataset: {}, classList: { add() {} }, isConnected: false, followed: [] });
  }
  closest() { return this.box; }
  build() { this.state = { layer: 0 }; }
  draw() {}
  follow(patch) { this.followed.push(patch); }
  connect() { this.isConnected = true; this.connectedCallback(); }
  disconnect() { this.isConnected = false; this.disconnectedCallback(); }
}

const tick = () => new Promise((r) => setTimeout(r, 5));
const container = () => ({ dataset: { payload: JSON.stringify({ schema_version: 1, tokens: [] }) } });

test("views of one container follow what the others write, only while connected, and catch up when built", async () => {
  const box = container(), other = container();
  const first = new Probe(box), stranger = new Probe(other);
  first.connect();
  stranger.connect();
  await tick();
  assert.equal(first.dataset.state, "ready");
  selection(box).set({ layer: 5, head: 2 });
  assert.deepEqual(first.followed, [{ layer: 5, head: 2 }]);
  assert.deepEqual(stranger.followed, [], "another container's selection is not this one's");

  const late = new Probe(box); // built after the choice: takes it up once, before its first paint
  late.connect();
  await tick();
  assert.deepEqual(late.followed, [{ layer: 5, head: 2 }]);

  first.disconnect();
  selection(box).set({ hideSpecial: true });
  assert.equal(first.followed.length, 1, "a disconnected view does not listen");
  assert.deepEqual(late.followed.at(-1), { hideSpecial: true });
  first.connect();
  await tick();
  selection(box).set({ token: 3 });
  assert.deepEqual(first.followed.at(-1), { token: 3 }, "reconnected, it listens again");
  assert.equal(first.followed.length, 2);
});

test("share() sets the view's own state and writes the same fields to the container's selection", async () => {
  const box = container(), writer = new Probe(box), reader = new Probe(box);
  writer.connect();
  reader.connect();
  await tick();
  writer.share({ layer: 4 });
  assert.equal(writer.state.layer, 4);
  assert.deepEqual(selection(box).get(), { layer: 4 });
  assert.deepEqual(reader.followed, [{ layer: 4 }]);
});
