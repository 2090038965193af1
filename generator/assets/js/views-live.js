// The live control's script (js/explorables-live.iife.js): "try your own text" on live blocks (generator/live/).
export { LiveView } from "./live-view.js";
