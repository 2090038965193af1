// The counterfactual views' script (js/explorables-counterfactuals.iife.js).
export { ContrastView } from "./contrast-view.js";
export { AttentionCounterfactualView } from "./attention-counterfactual-view.js";
