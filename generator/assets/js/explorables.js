// Entry module: registers the explorable custom elements. Add new views here.
// Shared modules are listed too, so the browser fetches the whole module graph in one round trip.
import "./payload.js";
import "./lazy.js";
import "./theme.js";
import "./view.js";
import "./tokens.js";
import "./colour.js";
import "./attention.js";
import "./export.js";
import "./head-view.js";
import "./model-view.js";
import "./factor-view.js";
import "./saliency-view.js";
import "./neuron.js";
import "./neuron-view.js";
import "./parts.js";
