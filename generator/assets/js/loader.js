// Defining views, and loading each group of views only on pages that use it.
//
// On the site the widgets come as classic scripts (scripts/bundle.mjs): the core (js/explorables.iife.js: the
// shared modules and this loader) and one script per group of views (js/explorables-<group>.iife.js). A page's own
// groups are requested by the page itself, next to the core (the plugin adds their tags), so both download at once;
// a group's script may run before the core, so it queues itself on `explorablesQueue` and runs when the core has.
// Views that arrive later (instant navigation swaps the page's content) make the loader request their group.
import { warm } from "./payload.js";

/** Defines each view class of `views` (an object of classes) under its `static tag`, unless already defined. */
export function define(views) {
  for (const View of Object.values(views)) customElements.get(View.tag) || customElements.define(View.tag, View);
}

const requested = new Set(); // URLs of the group scripts on the page or asked for

/**
 * Starts the loader of the core script.
 *
 * groups: {tag: group} for every view; base: the core script's URL (the groups' scripts sit beside it), or "" when
 * the code is inlined (a standalone file holds every group it needs, so nothing is loaded). Runs the group scripts
 * that arrived before the core, then requests the groups of the views on the page now and later.
 */
export function start(groups, base) {
  const queued = globalThis.explorablesQueue || [];
  globalThis.explorablesQueue = { push: (run) => run() };
  if (typeof document !== "undefined") warm(document);
  queued.forEach((run) => run());
  if (!base || typeof document === "undefined") return;
  const sources = Object.entries(groups).map(([tag, group]) => [tag, new URL(`explorables-${group}.iife.js`, base).href]);
  let pending = false, watch = null;
  const scan = () => {
    pending = false;
    for (const [tag, src] of sources) {
      if (requested.has(src) || customElements.get(tag) || !document.querySelector(tag)) continue;
      requested.add(src);
      const script = document.createElement("script");
      script.src = src;
      script.async = true;
      document.head.append(script);
    }
    // every group asked for: nothing left to watch the document for
    if (watch && sources.every(([, src]) => requested.has(src))) watch.disconnect();
  };
  const go = () => {
    for (const script of document.scripts) requested.add(script.src);
    if (typeof MutationObserver === "function") {
      watch = new MutationObserver(() => pending || ((pending = true), queueMicrotask(scan)));
      watch.observe(document.documentElement, { childList: true, subtree: true });
    }
    scan();
  };
  // While the page is parsed, its own group scripts may still lie ahead of the parser: wait for them all.
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", go, { once: true });
  else go();
}
