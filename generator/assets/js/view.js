// Base class of every explorable view: lazy start, payload load, theme redraws, error display, the view's state
// object, the container's shared selection, and a safe lifecycle across Material's instant navigation
// (disconnect / reconnect).
// Sets data-state (loading | ready | error), data-draw-ms, data-first-paint-ms (first connect -> first
// paint done) and data-visible-paint-ms (scrolled near the viewport -> first paint done).
import { load, container } from "./payload.js";
import { whenNear } from "./lazy.js";
import { onTheme } from "./theme.js";
import { selection } from "./selection.js";

/** Resolves once every stylesheet link of the document has loaded: the widgets' script runs async, possibly before
 * the theme's styles (colours and sizes the views read) have arrived. */
export function styled() {
  const links = document.querySelectorAll?.('link[rel="stylesheet"]') || [];
  const pending = [...links].filter((l) => !l.sheet && !l.disabled);
  return Promise.all(pending.map((l) => new Promise((r) => (l.addEventListener("load", r), l.addEventListener("error", r)))));
}

/** Tiny DOM builder. Strings become text nodes; "on*" keys add listeners. */
export function h(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const k in attrs) {
    const v = attrs[k];
    if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (v != null && v !== false) e.setAttribute(k, v === true ? "" : v);
  }
  e.append(...kids);
  return e;
}

/** Roving focus / cursor move in an R x C grid; returns [r, c] or null for other keys. */
export function move(key, r, c, R, C) {
  const d = { ArrowUp: [-1, 0], ArrowDown: [1, 0], ArrowLeft: [0, -1], ArrowRight: [0, 1] }[key];
  if (d) return [Math.max(0, Math.min(R - 1, r + d[0])), Math.max(0, Math.min(C - 1, c + d[1]))];
  if (key === "Home") return [r, 0];
  if (key === "End") return [r, C - 1];
  return null;
}

/** A row of controls as one Tab stop: arrows (round the ends), Home and End move the focus, then call pick(index). */
export function roving(items, pick) {
  items.forEach((b, i) => {
    b.tabIndex = i ? -1 : 0;
    b.onkeydown = (e) => {
      const n = items.length, d = { ArrowLeft: -1, ArrowUp: -1, ArrowRight: 1, ArrowDown: 1 }[e.key];
      const j = d ? (i + d + n) % n : { Home: 0, End: n - 1 }[e.key];
      if (j == null) return;
      e.preventDefault();
      items.forEach((x, k) => (x.tabIndex = k === j ? 0 : -1));
      items[j].focus();
      pick?.(j);
    };
  });
  return items;
}

/** `kid` in a box scrolling sideways, data-more naming the sides with content out of sight (the CSS shades them). */
export function scroller(kid) {
  const box = h("div", { class: "xp-scroll" }, kid), wrap = h("div", { class: "xp-sw" }, box), sizes = new ResizeObserver(() => mark());
  const mark = () => {
    const x = box.scrollLeft;
    wrap.dataset.more = (x > 1 ? "left " : "") + (x < box.scrollWidth - box.clientWidth - 1 ? "right" : "");
  };
  box.onscroll = mark;
  sizes.observe(box);
  sizes.observe(kid);
  return wrap;
}

/**
 * A view is a custom element named by its class's `static tag` (listed in a views-<group>.js module, defined by
 * loader.js). What the reader chose lives in one object, `this.state`, changed with set(patch); what the views of one container share (layer,
 * head, token, hideSpecial: see selection.js) goes through `this.selection`, and arrives in follow(patch).
 * Subclasses: build(payload) once, draw() on every repaint, start()/stop() to (de)attach observers,
 * follow(patch) to take up what another view selected.
 */
export class View extends (globalThis.HTMLElement || class {}) { // (plain class outside browsers, for tests)
  state = {};

  connectedCallback() {
    this.classList.add("xp-view");
    this.connectedAt ??= performance.now();
    this.cancelStart?.();
    this.cancelStart = whenNear(this, () => this.go());
  }

  disconnectedCallback() {
    this.cancelStart?.();
    this.detach();
    this.cancelStart = null;
    cancelAnimationFrame(this.frame);
    this.frame = 0;
    if (this.ready) this.stop();
  }

  async go() {
    this.cancelStart = null;
    this.nearAt = performance.now();
    if (this.ready) return this.resume();
    if (this.busy || this.dataset.state === "error") return;
    this.busy = true;
    this.dataset.state = "loading";
    try {
      const p = (this.payload = await load(this));
      await styled();
      this.selection = selection(container(this));
      await this.build(p);
      const shared = this.selection.get(); // what linked views chose before this one was built
      if (Object.keys(shared).length) this.follow(shared);
      this.ready = true;
      this.dataset.state = "ready";
      if (this.isConnected) this.resume();
    } catch (e) {
      this.fail(e);
    }
    this.busy = false;
  }

  resume() {
    this.detach();
    this.unTheme = onTheme(() => this.redraw());
    this.unfollow = this.selection.subscribe((patch) => this.telling || this.follow(patch));
    this.start();
    this.paint();
  }

  /** Stop listening to the palette and to the shared selection. */
  detach() {
    this.unTheme?.();
    this.unfollow?.();
    this.unTheme = this.unfollow = null;
  }

  /** Merge a patch into this.state and repaint on the next frame. */
  set(patch) {
    Object.assign(this.state, patch);
    this.redraw();
  }

  /** A change the reader made that linked views take up too: set here, and in the container's shared selection. */
  share(patch) {
    this.set(patch);
    this.tell(patch);
  }

  /** Tell the linked views (not this one) what the reader chose here. */
  tell(patch) {
    this.telling = true;
    try {
      this.selection.set(patch);
    } finally {
      this.telling = false;
    }
  }

  /** Coalesce redraw requests into one per animation frame. */
  redraw() {
    if (this.ready && !this.frame) this.frame = requestAnimationFrame(() => ((this.frame = 0), this.paint()));
  }

  paint() {
    if (!this.ready || !this.isConnected) return;
    const t = performance.now();
    try {
      this.draw();
    } catch (e) {
      return this.fail(e);
    }
    const now = performance.now();
    this.dataset.drawMs = (now - t).toFixed(1);
    if (!this.dataset.firstPaintMs) {
      this.dataset.firstPaintMs = (now - this.connectedAt).toFixed(1);
      this.dataset.visiblePaintMs = (now - this.nearAt).toFixed(1);
    }
  }

  fail(e) {
    if (this.ready) this.stop();
    this.detach();
    this.ready = false;
    this.dataset.state = "error";
    this.replaceChildren(h("p", { class: "xp-error", role: "alert" }, "This explorable could not be shown: " + (e && e.message || e)));
  }

  start() {}
  stop() {}
  follow() {}
}
