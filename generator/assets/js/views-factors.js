// The neuron factors view's script (js/explorables-factors.iife.js).
export { FactorView } from "./factor-view.js";
