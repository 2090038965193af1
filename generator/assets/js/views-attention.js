// The attention views' script (js/explorables-attention.iife.js): one line per view it defines.
export { HeadView } from "./head-view.js";
export { ModelView } from "./model-view.js";
