// Light/dark palette of Material (body[data-md-color-scheme] = "default" | "slate"), with change notifications.
const subs = new Set();
let mo, last;

export const dark = () => document.body?.dataset.mdColorScheme === "slate";

/** Call fn(dark) whenever the palette flips. Returns an unsubscribe function. */
export function onTheme(fn) {
  subs.add(fn);
  if (!mo && document.body) {
    last = dark();
    mo = new MutationObserver(() => {
      const d = dark();
      if (d !== last) subs.forEach((f) => f((last = d)));
    });
    mo.observe(document.body, { attributes: true, attributeFilter: ["data-md-color-scheme"] });
  }
  return () => {
    subs.delete(fn);
    if (!subs.size && mo) mo = void mo.disconnect();
  };
}

/** Resolved [r, g, b] of a CSS custom property (e.g. "--md-code-bg-color") as seen by el, or undefined. */
export function cssRGB(el, name) {
  const v = getComputedStyle(el).getPropertyValue(name).trim();
  if (!v) return;
  const cx = (cssRGB.cx ||= document.createElement("canvas").getContext("2d"));
  cx.fillStyle = "#000";
  cx.fillStyle = v;
  const s = cx.fillStyle, m = s.match(/[\d.]+/g);
  return s[0] === "#" ? [1, 3, 5].map((i) => parseInt(s.slice(i, i + 2), 16)) : m && m.slice(0, 3).map(Number);
}
