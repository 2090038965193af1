// The explanation methods' view script (js/explorables-explanations.iife.js).
export { ExplanationsView } from "./explanations-view.js";
