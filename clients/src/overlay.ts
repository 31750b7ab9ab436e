/**
 * Draws a fused result over its source frame: each pixel blended with its class colour, instance
 * boundaries outlined in white. Maps at the model's size are sampled by nearest neighbour onto the frame.
 */
export interface OverlayInput {
  /** The source frame, RGB24 row-major. */
  readonly rgb: Uint8Array;
  readonly width: number;
  readonly height: number;
  readonly semantic: Uint8Array;
  readonly instance: Uint16Array | undefined;
  readonly mapWidth: number;
  readonly mapHeight: number;
  /** RGB per semantic class id; classes without a colour (void) are left unblended. */
  readonly colors: ReadonlyMap<number, readonly [number, number, number]>;
  /** Weight of the class colour, 0..1 (default 0.5). */
  readonly alpha?: number;
}

/** Returns a new RGB24 frame with the overlay drawn on it. */
export function renderOverlay(input: OverlayInput): Uint8Array {
  const { rgb, width, height, semantic, instance, mapWidth, mapHeight, colors } = input;
  const alpha = input.alpha ?? 0.5;
  const keep = 1 - alpha;
  const out = new Uint8Array(width * height * 3);
  const columns = new Uint32Array(width);
  for (let x = 0; x < width; x++) columns[x] = Math.min(mapWidth - 1, Math.floor(((x + 0.5) * mapWidth) / width));
  const palette = new Float32Array(256 * 3).fill(-1);
  for (const [id, color] of colors) if (id >= 0 && id < 256) palette.set(color, id * 3);
  for (let y = 0; y < height; y++) {
    const mapRow = Math.min(mapHeight - 1, Math.floor(((y + 0.5) * mapHeight) / height)) * mapWidth;
    for (let x = 0; x < width; x++) {
      const m = mapRow + columns[x]!;
      const p = (y * width + x) * 3;
      const id = instance?.[m] ?? 0;
      const edge =
        id !== 0 &&
        instance !== undefined &&
        ((x > 0 && instance[mapRow + columns[x - 1]!] !== id) ||
          (y > 0 && edgeAbove(instance, m, mapWidth, id, y, height, mapHeight)));
      if (edge) {
        out[p] = 255;
        out[p + 1] = 255;
        out[p + 2] = 255;
        continue;
      }
      const c = semantic[m]! * 3;
      const r = palette[c]!;
      if (r < 0) {
        out[p] = rgb[p]!;
        out[p + 1] = rgb[p + 1]!;
        out[p + 2] = rgb[p + 2]!;
      } else {
        out[p] = rgb[p]! * keep + r * alpha;
        out[p + 1] = rgb[p + 1]! * keep + palette[c + 1]! * alpha;
        out[p + 2] = rgb[p + 2]! * keep + palette[c + 2]! * alpha;
      }
    }
  }
  return out;
}

/** Whether the map row that the frame row above samples has a different instance at this column. */
function edgeAbove(
  instance: Uint16Array,
  m: number,
  mapWidth: number,
  id: number,
  y: number,
  height: number,
  mapHeight: number,
): boolean {
  const rowAbove = Math.min(mapHeight - 1, Math.floor(((y - 0.5) * mapHeight) / height));
  const column = m % mapWidth;
  return instance[rowAbove * mapWidth + column] !== id;
}
