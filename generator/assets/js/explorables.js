// Entry module of the widgets as ES modules: every view, defined under its `static tag`. The views come in groups,
// one module each (views-<group>.js, one line per view); the site loads each group as a classic script of its own,
// only on the pages that use it (scripts/bundle.mjs, loader.js). Adding a view: write its module, add its line to a
// group (or a new group, listed here); see ARCHITECTURE.md.
export * from "./views-attention.js";
export * from "./views-lens.js";
export * from "./views-saliency.js";
export * from "./views-factors.js";
export * from "./views-explanations.js";
export * from "./views-neuron.js";
export * from "./views-counterfactuals.js";
export * from "./views-interventions.js";
export * from "./views-live.js";
import * as views from "./explorables.js"; // this module's own exports: the list above
import { define } from "./loader.js";

define(views);
