// The neuron view's script (js/explorables-neuron.iife.js).
export { NeuronView } from "./neuron-view.js";
