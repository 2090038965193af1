// Drawing a view for "save PNG" and "save SVG" (loaded on the first click: export.js): its canvases, texts, token
// shading, underlines and outlines, in the reader's palette, with the block's title, a caption, lines of colour keys
// and the model below. One drawing description (`describe`: a list of shapes in CSS px, read from our own markup:
// canvases, spans of text, flat backgrounds, left-to-right gradients, outlines; not arbitrary HTML), two back ends:
// a canvas at twice the CSS size (`toCanvas`, for PNG) and SVG text (`toSVG`: text stays <text>, a canvas the view
// drew becomes an <image> of its pixels).
import { h } from "./view.js";
import { container } from "./payload.js";

const SCALE = 2;
const clear = (c) => !c || c === "transparent" || /^rgba\(.*,\s*0\)$/.test(c);
// skipped: hidden parts, hover cursors, form inputs and the export buttons themselves
// (nor what the browser does not show: the content of a closed <details>, which keeps its boxes)
const skipped = (el, cs) => el.hidden || cs.display === "none" || cs.visibility === "hidden" ||
  (cs.display !== "contents" && el.checkVisibility?.() === false) ||
  el.classList.contains("xp-cur") || el.tagName === "INPUT" || "noExport" in el.dataset;
let measurer;
const measure = (text, font) => (((measurer ??= document.createElement("canvas").getContext("2d")).font = font), measurer.measureText(text).width);

/** The page background behind `el` (first opaque ancestor background, else white). */
function pageBackground(el) {
  for (let e = el; e; e = e.parentElement) {
    const c = getComputedStyle(e).backgroundColor;
    if (!clear(c)) return c;
  }
  return "#fff";
}

const font = (cs) => `${cs.fontStyle} ${cs.fontWeight} ${cs.fontSize} ${cs.fontFamily}`;

// Shapes (CSS px): {k: "rect", x, y, w, h, fill} · {k: "grad", x, y, w, h, stops: [[0..1, colour]]} (left to right) ·
// {k: "text", s, x, y (middle), font, fill, up (reads bottom to top, rotated about x, y)} · {k: "img", el, x, y, w, h} ·
// {k: "line", x, y, x2, y2, stroke, lw, dash} · {k: "box", x, y, w, h, stroke, lw, dash} (outline) ·
// {k: "clip", x, y, w, h, kids: [shapes]}.

/** A text node's pieces as shapes: whole when it sits on one line, else line by line (a word broken across lines,
 * "value-|weighted", is two pieces, each at its own place). */
function textShapes(out, node, cs, at) {
  const text = node.textContent;
  if (!text.trim()) return;
  const range = document.createRange(), f = font(cs), up = cs.writingMode.startsWith("vertical");
  const put = (s, r) => {
    if (!s.trim()) return;
    const [x, y] = at(r);
    out.push(up ? { k: "text", s, x: x + r.width / 2, y: y + r.height, font: f, fill: cs.color, up: 1 }
      : { k: "text", s, x, y: y + r.height / 2, font: f, fill: cs.color });
  };
  range.selectNodeContents(node);
  const rects = range.getClientRects();
  if (rects.length <= 1) return rects[0] && put(text, rects[0]);
  // several lines: runs of characters that sit on one line, each at its first character's box
  let run = null;
  for (let i = 0; i < text.length; i++) {
    range.setStart(node, i);
    range.setEnd(node, i + 1);
    const r = range.getClientRects()[0];
    if (!r || !r.width) continue;
    if (run && Math.abs(r.top - run.r.top) <= 1) run.s += text.slice(run.end, i + 1), (run.end = i + 1);
    else run && put(run.s, run.r), (run = { s: text.slice(run ? run.end : 0, i + 1).trimStart(), r, end: i + 1 });
  }
  if (run) put(run.s, run.r);
}

/** Split on commas outside parentheses. */
function topLevel(list) {
  const out = [];
  let depth = 0, start = 0;
  for (let i = 0; i < list.length; i++) {
    if (list[i] === "(") depth++;
    else if (list[i] === ")") depth--;
    else if (list[i] === "," && !depth) out.push(list.slice(start, i).trim()), (start = i + 1);
  }
  return [...out, list.slice(start).trim()];
}

/** Stops [[0..1, colour]] of a left-to-right linear gradient (our legends and bars), else null. */
function stopsOf(image, w) {
  const m = /^linear-gradient\((.*)\)$/.exec(image);
  if (!m) return null;
  const stops = topLevel(m[1]);
  if (/deg|turn|rad|^to /.test(stops[0])) {
    if (!/^(90deg|to right)$/.test(stops[0])) return null;
    stops.shift();
  }
  let last = 0;
  return stops.map((stop, i) => {
    const [, colour, value, unit] = /^(.*?)(?:\s+(-?[\d.]+)(%|px))?$/.exec(stop);
    const at = value == null ? i / Math.max(1, stops.length - 1) : unit === "%" ? value / 100 : value / w;
    return [(last = Math.min(1, Math.max(last, at))), colour];
  });
}

/** A box drawn turned (a CSS rotation: the uniform-attention diamond, a square turned 45 degrees): {rot: degrees,
 * its untransformed box around the same centre}, which replace the bounding box (else a square would be saved);
 * nothing for an element without a rotation. */
function turned(el, cs, box) {
  const m = /^matrix\(([^,]+), ([^,]+),/.exec(cs.transform);
  const rot = m ? Math.round((Math.atan2(+m[2], +m[1]) * 180) / Math.PI) % 360 : 0;
  if (!rot || rot % 180 === 0) return {}; // none, or a half turn (a box drawn the same)
  const w = el.offsetWidth, h = el.offsetHeight;
  return { rot, x: box.x + (box.w - w) / 2, y: box.y + (box.h - h) / 2, w, h };
}

function element(outer, el, at) {
  let out = outer;
  const cs = getComputedStyle(el);
  if (skipped(el, cs)) return;
  const r = el.getBoundingClientRect(), [x, y] = at(r), box = { x, y, w: r.width, h: r.height };
  if (cs.overflow !== "visible") out.push({ k: "clip", ...box, kids: (out = []) });
  if (!clear(cs.backgroundColor)) out.push({ k: "rect", ...box, fill: cs.backgroundColor, ...turned(el, cs, box) });
  const stops = cs.backgroundImage !== "none" && stopsOf(cs.backgroundImage, r.width);
  if (stops) out.push({ k: "grad", ...box, stops });
  const under = /(rgb.*?\)) 0px -(\d+)px 0px 0px inset/.exec(cs.boxShadow); // an inset bottom line (generated tokens)
  if (under) out.push({ k: "rect", x, y: y + r.height - under[2], w: r.width, h: +under[2], fill: under[1] });
  if (/underline/.test(cs.textDecorationLine) && !/wavy/.test(cs.textDecorationStyle)) { // partial tokens: dashed
    const ly = y + r.height - 2;
    out.push({ k: "line", x: x + 2, y: ly, x2: x + r.width - 2, y2: ly, stroke: cs.textDecorationColor, lw: 1,
      dash: cs.textDecorationStyle === "dashed" ? [3, 2] : null });
  }
  if (el instanceof HTMLCanvasElement && el.width && el.height) out.push({ k: "img", el, ...box });
  if (el.tagName === "SELECT") // its shown choice only, not every option
    return out.push({ k: "text", s: el.selectedOptions[0]?.textContent || "", x: x + 4, y: y + r.height / 2, font: font(cs), fill: cs.color });
  for (const child of el.childNodes) {
    if (child.nodeType === Node.TEXT_NODE) textShapes(out, child, cs, at);
    else if (child.nodeType === Node.ELEMENT_NODE) element(out, child, at);
  }
  const w = parseFloat(cs.outlineWidth);
  if (cs.outlineStyle !== "none" && w > 0) // (outside any clip of its own: outlines sit around the box)
    outer.push({ k: "box", x: x - w / 2, y: y - w / 2, w: r.width + w, h: r.height + w,
      stroke: cs.outlineColor, lw: w, dash: cs.outlineStyle === "dashed" ? [3 * w, 2 * w] : null });
}

/** Key parts at x, middle at y: texts (a string, or {s, b: 1} for bold), or swatches {fill: colour or gradient, w,
 * line: an underline, dash: a dashed underline}. Its width. */
function keyLine(out, parts, x, y, f, fill) {
  const x0 = x;
  for (const p of parts) {
    const s = p.fill ? "" : p.s ?? p, fb = p.b ? "bold " + f : f, w = p.fill ? p.w || 10 : measure(s, fb);
    if (!p.fill) out.push({ k: "text", s, x, y, font: fb, fill });
    else if (p.dash) out.push({ k: "line", x, y: y + 4, x2: x + w, y2: y + 4, stroke: p.fill, lw: 1, dash: [3, 2] });
    else if (/^linear/.test(p.fill)) out.push({ k: "grad", x, y: y - 5, w, h: 10, stops: stopsOf(p.fill, w) || [] });
    else out.push({ k: "rect", x, y: p.line ? y + 3 : y - 5, w, h: p.line ? 2 : 10, fill: p.fill });
    x += w + (p.fill ? 3 : 0);
  }
  return x - x0;
}

/**
 * The drawing of `root` and everything in it (its whole layout box, also the part scrolled out of sight): above it the
 * `title` (bold, larger) and `caption`, below it lines of colour `keys` (a list of keyLine's parts, or a list of such
 * lists) and the `model`, when given. {w, h, bg, shapes}, in CSS px.
 */
export function describe(root, { title, caption, keys = [], model } = {}) {
  const box = root.getBoundingClientRect(), cs = getComputedStyle(root), pad = 8, size = parseFloat(cs.fontSize);
  const line = Math.ceil(size * 1.8), normal = `${cs.fontSize} ${cs.fontFamily}`, fill = cs.color;
  const above = [[title, `bold ${Math.round(size * 1.25)}px ${cs.fontFamily}`, Math.ceil(size * 2.2)], [caption, normal, line]].filter((l) => l[0]);
  const lines = (Array.isArray(keys[0]) ? keys : [keys]).filter((l) => l.length);
  const below = [...lines, model && [`Model: ${model}`]].filter(Boolean);
  const shapes = [], scrolled = [...root.querySelectorAll(".xp-scroll")];
  for (let e = root; e; e = e.parentElement) scrolled.push(e);
  const back = scrolled.filter((e) => e.scrollLeft).map((e) => [e, e.scrollLeft]);
  let y = pad;
  for (const [t, f, lh] of above) shapes.push({ k: "text", s: t, x: pad, y: y + lh / 2, font: f, fill }), (y += lh);
  const top = y, widths = above.map(([t, f]) => measure(t, f));
  below.forEach((l, i) => widths.push(keyLine(shapes, l, pad, top + box.height + line * (i + 0.5), normal, fill)));
  // the whole figure, scrolled to its start: sticky labels (the lens grid's layers) back in their own column
  back.forEach(([e]) => (e.scrollLeft = 0));
  const at = root.getBoundingClientRect();
  element(shapes, root, (r) => [r.left - at.left + pad, r.top - at.top + top]);
  back.forEach(([e, x]) => (e.scrollLeft = x));
  return { w: Math.max(box.width, ...widths) + 2 * pad, h: top + box.height + below.length * line + pad,
    bg: pageBackground(root), shapes };
}

function paint(ctx, shapes) {
  for (const s of shapes) {
    ctx.save();
    if (s.k === "rect") {
      ctx.fillStyle = s.fill;
      if (s.rot) ctx.translate(s.x + s.w / 2, s.y + s.h / 2), ctx.rotate((s.rot * Math.PI) / 180), ctx.fillRect(-s.w / 2, -s.h / 2, s.w, s.h);
      else ctx.fillRect(s.x, s.y, s.w, s.h);
    }
    else if (s.k === "grad") {
      const g = ctx.createLinearGradient(s.x, 0, s.x + s.w, 0);
      try {
        s.stops.forEach(([at, c]) => g.addColorStop(at, c));
        (ctx.fillStyle = g), ctx.fillRect(s.x, s.y, s.w, s.h);
      } catch {} // a colour syntax the canvas does not take: left out
    } else if (s.k === "text") {
      Object.assign(ctx, { font: s.font, fillStyle: s.fill, textBaseline: "middle" });
      if (s.up) ctx.translate(s.x, s.y), ctx.rotate(-Math.PI / 2), ctx.fillText(s.s, 0, 0);
      else ctx.fillText(s.s, s.x, s.y);
    } else if (s.k === "img") (ctx.imageSmoothingEnabled = false), ctx.drawImage(s.el, s.x, s.y, s.w, s.h); // cells stay sharp
    else if (s.k === "line" || s.k === "box") {
      Object.assign(ctx, { strokeStyle: s.stroke, lineWidth: s.lw });
      if (s.dash) ctx.setLineDash(s.dash);
      if (s.k === "box") ctx.strokeRect(s.x, s.y, s.w, s.h);
      else ctx.beginPath(), ctx.moveTo(s.x, s.y), ctx.lineTo(s.x2, s.y2), ctx.stroke();
    } else if (s.k === "clip") ctx.beginPath(), ctx.rect(s.x, s.y, s.w, s.h), ctx.clip(), paint(ctx, s.kids);
    ctx.restore();
  }
}

// Chrome's largest canvas: 32,767 px a side, 268,435,456 px in all (a larger one draws nothing: a blank PNG)
export const MAX_SIDE = 32767, MAX_AREA = 268435456;

/** The scale at most `scale` at which a drawing of w x h CSS px fits the largest canvas. */
export const fitScale = (w, h, scale = SCALE) =>
  Math.min(scale, (MAX_SIDE - 1) / Math.max(w, h, 1), Math.sqrt((MAX_AREA * 0.99) / Math.max(1, w * h)));

/** The drawing on a new canvas, `scale` device px per CSS px (less when the drawing would not fit the largest
 * canvas: fitScale). */
export function toCanvas(d, scale = SCALE) {
  scale = fitScale(d.w, d.h, scale);
  const out = document.createElement("canvas");
  out.width = Math.ceil(d.w * scale);
  out.height = Math.ceil(d.h * scale);
  const ctx = out.getContext("2d");
  ctx.scale(scale, scale);
  ctx.fillStyle = d.bg;
  ctx.fillRect(0, 0, d.w, d.h);
  paint(ctx, d.shapes);
  return out;
}

/** `root` as drawn for a PNG: toCanvas(describe(root, text), scale). */
export const snapshot = (root, text, scale = SCALE) => toCanvas(describe(root, text), scale);

/** An SVG document of the drawing: every text a <text> element, every canvas an <image> of its pixels (PNG). */
export function toSVG(d) {
  const esc = (s) => String(s).replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`), n = (v) => +v.toFixed(2);
  const px = document.createElement("canvas").getContext("2d", { willReadFrequently: true }), seen = new Map();
  // any CSS colour as rgb() plus an opacity, which every SVG reader takes (a pixel painted with it, read back)
  const colour = (c, attr = "fill") => {
    if (!seen.has(c)) {
      px.clearRect(0, 0, 1, 1);
      px.fillStyle = "#0000"; // (a colour the canvas cannot read leaves this: nothing)
      px.fillStyle = c;
      px.fillRect(0, 0, 1, 1);
      const [r, g, b, a] = px.getImageData(0, 0, 1, 1).data;
      seen.set(c, `="rgb(${r},${g},${b})"${a < 255 ? ` ${attr}-opacity="${n(a / 255)}"` : ""}`); // (a stop cannot be "none")
    }
    return attr + seen.get(c);
  };
  const fontAttrs = (f) => { // "style weight size family" as canvas fonts are written here
    const [, style = "normal", weight = "400", size, family] = /^(?:(normal|italic|oblique) )?(?:(\w+) )?([\d.]+px) (.*)$/.exec(f.replace(/^bold /, "normal 700 ")) || [];
    return `font-family="${esc(family || "sans-serif")}" font-size="${size || "12px"}" font-weight="${weight}"${style !== "normal" ? ` font-style="${style}"` : ""}`;
  };
  let ids = 0;
  const defs = [];
  const draw = (shapes) => shapes.map((s) => {
    const at = `x="${n(s.x)}" y="${n(s.y)}"`, size = () => `${at} width="${n(s.w)}" height="${n(s.h)}"`;
    const dash = s.dash ? ` stroke-dasharray="${s.dash.join(" ")}"` : "";
    if (s.k === "rect") return `<rect ${size()} ${colour(s.fill)}${s.rot ? ` transform="rotate(${s.rot} ${n(s.x + s.w / 2)} ${n(s.y + s.h / 2)})"` : ""}/>`;
    if (s.k === "grad") {
      const id = `g${ids++}`;
      defs.push(`<linearGradient id="${id}" gradientUnits="userSpaceOnUse" x1="${n(s.x)}" x2="${n(s.x + s.w)}" y1="0" y2="0">` +
        s.stops.map(([o, c]) => `<stop offset="${n(o)}" ${colour(c, "stop-color").replace("stop-color-opacity", "stop-opacity")}/>`).join("") + "</linearGradient>");
      return `<rect ${size()} fill="url(#${id})"/>`;
    }
    if (s.k === "text")
      return `<text ${s.up ? `transform="translate(${n(s.x)} ${n(s.y)}) rotate(-90)"` : at} dominant-baseline="central" ` +
        `xml:space="preserve" ${fontAttrs(s.font)} ${colour(s.fill)}>${esc(s.s)}</text>`;
    if (s.k === "img")
      return `<image ${size()} preserveAspectRatio="none" style="image-rendering:pixelated" xlink:href="${s.el.toDataURL()}"/>`; // (xlink: older readers need it)
    if (s.k === "line") return `<line x1="${n(s.x)}" y1="${n(s.y)}" x2="${n(s.x2)}" y2="${n(s.y2)}" ${colour(s.stroke, "stroke")} stroke-width="${s.lw}"${dash}/>`;
    if (s.k === "box") return `<rect ${size()} fill="none" ${colour(s.stroke, "stroke")} stroke-width="${s.lw}"${dash}/>`;
    const id = `c${ids++}`; // clip
    defs.push(`<clipPath id="${id}"><rect ${size()}/></clipPath>`);
    return `<g clip-path="url(#${id})">${draw(s.kids)}</g>`;
  }).join("\n");
  const body = draw(d.shapes);
  const w = Math.ceil(d.w), ht = Math.ceil(d.h);
  return `<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="${w}" height="${ht}" viewBox="0 0 ${w} ${ht}">\n` +
    `<defs>${defs.join("\n")}</defs>\n<rect width="100%" height="100%" ${colour(d.bg)}/>\n${body}\n</svg>\n`;
}

/** Keys every figure may need besides the view's own: generated tokens' underline, partial tokens' dashed one. */
function commonKeys(el) {
  const keys = [], gen = el.querySelector(".xp-gen"), part = el.querySelector(".xp-partial");
  if (gen) keys.push({ fill: getComputedStyle(gen).boxShadow.split(")")[0] + ")", w: 16, line: 1 }, " generated by the model");
  if (part) keys.push(keys.length ? "   " : "", { fill: getComputedStyle(part).textDecorationColor, w: 16, dash: 1 },
    " part of a character's bytes (each piece shows the whole character)");
  return keys;
}

/**
 * Save what `what()` gives ([element to draw, caption, short name for the file, colour keys: keyLine's parts]) as a
 * PNG, or an SVG when `svg`. The block's title and the payload's model are added, and keys to the marks of generated
 * and partial tokens when the figure shows any. File: the explorable's id and the short name.
 */
export function save(view, what, svg) {
  const [el, caption, part, keys = []] = what(), box = container(view), more = commonKeys(el);
  const id = box?.dataset.explorableId || view.localName, title = box?.querySelector(".explorable-title")?.textContent;
  const d = describe(el, { title, caption, keys: [keys, more], model: view.payload?.model?.label });
  const name = [id, part].filter(Boolean).join("-") + (svg ? ".svg" : ".png");
  if (svg) download(new Blob([toSVG(d)], { type: "image/svg+xml" }), name);
  else toCanvas(d).toBlob((blob) => download(blob, name));
}

function download(blob, name) {
  const a = h("a", { href: URL.createObjectURL(blob), download: name.replace(/[^\w.-]+/g, "_") });
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 1000);
}
