// The head palette must stay distinguishable (12+ heads never reuse colours) on light and dark pages.
import { test } from "node:test";
import assert from "node:assert/strict";
import { HEADS, headColour, lut } from "../../generator/assets/js/colour.js";

const hex = (s) => [1, 3, 5].map((i) => parseInt(s.slice(i, i + 2), 16));
const lin = (c) => ((c /= 255) <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4);
const luminance = (rgb) => { const [r, g, b] = rgb.map(lin); return 0.2126 * r + 0.7152 * g + 0.0722 * b; };
const contrast = (a, b) => { const [x, y] = [luminance(a), luminance(b)].sort((p, q) => q - p); return (x + 0.05) / (y + 0.05); };
function lab(rgb) { // sRGB (D65) -> CIELAB
  const [r, g, b] = rgb.map(lin);
  const xyz = [(0.4124 * r + 0.3576 * g + 0.1805 * b) / 0.95047, 0.2126 * r + 0.7152 * g + 0.0722 * b, (0.0193 * r + 0.1192 * g + 0.9505 * b) / 1.08883];
  const f = xyz.map((t) => (t > (6 / 29) ** 3 ? Math.cbrt(t) : t / (3 * (6 / 29) ** 2) + 4 / 29));
  return [116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])];
}
const dE76 = (a, b) => Math.hypot(...lab(a).map((v, i) => v - lab(b)[i]));
const rad = Math.PI / 180;
function dE2000lab([L1, a1, b1], [L2, a2, b2]) { // Sharma, Wu & Dalal (2005)
  const Cb = (Math.hypot(a1, b1) + Math.hypot(a2, b2)) / 2, G = 0.5 * (1 - Math.sqrt(Cb ** 7 / (Cb ** 7 + 25 ** 7)));
  const A1 = (1 + G) * a1, A2 = (1 + G) * a2, C1 = Math.hypot(A1, b1), C2 = Math.hypot(A2, b2);
  const h1 = (Math.atan2(b1, A1) / rad + 360) % 360, h2 = (Math.atan2(b2, A2) / rad + 360) % 360;
  let dh = h2 - h1;
  if (C1 * C2 === 0) dh = 0; else if (dh > 180) dh -= 360; else if (dh < -180) dh += 360;
  const dH = 2 * Math.sqrt(C1 * C2) * Math.sin((dh / 2) * rad), Lb = (L1 + L2) / 2, Cp = (C1 + C2) / 2;
  let hb = h1 + h2;
  if (C1 * C2 !== 0) hb = Math.abs(h1 - h2) <= 180 ? hb / 2 : hb < 360 ? (hb + 360) / 2 : (hb - 360) / 2;
  const T = 1 - 0.17 * Math.cos((hb - 30) * rad) + 0.24 * Math.cos(2 * hb * rad) + 0.32 * Math.cos((3 * hb + 6) * rad) - 0.2 * Math.cos((4 * hb - 63) * rad);
  const Sl = 1 + (0.015 * (Lb - 50) ** 2) / Math.sqrt(20 + (Lb - 50) ** 2), Sc = 1 + 0.045 * Cp, Sh = 1 + 0.015 * Cp * T;
  const Rt = -Math.sin(2 * 30 * Math.exp(-(((hb - 275) / 25) ** 2)) * rad) * 2 * Math.sqrt(Cp ** 7 / (Cp ** 7 + 25 ** 7));
  const l = (L2 - L1) / Sl, c = (C2 - C1) / Sc, hh = dH / Sh;
  return Math.sqrt(l * l + c * c + hh * hh + Rt * c * hh);
}
const dE2000 = (x, y) => dE2000lab(lab(x), lab(y));
function hsl(h, s, l) { // Material slate background: hsla(var(--md-hue) = 232, 15%, 14%)
  const a = s * Math.min(l, 1 - l), f = (n) => { const k = (n + h / 30) % 12; return l - a * Math.max(-1, Math.min(k - 3, 9 - k, 1)); };
  return [f(0), f(8), f(4)].map((v) => Math.round(v * 255));
}
const WHITE = [255, 255, 255], SLATE = hsl(232, 0.15, 0.14);

test("at least 16 head colours, all valid hex", () => {
  assert.ok(HEADS.length >= 16, `${HEADS.length} colours`);
  HEADS.forEach((c) => assert.match(c, /^#[0-9a-f]{6}$/));
});

test("head colours are pairwise distinct: CIE76 deltaE > 20", () => {
  let min = Infinity, pair;
  for (let i = 0; i < HEADS.length; i++)
    for (let j = i + 1; j < HEADS.length; j++) {
      const d = dE76(hex(HEADS[i]), hex(HEADS[j]));
      if (d < min) (min = d), (pair = [HEADS[i], HEADS[j]]);
    }
  assert.ok(min > 20, `closest pair ${pair} deltaE ${min.toFixed(1)}`);
});

test("the CIEDE2000 used here matches Sharma et al.'s reference pairs", () => {
  const close = (a, b) => assert.ok(Math.abs(a - b) < 1e-3, `${a} != ${b}`);
  close(dE2000lab([50, 2.6772, -79.7751], [50, 0, -82.7485]), 2.0425);
  close(dE2000lab([50, 0, 0], [50, -1, 2]), 2.3669);
  close(dE2000lab([50, 2.5, 0], [73, 25, -18]), 27.1492);
  close(dE2000lab([60.2574, -34.0099, 36.2677], [60.4626, -34.1751, 39.4387]), 1.2644);
});

test("the first 16 head colours are perceptually distinct: CIEDE2000 > 14", () => {
  let min = Infinity, pair;
  for (let i = 0; i < 16; i++)
    for (let j = i + 1; j < 16; j++) {
      const d = dE2000(hex(HEADS[i]), hex(HEADS[j]));
      if (d < min) (min = d), (pair = [HEADS[i], HEADS[j]]);
    }
  assert.ok(min > 14, `closest pair ${pair} deltaE2000 ${min.toFixed(1)}`);
});

test("head colours keep >= 3:1 contrast on the light and the slate background", () => {
  for (const c of HEADS) {
    assert.ok(contrast(hex(c), WHITE) >= 3, `${c} on white: ${contrast(hex(c), WHITE).toFixed(2)}`);
    assert.ok(contrast(hex(c), SLATE) >= 3, `${c} on slate: ${contrast(hex(c), SLATE).toFixed(2)}`);
  }
});

test("heads 10 and 11 do not reuse the colours of heads 0 and 1", () => {
  assert.notEqual(headColour(10), headColour(0));
  assert.notEqual(headColour(11), headColour(1));
  assert.equal(new Set(Array.from({ length: 16 }, (_, i) => headColour(i))).size, 16);
});

test("sequential ramps start at the background and move monotonically away from it", () => {
  for (const [dark, bg] of [[false, [245, 245, 245]], [true, [46, 48, 62]]]) {
    const px = new Uint8Array(lut(dark, bg).buffer), at = (i) => [px[i * 4], px[i * 4 + 1], px[i * 4 + 2]];
    assert.deepEqual(at(0), bg);
    let prev = luminance(at(0));
    for (let i = 8; i < 256; i += 8) {
      const y = luminance(at(i));
      assert.ok(dark ? y >= prev - 1e-3 : y <= prev + 1e-3, `${dark ? "dark" : "light"} ramp not monotonic at ${i}`);
      prev = y;
    }
    assert.ok(contrast(at(255), bg) > 7, "strongest value stands out from the background");
    for (let i = 0; i < 256; i++) assert.equal(px[i * 4 + 3], 255);
  }
});
