/**
 * Run-length encoding (decoding lives with the clients: clients/src/decode-maps.ts) of a label map: row-major runs as pairs of unsigned LEB128 varints
 * (value, run length). Label maps are large flat regions, so this is typically 50-200x smaller than raw
 * and far cheaper to produce than PNG.
 */

function writeVarint(out: Uint8Array, offset: number, value: number): number {
  let v = value;
  while (v >= 0x80) {
    out[offset++] = (v & 0x7f) | 0x80;
    v >>>= 7;
  }
  out[offset++] = v;
  return offset;
}

export function encodeRle(values: Uint8Array | Uint16Array): Uint8Array {
  const length = values.length;
  if (length === 0) return new Uint8Array(0);
  // Worst case: every pixel its own run, 3 bytes per value + 5 per length.
  let out = new Uint8Array(Math.min(length * 8, 1 << 16));
  let offset = 0;
  let runValue = values[0]!;
  let runStart = 0;
  const flush = (end: number) => {
    if (offset + 8 > out.length) {
      const grown = new Uint8Array(Math.min(out.length * 2, length * 8));
      grown.set(out.subarray(0, offset));
      out = grown;
    }
    offset = writeVarint(out, offset, runValue);
    offset = writeVarint(out, offset, end - runStart);
  };
  for (let i = 1; i < length; i++) {
    const value = values[i]!;
    if (value !== runValue) {
      flush(i);
      runValue = value;
      runStart = i;
    }
  }
  flush(length);
  return out.slice(0, offset);
}
