/** Nearest-neighbour resize of a label map (labels must never be blended). */
export function resizeLabels<T extends Uint8Array | Uint16Array>(
  values: T,
  width: number,
  height: number,
  toWidth: number,
  toHeight: number,
): T {
  if (width === toWidth && height === toHeight) return values;
  const out = new (values.constructor as new (length: number) => T)(toWidth * toHeight);
  const columns = new Uint32Array(toWidth);
  for (let x = 0; x < toWidth; x++) columns[x] = Math.min(width - 1, Math.floor(((x + 0.5) * width) / toWidth));
  for (let y = 0; y < toHeight; y++) {
    const sourceRow = Math.min(height - 1, Math.floor(((y + 0.5) * height) / toHeight)) * width;
    const row = y * toWidth;
    for (let x = 0; x < toWidth; x++) out[row + x] = values[sourceRow + columns[x]!]!;
  }
  return out;
}
