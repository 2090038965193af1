// The logit lens views' script (js/explorables-lens.iife.js): one line per view it defines.
export { LayersView } from "./layers-view.js";
export { RanksView } from "./ranks-view.js";
export { ProbabilitiesView } from "./probabilities-view.js";
