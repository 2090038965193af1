// "save PNG" and "save SVG" buttons for a view. The drawing code (figure.js, its own classic script
// explorables-export.iife.js beside the core) is loaded on the first click, so pages that are only read never pay
// for it (benchmarks/RESULTS.md: page bytes); a standalone file inlines it.
import { h } from "./view.js";

// the core script's URL: the drawing script sits beside it (as ES modules: beside this one, where the bundle ships)
const HERE = globalThis.document?.currentScript?.src || import.meta.url;
const SCRIPT = "explorables-export.iife.js";
let loading = null;

/** Promise of the drawing module (figure.js), loading its script once. */
export function figure() {
  const got = () => globalThis.explorables?.figure;
  if (got()) return Promise.resolve(got());
  return (loading ??= new Promise((ok, fail) => {
    const done = (e) => (got() ? ok(got()) : ((loading = null), fail(new Error(`could not load ${SCRIPT} (${e.type})`))));
    document.head.append(h("script", { src: new URL(SCRIPT, HERE).href, onload: done, onerror: done }));
  }));
}

/**
 * The two buttons, side by side. `what()` gives [element to draw, caption, short name for the file, colour keys];
 * figure.js `save` adds the title, the model and the keys every figure may need.
 */
export function pngButton(view, what) {
  const button = (svg) => h("button", { type: "button", class: "xp-btn", "data-no-export": true,
    title: svg ? "Save this figure as an SVG image (text stays text; drawn heatmaps are embedded as pixels)" : "Save this figure as a PNG image",
    onclick: () => figure().then((f) => f.save(view, what, svg), (e) => console.error(e.message)) }, svg ? "save SVG" : "save PNG");
  return h("span", { class: "xp-save", "data-no-export": true }, button(false), button(true));
}
