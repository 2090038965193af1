// The classic scripts the site loads (scripts/bundle.mjs): group scripts that arrive before the core wait for it,
// every view is defined under its tag by its group's script, and the groups share the core's modules (one View
// class, one selection store), not copies of them.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import vm from "node:vm";

const dir = new URL("../../generator/assets/bundle/", import.meta.url);
const read = (name) => readFileSync(new URL(name, dir), "utf8");
const groups = JSON.parse(read("views.json"));

function page() {
  const defined = new Map();
  const context = {
    customElements: { get: (tag) => defined.get(tag), define: (tag, cls) => defined.set(tag, cls) },
    URL, queueMicrotask, setTimeout, clearTimeout, console,
  };
  context.self = context.globalThis = context;
  vm.createContext(context);
  return { context, defined, run: (name) => vm.runInContext(read(name), context, { filename: name }) };
}

test("group scripts that run before the core are queued, then define their views when the core runs", () => {
  const { context, defined, run } = page();
  const names = [...new Set(Object.values(groups))];
  for (const group of names) run(`explorables-${group}.iife.js`);
  assert.equal(defined.size, 0, "nothing is defined before the core");
  run("explorables.iife.js");
  assert.deepEqual([...defined.keys()].sort(), Object.keys(groups).sort());
  const { View } = context.explorables.modules["view.js"];
  for (const [tag, cls] of defined) {
    assert.ok(cls.prototype instanceof View, `${tag} extends the core's View, not a copy`);
    assert.equal(cls.tag, tag);
  }
});

test("a group script that runs after the core defines its views at once", () => {
  const { defined, run } = page();
  run("explorables.iife.js");
  assert.equal(defined.size, 0, "the core defines no view");
  run("explorables-lens.iife.js");
  const lens = Object.keys(groups).filter((tag) => groups[tag] === "lens");
  assert.ok(lens.length >= 3);
  assert.deepEqual([...defined.keys()].sort(), lens.sort());
});
