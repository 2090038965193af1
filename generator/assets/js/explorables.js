// Entry module: the list of views, one line each. A view class names its element in `static tag`; the loop at the
// end defines every view listed here. (Adding a view: write its module, add its line here; see ARCHITECTURE.md.)
export { HeadView } from "./head-view.js";
export { ModelView } from "./model-view.js";
export { SaliencyView } from "./saliency-view.js";
export { FactorView } from "./factor-view.js";
export { LayersView } from "./layers-view.js";
export { RanksView } from "./ranks-view.js";
export { ProbabilitiesView } from "./probabilities-view.js";
export { ExplanationsView } from "./explanations-view.js";
export { NeuronView } from "./neuron-view.js";

// Shared modules are listed too, so the browser fetches the whole module graph in one round trip.
import "./payload.js";
import "./lazy.js";
import "./theme.js";
import "./selection.js";
import "./view.js";
import "./token-list.js";
import "./tokens.js";
import "./colour.js";
import "./attention.js";
import "./saliency.js";
import "./factors.js";
import "./lens.js";
import "./lens-grid.js";
import "./neuron.js";
import "./export.js";
import * as views from "./explorables.js"; // this module's own exports: the list above

for (const View of Object.values(views)) customElements.get(View.tag) || customElements.define(View.tag, View);
