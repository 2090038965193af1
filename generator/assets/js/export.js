// Save a view as a PNG: its canvases, texts, token shading and outlines redrawn onto one canvas, in the reader's
// palette, at twice the CSS size. Written for our own markup (canvases, spans of text, flat backgrounds), not
// arbitrary HTML: that keeps it a few dozen lines and free of any library.
import { h } from "./view.js";
import { container } from "./payload.js";

const SCALE = 2;
const clear = (c) => !c || c === "transparent" || /^rgba\(.*,\s*0\)$/.test(c);
// skipped: hidden parts, hover cursors, form inputs and the export buttons themselves
const skipped = (el, cs) => el.hidden || cs.display === "none" || cs.visibility === "hidden" ||
  el.classList.contains("xp-cur") || el.tagName === "INPUT" || "noExport" in el.dataset;

/** The page background behind `el` (first opaque ancestor background, else white). */
function pageBackground(el) {
  for (let e = el; e; e = e.parentElement) {
    const c = getComputedStyle(e).backgroundColor;
    if (!clear(c)) return c;
  }
  return "#fff";
}

function font(cs) {
  return `${cs.fontStyle} ${cs.fontWeight} ${cs.fontSize} ${cs.fontFamily}`;
}

function fillTextAt(ctx, text, r, cs, [x, y]) {
  ctx.save();
  ctx.font = font(cs);
  ctx.fillStyle = cs.color;
  ctx.textBaseline = "middle";
  if (cs.writingMode.startsWith("vertical")) { // our vertical labels read bottom to top
    ctx.translate(x + r.width / 2, y + r.height);
    ctx.rotate(-Math.PI / 2);
    ctx.fillText(text, 0, 0);
  } else ctx.fillText(text, x, y + r.height / 2);
  ctx.restore();
}

/** A text node: in one piece when it sits on one line, else word by word at each word's own place. */
function drawText(ctx, node, cs, at) {
  const text = node.textContent;
  if (!text.trim()) return;
  const range = document.createRange();
  range.selectNodeContents(node);
  const rects = range.getClientRects();
  if (rects.length === 1) return fillTextAt(ctx, text, rects[0], cs, at(rects[0]));
  for (const m of text.matchAll(/\S+/g)) {
    range.setStart(node, m.index);
    range.setEnd(node, m.index + m[0].length);
    const r = range.getClientRects()[0];
    if (r) fillTextAt(ctx, m[0], r, cs, at(r));
  }
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

/** Left-to-right linear gradients (our legends and bars); others are left out. */
function fillGradient(ctx, image, x, y, w, hgt) {
  const m = /^linear-gradient\((.*)\)$/.exec(image);
  if (!m) return;
  const stops = topLevel(m[1]);
  if (/deg|turn|rad|^to /.test(stops[0])) {
    if (!/^(90deg|to right)$/.test(stops[0])) return;
    stops.shift();
  }
  const g = ctx.createLinearGradient(x, 0, x + w, 0);
  let last = 0;
  try {
    stops.forEach((stop, i) => {
      const [, colour, value, unit] = /^(.*?)(?:\s+(-?[\d.]+)(%|px))?$/.exec(stop);
      const at = value == null ? i / Math.max(1, stops.length - 1) : unit === "%" ? value / 100 : value / w;
      last = Math.min(1, Math.max(last, at));
      g.addColorStop(last, colour);
    });
  } catch {
    return; // a colour syntax the canvas does not take
  }
  ctx.fillStyle = g;
  ctx.fillRect(x, y, w, hgt);
}

function drawElement(ctx, el, at) {
  const cs = getComputedStyle(el);
  if (skipped(el, cs)) return;
  const r = el.getBoundingClientRect(), [x, y] = at(r);
  ctx.save();
  if (cs.overflow !== "visible") (ctx.beginPath(), ctx.rect(x, y, r.width, r.height), ctx.clip());
  if (!clear(cs.backgroundColor)) (ctx.fillStyle = cs.backgroundColor), ctx.fillRect(x, y, r.width, r.height);
  if (cs.backgroundImage !== "none") fillGradient(ctx, cs.backgroundImage, x, y, r.width, r.height);
  const under = /(rgb.*?\)) 0px -(\d+)px 0px 0px inset/.exec(cs.boxShadow); // an inset bottom line (generated tokens)
  if (under) (ctx.fillStyle = under[1]), ctx.fillRect(x, y + r.height - under[2], r.width, +under[2]);
  if (el instanceof HTMLCanvasElement && el.width && el.height) {
    ctx.imageSmoothingEnabled = false; // heatmap cells stay sharp squares
    ctx.drawImage(el, x, y, r.width, r.height);
  }
  if (el.tagName === "SELECT") { // its shown choice only, not every option
    fillTextAt(ctx, el.selectedOptions[0]?.textContent || "", r, cs, [x + 4, y]);
    ctx.restore();
    return;
  }
  for (const child of el.childNodes) {
    if (child.nodeType === Node.TEXT_NODE) drawText(ctx, child, cs, at);
    else if (child.nodeType === Node.ELEMENT_NODE) drawElement(ctx, child, at);
  }
  ctx.restore();
  if (cs.outlineStyle !== "none" && parseFloat(cs.outlineWidth) > 0) {
    const w = parseFloat(cs.outlineWidth);
    ctx.strokeStyle = cs.outlineColor;
    ctx.lineWidth = w;
    if (cs.outlineStyle === "dashed") ctx.setLineDash([3 * w, 2 * w]);
    ctx.strokeRect(x - w / 2, y - w / 2, r.width + w, r.height + w);
    ctx.setLineDash([]);
  }
}

/** Parts of a line at x, its middle at y: text, or swatches {fill: colour or gradient, w, line: an underline}. Its width. */
function keyLine(ctx, parts, x, y, draw) {
  const x0 = x;
  for (const p of parts) {
    const w = p.fill ? p.w || 10 : ctx.measureText(p).width;
    if (draw && !p.fill) ctx.fillText(p, x, y);
    else if (draw) {
      ctx.save();
      if (/^linear/.test(p.fill)) fillGradient(ctx, p.fill, x, y - 5, w, 10);
      else (ctx.fillStyle = p.fill), ctx.fillRect(x, p.line ? y + 3 : y - 5, w, p.line ? 2 : 10);
      ctx.restore();
    }
    x += w + (p.fill ? 3 : 0);
  }
  return x - x0;
}

/**
 * `root` and everything in it on a new canvas (its whole layout box, also the part scrolled out of sight); above it
 * the `title` (bold) and `caption`, below it a line of colour `keys` (keyLine's parts) and the `model`, when given.
 */
export function snapshot(root, { title, caption, keys = [], model } = {}, scale = SCALE) {
  const box = root.getBoundingClientRect(), cs = getComputedStyle(root), pad = 8;
  const line = Math.ceil(parseFloat(cs.fontSize) * 1.8), normal = `${cs.fontSize} ${cs.fontFamily}`;
  const above = [[title, "bold " + normal], [caption, normal]].filter((l) => l[0]);
  const below = [keys, model && [`Model: ${model}`]].filter((l) => l && l.length);
  const out = document.createElement("canvas");
  let ctx = out.getContext("2d");
  const widths = above.map(([t, f]) => ((ctx.font = f), ctx.measureText(t).width));
  ctx.font = normal;
  const width = Math.max(box.width, ...widths, ...below.map((l) => keyLine(ctx, l, 0, 0))) + 2 * pad;
  const top = pad + above.length * line, height = top + box.height + below.length * line + pad;
  out.width = Math.ceil(width * scale);
  out.height = Math.ceil(height * scale);
  ctx = out.getContext("2d");
  ctx.scale(scale, scale);
  ctx.fillStyle = pageBackground(root);
  ctx.fillRect(0, 0, width, height);
  ctx.fillStyle = cs.color;
  ctx.textBaseline = "middle";
  above.forEach(([t, f], i) => ((ctx.font = f), ctx.fillText(t, pad, pad + line * (i + 0.5))));
  ctx.font = normal;
  below.forEach((l, i) => keyLine(ctx, l, pad, top + box.height + line * (i + 0.5), true));
  drawElement(ctx, root, (r) => [r.left - box.left + pad, r.top - box.top + top]);
  return out;
}

/**
 * A "save PNG" button for a view. `what()` gives [element to draw, caption, short name for the file, colour keys];
 * the block's title and the payload's model are added; generated tokens get a key. File: the explorable's id.
 */
export function pngButton(view, what) {
  return h("button", {
    type: "button", class: "xp-btn", title: "Save this figure as a PNG image", "data-no-export": true,
    onclick: () => {
      const [el, caption, part, keys = []] = what(), box = container(view), gen = el.querySelector(".xp-gen");
      if (gen) keys.push(keys.length ? "   " : "", { fill: getComputedStyle(gen).boxShadow.split(")")[0] + ")", w: 16, line: 1 }, " generated by the model");
      const id = box?.dataset.explorableId || view.localName, title = box?.querySelector(".explorable-title")?.textContent;
      savePNG(snapshot(el, { title, caption, keys, model: view.payload?.model?.label }), [id, part].filter(Boolean).join("-") + ".png");
    },
  }, "save PNG");
}

function savePNG(canvas, name) {
  canvas.toBlob((blob) => {
    const a = h("a", { href: URL.createObjectURL(blob), download: name.replace(/[^\w.-]+/g, "_") });
    a.click();
    setTimeout(() => URL.revokeObjectURL(a.href), 1000);
  });
}
