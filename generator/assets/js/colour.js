// Colours. HEADS: 24 categorical colours, each with >= 3:1 contrast against both Material's white page and its
// "slate" background; all pairs CIE76 deltaE > 23, and ordered so the first 16 are pairwise CIEDE2000 > 14
// (checked in tests/js/colour.test.mjs). Heads beyond 24 reuse colours.
export const HEADS = [
  "#1878b8", "#889800", "#f85098", "#b05010", "#507868", "#b878f0", "#00a858", "#786850",
  "#d08008", "#7060b0", "#00a0a0", "#b838a0", "#b04860", "#d08060", "#8090a0", "#b880a8",
  "#00a0c8", "#388800", "#c83830", "#806810", "#789858", "#008058", "#d82858", "#1878f0",
];
export const headColour = (h) => HEADS[h % HEADS.length];

// Sequential ramps for heatmaps: stop 0 is the theme's code background, then light -> dark (light theme)
// or dark -> bright (slate theme), so strong attention always stands out from the page.
const RAMPS = {
  light: [[0.2, 158, 202, 225], [0.5, 66, 146, 198], [0.8, 8, 81, 156], [1, 8, 40, 95]],
  dark: [[0.2, 33, 104, 140], [0.5, 32, 160, 150], [0.8, 140, 210, 110], [1, 250, 240, 150]],
};

/** 256-entry lookup table of packed RGBA pixels (Uint32, platform byte order) for values 0..1. */
export function lut(dark, base = dark ? [46, 48, 62] : [245, 245, 245]) {
  const stops = [[0, ...base], ...RAMPS[dark ? "dark" : "light"]];
  const px = new Uint8ClampedArray(1024);
  for (let i = 0; i < 256; i++) {
    const v = i / 255;
    let k = 1;
    while (stops[k][0] < v) k++;
    const a = stops[k - 1], b = stops[k], f = (v - a[0]) / (b[0] - a[0]);
    for (let c = 1; c < 4; c++) px[i * 4 + c - 1] = a[c] + (b[c] - a[c]) * f;
    px[i * 4 + 3] = 255;
  }
  return new Uint32Array(px.buffer);
}

/** CSS gradient for a legend matching lut(). */
export const gradient = (dark, base) => {
  const t = lut(dark, base), b = new Uint8Array(t.buffer), s = [];
  for (let i = 0; i < 256; i += 51) s.push(`rgb(${b[i * 4]},${b[i * 4 + 1]},${b[i * 4 + 2]})`);
  return `linear-gradient(90deg,${s})`;
};

// Diverging colours: positive blue, negative orange (BertViz's convention), light and slate palettes.
const POS = { light: [33, 102, 172], dark: [96, 166, 240] };
const NEG = { light: [214, 96, 0], dark: [250, 150, 60] };

/** [r, g, b] of a value t in [-1, 1] on the background `base` ([r, g, b]): intensity by |t|. */
export function divergingRGB(t, dark, base) {
  const c = (t >= 0 ? POS : NEG)[dark ? "dark" : "light"], a = Math.min(1, Math.abs(t));
  return [0, 1, 2].map((x) => Math.round(base[x] + (c[x] - base[x]) * a));
}

/** CSS colour of divergingRGB. */
export const diverging = (t, dark, base) => `rgb(${divergingRGB(t, dark, base)})`;

/** 511 packed RGBA pixels (platform byte order, for ImageData) for t = (i - 255) / 255, i = 0..510. */
export function divergingLut(dark, base) {
  const px = new Uint8ClampedArray(511 * 4);
  for (let i = 0; i < 511; i++) {
    px.set(divergingRGB((i - 255) / 255, dark, base), i * 4);
    px[i * 4 + 3] = 255;
  }
  return new Uint32Array(px.buffer);
}
