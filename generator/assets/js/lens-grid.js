// A table of cells for the lens views (rows: layers; columns: positions or tokens), with the reader's cell: hover,
// focus or tap shows a cell (`hov`), a click, tap, Enter or Space pins it (`pin`; again, or Escape, releases), one
// roving tab stop moved by the arrow keys, Home and End. Payload text reaches it only as nodes or text.
import { h, move } from "./view.js";

export class Grid {
  /**
   * rows: [{label, title}]; cols: [Node | string] (column heads); cell(r, c) -> {content: Node | string, cls, style};
   * foot: optional {label, title, cells: [Node | string]}; corner, label: strings; start: [r, c] of the tab stop;
   * changed(): a cell was shown, pinned or released; pinned(c | null): the reader pinned [r, c] or released.
   */
  constructor({ rows, cols, cell, foot, corner = "", label, start = [0, 0], changed, pinned }) {
    Object.assign(this, { R: rows.length, C: cols.length, hov: null, pin: null, cur: start, changed, pinned, marked: [] });
    const head = h("tr", null, h("th", { class: "xp-lcorner", scope: "col" }, corner), ...cols.map((c, j) => h("th", { scope: "col", "data-c": j }, c)));
    this.heads = [...head.children].slice(1);
    this.rowHeads = [];
    this.cells = rows.map(() => []);
    const body = rows.map((row, r) => {
      const th = h("th", { scope: "row", title: row.title || null }, row.label);
      this.rowHeads.push(th);
      for (let c = 0; c < this.C; c++) {
        const d = cell(r, c);
        this.cells[r].push(h("td", { class: d.cls ? `xp-lc ${d.cls}` : "xp-lc", tabindex: -1, "data-r": r, "data-c": c, style: d.style || null }, d.content));
      }
      return h("tr", null, th, ...this.cells[r]);
    });
    const parts = [h("thead", null, head), h("tbody", null, ...body)];
    if (foot) parts.push(h("tfoot", null, h("tr", { class: "xp-lfoot" }, h("th", { scope: "row", title: foot.title || null }, foot.label), ...foot.cells.map((c) => h("td", null, c)))));
    this.el = h("table", { class: "xp-lgrid", role: "grid", "aria-label": label,
      onpointerover: (e) => this.at(e) && this.show({ hov: this.at(e) }), onpointerleave: () => this.show({ hov: null }),
      onclick: (e) => this.tap(this.at(e)), onkeydown: (e) => this.key(e),
      onfocusin: (e) => this.at(e) && this.show({ hov: this.at(e), cur: this.at(e) }),
      onfocusout: (e) => !this.el.contains(e.relatedTarget) && this.show({ hov: null }) }, ...parts);
    this.cells[start[0]][start[1]].tabIndex = 0;
  }

  at(e) {
    const td = e.target.closest?.("td.xp-lc");
    return td ? [+td.dataset.r, +td.dataset.c] : null;
  }

  show(s) {
    Object.assign(this, s);
    this.changed();
  }

  /** Pin [r, c] (or release with null) without telling `pinned`: another view chose it. */
  setPin(c) {
    this.show({ pin: c });
    if (c) this.cells[c[0]][c[1]].scrollIntoView({ block: "nearest", inline: "nearest" });
  }

  tap(c) {
    if (!c) return;
    const same = this.pin && this.pin[0] === c[0] && this.pin[1] === c[1];
    this.show({ pin: same ? null : c });
    this.pinned(this.pin);
  }

  key(e) {
    const c = this.at(e);
    if (!c) return;
    if (e.key === "Enter" || e.key === " ") return e.preventDefault(), this.tap(c);
    if (e.key === "Escape") return this.show({ pin: null }), this.pinned(null);
    const m = move(e.key, ...this.cur, this.R, this.C);
    if (!m) return;
    e.preventDefault();
    this.cells[this.cur[0]][this.cur[1]].tabIndex = -1;
    const td = this.cells[m[0]][m[1]];
    td.tabIndex = 0;
    td.focus();
  }

  /** The cell to read out (hovered or focused, else pinned), after marking it, its row and column heads. */
  mark() {
    for (const [el, cls] of this.marked) el.classList.remove(cls);
    this.marked = [];
    const add = (el, cls) => (el.classList.add(cls), this.marked.push([el, cls]));
    const on = this.hov ?? this.pin;
    if (on) [this.cells[on[0]][on[1]], this.rowHeads[on[0]], this.heads[on[1]]].forEach((el) => add(el, "xp-on"));
    if (this.pin) add(this.cells[this.pin[0]][this.pin[1]], "xp-pin");
    return on;
  }

  isPinned(c) {
    return !!(this.pin && c && this.pin[0] === c[0] && this.pin[1] === c[1]);
  }
}
