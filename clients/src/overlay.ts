/**
 * Draws a fused result over its source frame: each pixel blended with a colour, instance boundaries
 * outlined in white. Untracked results colour every pixel by its class. Tracked results colour instance
 * pixels by their track id (`trackColor`), so an object keeps its colour for the whole video, and the
 * other pixels (stuff, and thing pixels no instance took) by their class. Maps at the model's size are
 * sampled by nearest neighbour onto the frame.
 */
export interface OverlayInput {
  /** The source frame, RGB24 row-major. */
  readonly rgb: Uint8Array;
  readonly width: number;
  readonly height: number;
  readonly semantic: Uint8Array;
  /** Instance ids (0 = none): a `Uint32Array` of track ids for tracked results. */
  readonly instance: Uint16Array | Uint32Array | undefined;
  readonly mapWidth: number;
  readonly mapHeight: number;
  /** RGB per semantic class id; classes without a colour (void) are left unblended. */
  readonly colors: ReadonlyMap<number, readonly [number, number, number]>;
  /** Weight of the class (or track) colour, 0..1 (default 0.5). */
  readonly alpha?: number;
  /**
   * The result is tracked (`FrameResult.tracked`): instance ids are track ids and their pixels take the
   * track's colour. Default: whether `instance` is a `Uint32Array` (tracked maps decode to one).
   */
  readonly tracked?: boolean;
}

/** The golden ratio's fractional part: successive ids step the hue by it, so nearby ids get distant hues. */
const GOLDEN_FRACTION = 0.618033988749895;

/**
 * The colour of a track: a deterministic function of its id alone (the same object keeps it in every frame
 * and every run). Hues step by the golden ratio from id to id, so consecutive ids (tracks born together)
 * look different; saturation and value vary a little by id, and stay high so the colour shows over a frame.
 */
export function trackColor(trackId: number): readonly [number, number, number] {
  const hue = (trackId * GOLDEN_FRACTION) % 1;
  const saturation = 0.65 + 0.1 * (trackId % 4);
  const value = trackId % 2 === 0 ? 0.9 : 1;
  return hsvToRgb(hue, saturation, value);
}

function hsvToRgb(h: number, s: number, v: number): readonly [number, number, number] {
  const sector = Math.floor(h * 6);
  const f = h * 6 - sector;
  const p = v * (1 - s);
  const q = v * (1 - f * s);
  const t = v * (1 - (1 - f) * s);
  const [r, g, b] = [
    [v, t, p],
    [q, v, p],
    [p, v, t],
    [p, q, v],
    [t, p, v],
    [v, p, q],
  ][sector % 6]!;
  return [Math.round(r! * 255), Math.round(g! * 255), Math.round(b! * 255)];
}

/** Returns a new RGB24 frame with the overlay drawn on it. */
export function renderOverlay(input: OverlayInput): Uint8Array {
  const { rgb, width, height, semantic, instance, mapWidth, mapHeight, colors } = input;
  const tracked = input.tracked ?? instance instanceof Uint32Array;
  const alpha = input.alpha ?? 0.5;
  const keep = 1 - alpha;
  const out = new Uint8Array(width * height * 3);
  const columns = new Uint32Array(width);
  for (let x = 0; x < width; x++) columns[x] = Math.min(mapWidth - 1, Math.floor(((x + 0.5) * mapWidth) / width));
  const palette = new Float32Array(256 * 3).fill(-1);
  for (const [id, color] of colors) if (id >= 0 && id < 256) palette.set(color, id * 3);
  // Track colours, computed once per id of the frame.
  const trackColors = new Map<number, readonly [number, number, number]>();
  const colorOfTrack = (id: number) => {
    let color = trackColors.get(id);
    if (color === undefined) trackColors.set(id, (color = trackColor(id)));
    return color;
  };
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
      if (tracked && id !== 0) {
        const [r, g, b] = colorOfTrack(id);
        out[p] = rgb[p]! * keep + r * alpha;
        out[p + 1] = rgb[p + 1]! * keep + g * alpha;
        out[p + 2] = rgb[p + 2]! * keep + b * alpha;
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
  instance: Uint16Array | Uint32Array,
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
