// Base class of every explorable view: lazy start, payload load, theme redraws, error display,
// and a safe lifecycle across Material's instant navigation (disconnect / reconnect).
// Sets data-state (loading | ready | error), data-draw-ms, data-first-paint-ms (first connect -> first
// paint done) and data-visible-paint-ms (scrolled near the viewport -> first paint done).
import { load } from "./payload.js";
import { whenNear } from "./lazy.js";
import { onTheme } from "./theme.js";

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

/** Roving focus along a row of token nodes (arrows, Home, End): returns false for other keys and at the ends. */
export function roveTokens(key, nodes, i) {
  const j = { ArrowLeft: i - 1, ArrowUp: i - 1, ArrowRight: i + 1, ArrowDown: i + 1, Home: 0, End: nodes.length - 1 }[key];
  if (j == null || j < 0 || j >= nodes.length) return false;
  nodes[i].tabIndex = -1;
  nodes[j].tabIndex = 0;
  nodes[j].focus();
  return true;
}

export class View extends (globalThis.HTMLElement || class {}) { // (plain class outside browsers, for tests)
  connectedCallback() {
    this.t0 ??= performance.now();
    this.off?.();
    this.off = whenNear(this, () => this.go());
  }

  disconnectedCallback() {
    this.off?.();
    this.unTheme?.();
    this.off = this.unTheme = null;
    cancelAnimationFrame(this.raf);
    this.raf = 0;
    if (this.ready) this.stop();
  }

  async go() {
    this.off = null;
    this.t1 = performance.now();
    if (this.ready) return this.resume();
    if (this.busy || this.dataset.state === "error") return;
    this.busy = true;
    this.dataset.state = "loading";
    try {
      const p = await load(this);
      await this.build(p);
      this.ready = true;
      this.dataset.state = "ready";
      if (this.isConnected) this.resume();
    } catch (e) {
      this.fail(e);
    }
    this.busy = false;
  }

  resume() {
    this.unTheme?.();
    this.unTheme = onTheme(() => this.redraw());
    this.start();
    this.paint();
  }

  /** Coalesce redraw requests into one per animation frame. */
  redraw() {
    if (this.ready && !this.raf) this.raf = requestAnimationFrame(() => ((this.raf = 0), this.paint()));
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
      this.dataset.firstPaintMs = (now - this.t0).toFixed(1);
      this.dataset.visiblePaintMs = (now - this.t1).toFixed(1);
    }
  }

  fail(e) {
    if (this.ready) this.stop();
    this.unTheme?.();
    this.ready = false;
    this.dataset.state = "error";
    this.replaceChildren(h("p", { class: "xp-error", role: "alert" }, "This explorable could not be shown: " + (e && e.message || e)));
  }

  // Subclasses: build(payload) once, draw() on every repaint, start()/stop() to (de)attach observers.
  start() {}
  stop() {}
}
