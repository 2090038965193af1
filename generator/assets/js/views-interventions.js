// The interventions views' script (js/explorables-interventions.iife.js): head knockout, attention editing and
// activation patching (payload section "interventions").
export { KnockoutView } from "./knockout-view.js";
export { EditingView } from "./editing-view.js";
export { PatchingView } from "./patching-view.js";
