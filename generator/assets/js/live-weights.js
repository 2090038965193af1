// The live model's float32 weights, made in the page from the build's pack (generator/live/export.py `pack`): int8
// values with one float32 scale per row or column where the build quantised a weight, float32 bytes elsewhere. The
// result is the external data file the ONNX graph names (layout.file), handed to the runtime as `externalData`.
// The embedding tables are not in it: the graph reads them int8 from the pack itself (layout.pack, also handed over
// as `externalData`) and scales only the rows it gathers.

/**
 * Bytes of the float32 weights file: layout {file, bytes, segments} (export.py `pack`), pack an ArrayBuffer.
 * A quantised segment {offset, dims: [R, C], axis, int8, scale} gives w[r, c] = q[r, c] * scale[axis ? c : r] as a
 * float32 product (what onnxruntime's DequantizeLinear computes); {offset, bytes, at} is copied as it is.
 * Throws when a segment falls outside the pack or the file.
 */
export function floatWeights(layout, pack) {
  if (layout.bytes % 4) throw new Error(`the weights file of ${layout.bytes} bytes is not float32`);
  const out = new Float32Array(layout.bytes / 4);
  const inside = (at, n, total, what) => {
    if (!(at >= 0 && at + n <= total)) throw new Error(`a weight segment runs outside the ${what}`);
  };
  for (const s of layout.segments) {
    if (s.int8 == null) {
      inside(s.at, s.bytes, pack.byteLength, "pack");
      inside(s.offset, s.bytes, layout.bytes, "weights file");
      new Uint8Array(out.buffer, s.offset, s.bytes).set(new Uint8Array(pack, s.at, s.bytes));
      continue;
    }
    const [R, C] = s.dims, n = R * C, o = s.offset / 4;
    inside(s.int8, n, pack.byteLength, "pack");
    inside(s.scale, 4 * (s.axis === 0 ? R : C), pack.byteLength, "pack");
    inside(s.offset, 4 * n, layout.bytes, "weights file");
    const q = new Int8Array(pack, s.int8, n), scale = new Float32Array(pack, s.scale, s.axis === 0 ? R : C);
    if (s.axis === 0) {
      for (let r = 0; r < R; r++) {
        const k = scale[r], row = r * C;
        for (let c = 0; c < C; c++) out[o + row + c] = q[row + c] * k;
      }
    } else {
      for (let r = 0; r < R; r++) {
        const row = r * C;
        for (let c = 0; c < C; c++) out[o + row + c] = q[row + c] * scale[c];
      }
    }
  }
  return new Uint8Array(out.buffer);
}
