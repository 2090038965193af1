// <explorable-head-view>: lines from query tokens (left) to key tokens (right), one colour per head.
// Attributes (optional): layer="3", heads="0 2 5" | "all", hide-special. Emits "explorable-token"
// {index, side, pinned} on its .explorable container; follows "explorable-select" {layer, head} from it.
import { View, h, move } from "./view.js";
import { container } from "./payload.js";
import { headColour } from "./colour.js";
import { tokenNode, show } from "./tokens.js";
import { keep, renorm, argmax, hiddenNote, HIDDEN_CAPTION } from "./attention.js";
import { pngButton } from "./export.js";
import { attentionParts, partSelect } from "./parts.js";

const ROW = 22, BUCKETS = 20, MIN = 0.01;
// [value, label]: "qk" = query segment, key segment (an array: "10" as an object key would sort first)
const FILTERS = [["all", "All"], ["00", "A→A"], ["01", "A→B"], ["10", "B→A"], ["11", "B→B"]];
const seg = (t) => (t.segment === 1 ? 1 : 0);

class HeadView extends View {
  async build(p) {
    // the part shown (encoder-decoder models have three, see parts.js): queries `tok` x keys `ktok`, N x M
    this.parts ??= await attentionParts(p);
    const part = this.parts[(this.partIndex ??= 0)];
    Object.assign(this, { L: part.L, H: part.H, N: part.R, M: part.C, v: part.v, tok: part.rows, ktok: part.cols });
    const { L, H } = this, a = (n) => this.getAttribute(n);
    this.layer = Math.min(L - 1, Math.max(0, +a("layer") || 0));
    const hs = a("heads");
    this.sel = new Set(hs && hs !== "all" ? hs.split(/[\s,]+/).map(Number).filter((x) => x >= 0 && x < H) : [...Array(H).keys()]);
    this.filter = "all";
    this.hide = this.hasAttribute("hide-special") && [...this.tok, ...this.ktok].some((t) => t.special);
    this.pin = this.hov = null;
    this.setAttribute("role", "group");
    this.setAttribute("aria-label", this.getAttribute("aria-label") || "Attention head view: lines from each query token to the tokens it attends to");

    const bar = h("div", { class: "xp-bar" });
    const partSel = partSelect(this.parts, this.partIndex, (i) => this.showPart(p, i));
    if (partSel) bar.append(partSel);
    this.layerSel = h("select", { "aria-label": "Layer", onchange: (e) => this.set({ layer: +e.target.value }) },
      ...Array.from({ length: L }, (_, i) => h("option", { value: i }, `Layer ${i}`)));
    this.layerSel.value = this.layer;
    this.headBtns = Array.from({ length: H }, (_, i) =>
      h("button", { type: "button", class: "xp-head", style: `--c:${headColour(i)}`, "aria-label": `head ${i}`, onclick: () => this.toggle(i) }, String(i)));
    const all = (on) => () => this.set({ sel: new Set(on ? this.headBtns.keys() : []) });
    bar.append(
      h("label", null, "Layer ", this.layerSel),
      h("span", { class: "xp-heads", role: "group", "aria-label": "Heads (toggle)" }, "Heads ", ...this.headBtns,
        h("button", { type: "button", class: "xp-btn", onclick: all(1) }, "all"),
        h("button", { type: "button", class: "xp-btn", onclick: all(0) }, "none")));
    if (this.tok.some((t) => t.segment === 1)) {
      bar.append(h("label", null, "Sentences ", h("select", { onchange: (e) => this.set({ filter: e.target.value }) },
        ...FILTERS.map(([v, t]) => h("option", { value: v }, t)))));
    }
    if ([...this.tok, ...this.ktok].some((t) => t.special)) {
      bar.append(h("label", null, h("input", { type: "checkbox", checked: this.hide, onchange: (e) => this.set({ hide: e.target.checked }) }), " hide special tokens"));
    }
    this.note = h("p", { class: "xp-note", hidden: true });
    this.cv = h("canvas", { "aria-hidden": "true" });
    bar.append(pngButton(this, () => [grid, `${part.label}, layer ${this.layer}, heads ${[...this.sel].sort((a, b) => a - b).join(" ") || "none"}` +
      (this.hide ? HIDDEN_CAPTION : ""), `layer${this.layer}`]));
    this.cols = [0, 1].map((s) => h("div", { class: s ? "xp-col" : "xp-col xp-q", role: "listbox", "aria-label": s ? "Key tokens (attended to)" : "Query tokens (attending)" }));
    const grid = h("div", { class: "xp-hv", onkeydown: (e) => this.key(e), onclick: (e) => this.tap(e),
      onpointerover: (e) => this.point(e), onpointerleave: () => this.set({ hov: null }),
      onfocusin: (e) => this.point(e), onfocusout: (e) => !this.contains(e.relatedTarget) && this.set({ hov: null }) },
      h("div", { class: "xp-cap" }, part.q), h("div"), h("div", { class: "xp-cap" }, part.k),
      this.cols[0], this.cv, this.cols[1]);
    this.out = h("div", { class: "xp-readout", "aria-live": "polite" });
    this.replaceChildren(bar, this.note, h("div", { class: "xp-scroll" }, grid), this.out);
    this.ro = new ResizeObserver(() => this.cv.clientWidth !== this.w && this.redraw());
    this.onSelect = (e) => {
      const d = e.detail || {};
      if (d.layer >= 0 && d.layer < L && d.head >= 0 && d.head < H) this.set({ layer: d.layer, sel: new Set([d.head]) });
    };
    this.columns();
  }

  /** Show another part: the controls are rebuilt for its layers and heads. */
  async showPart(p, i) {
    this.stop();
    this.partIndex = i;
    this.mats = null;
    await this.build(p);
    this.start();
    this.redraw();
  }

  start() {
    this.ro.observe(this.cv);
    (this.box = container(this))?.addEventListener("explorable-select", this.onSelect);
  }

  stop() {
    this.ro.disconnect();
    this.box?.removeEventListener("explorable-select", this.onSelect);
  }

  set(s) {
    const rebuild = "hide" in s && s.hide !== this.hide;
    Object.assign(this, s);
    if ("layer" in s) this.layerSel.value = this.layer;
    if ("layer" in s || rebuild) this.mats = null;
    if (rebuild) this.columns();
    this.redraw();
  }

  toggle(i) {
    const s = new Set(this.sel);
    s.has(i) ? s.delete(i) : s.add(i);
    this.set({ sel: s });
  }

  /** (Re)build the token columns for the kept tokens: queries `idx` into tok, keys `kidx` into ktok. */
  columns() {
    this.idx = keep(this.tok, this.hide);
    this.kidx = keep(this.ktok, this.hide);
    this.pin = this.hov = null;
    this.cols.forEach((col, s) => col.replaceChildren(...(s ? this.kidx : this.idx).map((ti, i) => {
      const n = tokenNode((s ? this.ktok : this.tok)[ti]);
      n.setAttribute("role", "option");
      n.tabIndex = i ? -1 : 0;
      n.dataset.i = i;
      n.dataset.s = s;
      return n;
    })));
  }

  /** Per-head matrices of the current layer, kept queries x kept keys, row stride k (renormalised when special
   * tokens are hidden). */
  mat(hd) {
    this.mats ??= new Map();
    let m = this.mats.get(hd);
    if (!m) {
      const { N, M, v } = this, off = (this.layer * this.H + hd) * N * M, sub = v.subarray(off, off + N * M);
      this.mats.set(hd, (m = this.hide ? renorm(sub, M, this.idx, this.kidx) : { m: sub, k: M, empty: 0 }));
    }
    return m;
  }

  where(e) {
    const t = e.target.closest?.(".xp-tok");
    return t && t.dataset.s != null ? { s: +t.dataset.s, i: +t.dataset.i, el: t } : null;
  }

  point(e) {
    const w = this.where(e);
    if (w) this.set({ hov: w });
  }

  tap(e) {
    const w = this.where(e);
    if (!w) return;
    const p = this.pin;
    this.set({ pin: p && p.s === w.s && p.i === w.i ? null : w });
    container(this)?.dispatchEvent(new CustomEvent("explorable-token", { bubbles: true, detail: { index: this.idx[w.i], side: w.s ? "key" : "query", pinned: !!this.pin } }));
  }

  key(e) {
    const w = this.where(e);
    if (!w) return;
    if (e.key === "Enter" || e.key === " ") return e.preventDefault(), this.tap(e);
    if (e.key === "Escape") return this.set({ pin: null });
    const m = move(e.key, w.i, w.s, (w.s ? this.kidx : this.idx).length, 2);
    if (!m) return;
    e.preventDefault();
    const t = this.cols[m[1]].children[Math.min(m[0], this.cols[m[1]].children.length - 1)];
    w.el.tabIndex = -1;
    t.tabIndex = 0;
    t.focus();
  }

  draw() {
    const { cv, idx, kidx, tok, ktok, filter } = this, kq = idx.length, k = kidx.length, dpr = devicePixelRatio || 1;
    const W = (this.w = cv.clientWidth) || 200, Hc = Math.max(kq, k) * ROW, x0 = 3, x1 = W - 3;
    cv.style.height = Hc + "px";
    if (cv.width !== Math.round(W * dpr) || cv.height !== Math.round(Hc * dpr)) {
      cv.width = Math.round(W * dpr);
      cv.height = Math.round(Hc * dpr);
    }
    const ctx = cv.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, W, Hc);
    ctx.lineCap = "round";
    const okQ = (i) => filter === "all" || seg(tok[idx[i]]) === +filter[0];
    const okK = (j) => filter === "all" || seg(ktok[kidx[j]]) === +filter[1];
    const f = this.hov || this.pin, heads = [...this.sel].sort((a, b) => a - b);
    let empty = 0;
    for (const hd of heads) {
      const { m, empty: e } = this.mat(hd), paths = Array.from({ length: BUCKETS }, () => new Path2D());
      empty = Math.max(empty, e);
      for (let i = 0; i < kq; i++) {
        if (!okQ(i) || (f && f.s === 0 && f.i !== i)) continue;
        const y0 = i * ROW + ROW / 2;
        for (let j = 0; j < k; j++) {
          const w = m[i * k + j];
          if (w < MIN || !okK(j) || (f && f.s === 1 && f.i !== j)) continue;
          const p = paths[Math.min(BUCKETS - 1, (w * BUCKETS) | 0)];
          p.moveTo(x0, y0);
          p.lineTo(x1, j * ROW + ROW / 2);
        }
      }
      ctx.strokeStyle = headColour(hd);
      paths.forEach((p, b) => {
        ctx.globalAlpha = (b + 0.5) / BUCKETS;
        ctx.lineWidth = 0.6 + (2.4 * b) / BUCKETS;
        ctx.stroke(p);
      });
    }
    // token states: dimmed outside the sentence filter, shaded by the strongest weight to the isolated token
    this.cols.forEach((col, s) => [...col.children].forEach((n, i) => {
      n.classList.toggle("xp-dim", !(s ? okK(i) : okQ(i)));
      n.classList.toggle("xp-on", !!f && f.s === s && f.i === i);
      n.setAttribute("aria-selected", !!this.pin && this.pin.s === s && this.pin.i === i);
      let w = 0;
      if (f && f.s !== s) for (const hd of heads) w = Math.max(w, this.mat(hd).m[s ? f.i * k + i : i * k + f.i]);
      n.style.setProperty("--w", w);
    }));
    this.headBtns.forEach((b, i) => b.setAttribute("aria-pressed", this.sel.has(i)));
    this.note.hidden = !this.hide;
    this.note.textContent = this.hide ? hiddenNote(empty) : "";
    this.readout(heads, okQ, okK);
  }

  readout(heads, okQ, okK) {
    const { idx, kidx, tok, ktok, pin, hov } = this, kq = idx.length, k = kidx.length;
    const T = (i) => show(tok[idx[i]]), TK = (j) => show(ktok[kidx[j]]);
    const f = hov || pin, rows = [];
    for (const hd of heads) {
      const { m } = this.mat(hd);
      let q, kk;
      if (pin && hov && pin.s !== hov.s) [q, kk] = pin.s ? [hov.i, pin.i] : [pin.i, hov.i];
      else if (f && f.s === 0) (q = f.i), (kk = argmax(m, q * k, 1, k, okK));
      else if (f) (kk = f.i), (q = argmax(m, kk, k, kq, okQ));
      else break;
      if (q < 0 || kk < 0) rows.push([hd, `head ${hd}: no weight`]);
      else rows.push([hd, `head ${hd}: ${T(q)} → ${TK(kk)} ${m[q * k + kk].toFixed(3)}`]);
    }
    this.out.replaceChildren(...(rows.length
      ? rows.map(([hd, s]) => h("span", { class: "xp-ro", style: `--c:${headColour(hd)}` }, s))
      : [heads.length ? "Hover, tap or focus a token to isolate its lines and read exact weights." : "No head selected."]));
  }
}

customElements.get("explorable-head-view") || customElements.define("explorable-head-view", HeadView);
