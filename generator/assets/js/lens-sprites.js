// Text sprites for the lens grid: each distinct text in each font is drawn once with fillText onto an atlas canvas at
// the device pixel ratio, then copied into every cell that shows it with drawImage, device pixel for device pixel
// (so it stays as crisp as fillText). The grid's first paint had about 35 µs per cell in fillText alone; a copy costs
// a few (benchmarks/RESULTS.md: lens first paint).

/**
 * Shelf packing of boxes of one height: widths (device px, integers) placed left to right in rows at most `max`
 * wide (a box wider than `max` gets a row of its own). Returns {x: [left of each box], row: [row of each box],
 * width: the widest row, rows: the number of rows}.
 */
export function shelves(widths, max) {
  const x = [], row = [];
  let at = 0, r = 0, width = 0;
  for (const w of widths) {
    if (at > 0 && at + w > max) (r++, (at = 0));
    x.push(at);
    row.push(r);
    at += w;
    width = Math.max(width, at);
  }
  return { x, row, width, rows: widths.length ? r + 1 : 0 };
}

const ASCII = Array.from({ length: 95 }, (_, i) => String.fromCharCode(32 + i)).join("");
const PAIRS = "AVATAWAYLTLYTaToTyVaWaYaffifl"; // pairs fonts commonly kern or join

/**
 * width(text) in CSS px of `font` on ctx, as ctx.measureText(text).width, with fewer calls (each costs tens of µs):
 * when the font is monospaced for printable ASCII (the 95 characters, then pairs commonly kerned or joined, together
 * as wide as that many "0"), a text made of those and of the characters in `extra` is the sum of its characters'
 * widths, each measured once. Any other text, or any text in a font that fails the probe, is measured whole.
 */
export function measurer(ctx, font, extra = "·↵→␍⍽…") {
  const whole = (t) => ((ctx.font = font), ctx.measureText(t).width);
  const w0 = whole("0");
  if (Math.abs(whole(ASCII + PAIRS) - (95 + PAIRS.length) * w0) > 0.01) return whole;
  const chars = new Map([...ASCII].map((c) => [c, w0]));
  for (const c of extra) chars.set(c, null);
  return (t) => {
    let sum = 0;
    for (const c of t) {
      let w = chars.get(c);
      if (w === undefined) return whole(t);
      if (w === null) chars.set(c, (w = whole(c)));
      sum += w;
    }
    return sum;
  };
}

export class Sprites {
  /**
   * dpr: device pixels per CSS px; height: a sprite's height (CSS px, a grid row); baseline: the text's middle below
   * a sprite's top (CSS px); color: the text colour. Texts are drawn with textBaseline "middle".
   */
  constructor({ dpr, height, baseline, color, make = () => document.createElement("canvas"), measure }) {
    const pad = Math.ceil(2 * dpr); // device px either side of a text: glyphs may overhang their advance
    Object.assign(this, { dpr, pad, h: Math.round(height * dpr), baseline, color, make, measure });
    this.at = new Map();   // sprite id (key, fraction) -> {cv, sx, sy, sw}: its box on an atlas, device px
    this.wid = new Map();  // key -> [text, font, width in CSS px]
    this.queue = [];       // copies to draw: key, cx, top, alpha
  }

  /**
   * Queue a copy of `text` in `font` (CSS font string) centred on x = cx, its box's top at y = top (CSS px), with
   * opacity `alpha`. `key`, a whole number from 0 to 2^40, names the text and font together; `width` is the text's width (CSS px), measured when
   * not given. Nothing is drawn until flush().
   */
  use(key, text, font, width, cx, top, alpha = 1) {
    if (!this.wid.has(key)) this.wid.set(key, [text, font, width]);
    this.queue.push(key, cx, top, alpha);
  }

  /**
   * Draw the queued copies on ctx (its transform is set to the identity: device px). A text is copied pixel for
   * pixel, so it looks as fillText would draw it: each sprite is drawn at the fraction of a device pixel where its
   * copy's left edge falls (glyphs are positioned in fractions of a pixel), once per text, font and fraction; the
   * missing ones go on a new atlas canvas.
   */
  flush(ctx) {
    const { dpr, pad, h, queue } = this, todo = [], copies = [];
    let cv, c2, font = "";
    const measure = this.measure || ((t, f) => {
      c2 ??= (cv = this.make()).getContext("2d");
      if (f !== font) c2.font = font = f;
      return c2.measureText(t).width;
    });
    for (let j = 0; j < queue.length; j += 4) {
      const key = queue[j], w = this.wid.get(key);
      if (w[2] == null) w[2] = measure(w[0], w[1]);
      const left = (queue[j + 1] - w[2] / 2) * dpr, x = Math.floor(left + 1e-6), q = Math.round((left - x) * 64);
      const id = key * 65 + q, f = q / 64; // q: the fraction in 64ths, 0 to 64
      if (!this.at.has(id)) this.at.set(id, null), todo.push([id, w[0], w[1], f, Math.ceil(w[2] * dpr + f) + 2 * pad]);
      copies.push(id, x - pad, Math.round(queue[j + 2] * dpr), queue[j + 3]);
    }
    queue.length = 0;
    if (todo.length) {
      c2 ??= (cv = this.make()).getContext("2d");
      const place = shelves(todo.map((d) => d[4]), 2048);
      Object.assign(cv, { width: Math.max(1, place.width), height: Math.max(1, place.rows * h) });
      c2.setTransform(dpr, 0, 0, dpr, 0, 0);
      c2.textAlign = "left";
      c2.textBaseline = "middle";
      c2.fillStyle = this.color;
      font = "";
      todo.forEach(([id, t, f, phase, sw], i) => {
        const sx = place.x[i], sy = place.row[i] * h;
        if (f !== font) c2.font = font = f;
        c2.fillText(t, (sx + pad + phase) / dpr, sy / dpr + this.baseline);
        this.at.set(id, { cv, sx, sy, sw });
      });
    }
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.imageSmoothingEnabled = false;
    for (let j = 0; j < copies.length; j += 4) {
      const s = this.at.get(copies[j]);
      ctx.globalAlpha = copies[j + 3];
      ctx.drawImage(s.cv, s.sx, s.sy, s.sw, h, copies[j + 1], copies[j + 2], s.sw, h);
    }
    ctx.globalAlpha = 1;
  }

  /** Width (CSS px) of the text named `key`, once measured. */
  width(key) {
    return this.wid.get(key)?.[2];
  }
}
