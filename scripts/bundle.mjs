// Makes the widgets' classic scripts from the ES modules of generator/assets/js (npm run bundle; committed, so a
// site build never needs Node; tests/test_bundle.py fails when they are older than the modules).
//
//   node scripts/bundle.mjs [OUTDIR]        (default generator/assets/bundle)
//
// Writes, minified by esbuild:
// - explorables.iife.js: the core, every module that two or more groups of views use, plus loader.js; it exposes
//   them as globalThis.explorables.modules and starts the loader;
// - explorables-<group>.iife.js for each group listed in explorables.js (`export * from "./views-<group>.js"`): that
//   group's own modules; its imports of core modules read globalThis.explorables.modules, and it queues itself on
//   globalThis.explorablesQueue so it may arrive before the core;
// - explorables-export.iife.js: the drawing code of the views' "save PNG" / "save SVG" buttons (figure.js), which
//   export.js loads on the first click;
// - explorables.css: the stylesheet (assets/css/explorables.css) minified;
// - views.json: {element tag: group}, which the Python side reads to give each page the scripts of its views.
// Pages load the core and their own groups only, so no page pays for views it does not show (issue 14's budget).
import * as esbuild from "esbuild";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const JS = join(REPO, "generator", "assets", "js");
const OUT = resolve(process.argv[2] || join(REPO, "generator", "assets", "bundle"));
const COMMON = {
  bundle: true, format: "iife", minify: true, legalComments: "none", charset: "utf8", write: false,
  logOverride: { "empty-import-meta": "silent" }, logLevel: "warning",
};

const groups = [...readFileSync(join(JS, "explorables.js"), "utf8").matchAll(/^export \* from "\.\/views-([a-z]+)\.js";/gm)]
  .map((m) => m[1]);
if (!groups.length) throw new Error("explorables.js lists no group (export * from \"./views-<group>.js\")");

// {tag: group}, from the classes themselves (their modules load in Node with a stand-in registry).
globalThis.customElements ??= { get: () => undefined, define() {} };
const tags = {};
for (const group of groups) {
  for (const View of Object.values(await import(join(JS, `views-${group}.js`)))) {
    if (tags[View.tag]) throw new Error(`<${View.tag}> is in two groups: ${tags[View.tag]} and ${group}`);
    tags[View.tag] = group;
  }
}

const entry = (contents) => ({ stdin: { contents, resolveDir: JS, sourcefile: "(entry)", loader: "js" } });
const groupEntry = (group) => `import * as views from "./views-${group}.js";\nimport { define } from "./loader.js";\ndefine(views);\n`;

// The core: modules in two or more groups' graphs, and the loader's own.
const uses = new Map();
for (const group of groups) {
  const { metafile } = await esbuild.build({ ...COMMON, ...entry(groupEntry(group)), metafile: true, minify: false });
  for (const input of Object.keys(metafile.inputs)) {
    if (input.endsWith("(entry)")) continue;
    uses.set(input, (uses.get(input) || 0) + 1);
  }
}
const core = [...uses].filter(([, n]) => n > 1).map(([input]) => relative(JS, resolve(REPO, input))).sort();
if (!core.includes("loader.js")) throw new Error("loader.js is not shared by the groups");

const coreEntry = core.map((name, i) => `import * as m${i} from "./${name}";`).join("\n") + `
globalThis.explorables = { modules: { ${core.map((name, i) => `${JSON.stringify(name)}: m${i}`).join(", ")} } };
m${core.indexOf("loader.js")}.start(${JSON.stringify(tags)}, typeof document < "u" && document.currentScript ? document.currentScript.src : "");
`;

// In a group, an import of a core module reads it from the core.
const fromCore = {
  name: "from-core",
  setup(build) {
    build.onResolve({ filter: /^\.\.?\// }, (args) => {
      const name = relative(JS, resolve(args.resolveDir, args.path));
      return core.includes(name) ? { path: name, namespace: "core" } : undefined;
    });
    build.onLoad({ filter: /.*/, namespace: "core" }, (args) => ({
      contents: `module.exports = globalThis.explorables.modules[${JSON.stringify(args.path)}];`, loader: "js",
    }));
  },
};

const outputs = { "explorables.iife.js": await esbuild.build({ ...COMMON, ...entry(coreEntry) }) };
for (const group of groups) {
  outputs[`explorables-${group}.iife.js`] = await esbuild.build({
    ...COMMON, ...entry(groupEntry(group)), plugins: [fromCore],
    banner: { js: "(self.explorablesQueue=self.explorablesQueue||[]).push(function(){" }, footer: { js: "});" },
  });
}
// The drawing code of "save PNG" / "save SVG" (figure.js), loaded by export.js on the first click: no page pays for it
// up front. Like a group, it reads the core's modules and queues itself.
outputs["explorables-export.iife.js"] = await esbuild.build({
  ...COMMON, ...entry(`import * as figure from "./figure.js";\nglobalThis.explorables.figure = figure;\n`), plugins: [fromCore],
  banner: { js: "(self.explorablesQueue=self.explorablesQueue||[]).push(function(){" }, footer: { js: "});" },
});
if (core.includes("figure.js")) throw new Error("figure.js is loaded on demand: no view may import it");
// The widgets' stylesheet, minified (the pages' 30 KB budget counts it).
const css = await esbuild.build({ ...COMMON, entryPoints: [join(REPO, "generator", "assets", "css", "explorables.css")] });
outputs["explorables.css"] = css;
mkdirSync(OUT, { recursive: true });
for (const [name, result] of Object.entries(outputs)) writeFileSync(join(OUT, name), result.outputFiles[0].contents);
const sorted = Object.fromEntries(Object.entries(tags).sort(([a], [b]) => (a < b ? -1 : 1)));
writeFileSync(join(OUT, "views.json"), JSON.stringify(sorted, null, 2) + "\n");
console.log(`core: ${core.join(", ")}\ngroups: ${groups.join(", ")}`);
