// The input saliency view's script (js/explorables-saliency.iife.js).
export { SaliencyView } from "./saliency-view.js";
