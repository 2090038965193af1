// The one registration list (explorables.js): every view class listed there is defined under its own static tag,
// once, and every view element the Python side writes into pages is among them.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";

const defined = new Map();
globalThis.customElements = {
  get: (tag) => defined.get(tag),
  define(tag, cls) {
    if (defined.has(tag)) throw new Error(`${tag} defined twice`);
    defined.set(tag, cls);
  },
};

const views = await import("../../generator/assets/js/explorables.js");
const { View } = await import("../../generator/assets/js/view.js");

test("each listed view is defined once, under the tag its class declares", () => {
  const listed = Object.values(views);
  assert.ok(listed.length >= 4);
  assert.equal(defined.size, listed.length, "one element per listed view");
  for (const cls of listed) {
    assert.ok(cls.prototype instanceof View, `${cls.name} extends View`);
    assert.equal(defined.get(cls.tag), cls, `${cls.tag} is ${cls.name}`);
    assert.match(cls.tag, /^explorable-[a-z]+(-[a-z]+)*$/);
  }
});

test("every view element written by the generator (Python) is defined by the list", () => {
  const root = new URL("../../generator/", import.meta.url).pathname, written = new Set();
  const walk = (dir) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      if (e.isDirectory() && e.name !== "assets" && !e.name.startsWith("__")) walk(join(dir, e.name));
      else if (e.name.endsWith(".py")) for (const m of readFileSync(join(dir, e.name), "utf8").matchAll(/["'](explorable-[a-z-]+-view)["']/g)) written.add(m[1]);
    }
  };
  walk(root);
  assert.ok(written.size >= 4, `found the view elements in the Python sources: ${[...written]}`);
  for (const tag of written) assert.ok(defined.has(tag), `<${tag}> is written into pages but no listed view declares it`);
});
