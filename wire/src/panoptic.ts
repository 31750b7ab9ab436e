/**
 * The panoptic id scheme and void values, one definition for the server (which encodes the maps and the
 * COCO-panoptic PNG) and the clients (which decode them and write COCO-panoptic JSON).
 *
 * - Semantic maps: one class id per pixel (8-bit); `SEMANTIC_VOID` (255) marks pixels of no class.
 * - Instance maps: one instance id per pixel (16-bit; 24-bit track ids with tracking on); `NO_INSTANCE` (0)
 *   marks pixels of no thing.
 * - COCO-panoptic PNG: RGB with segment id = R + 256 G + 256^2 B. An instance pixel carries its instance id
 *   (1..65535, or the track id up to `MAX_TRACK_ID` with tracking on: the `Segment.id` of its segment); any
 *   other labelled pixel carries `STUFF_ID_BASE + class id` (`TRACKED_STUFF_ID_BASE + class id` with tracking
 *   on; stuff segments are not listed in `segments`); a void pixel carries `PANOPTIC_VOID` (0).
 */
import { decode, encode } from 'fast-png';

/** The semantic map's value for pixels of no class. */
export const SEMANTIC_VOID = 255;

/** The instance map's value for pixels that belong to no instance. */
export const NO_INSTANCE = 0;

/** The COCO-panoptic PNG's segment id of void pixels. */
export const PANOPTIC_VOID = 0;

/** Panoptic segment id of stuff class `c` is STUFF_ID_BASE + c: above every 16-bit instance id, so the two never collide. */
export const STUFF_ID_BASE = 65536;

/**
 * With tracking on, instance pixels carry track ids, which outgrow 16 bits on a long stream: stuff class `c`
 * is then TRACKED_STUFF_ID_BASE + c, the top 256 ids of the PNG's 24 bits, and track ids stay below it.
 */
export const TRACKED_STUFF_ID_BASE = 2 ** 24 - 256;

/** The largest track id a stream can number (ids are never reused within a stream). */
export const MAX_TRACK_ID = TRACKED_STUFF_ID_BASE - 1;

/** The stuff id base of a frame's panoptic ids: with tracking on, above every track id. */
export function stuffIdBase(tracked: boolean): number {
  return tracked ? TRACKED_STUFF_ID_BASE : STUFF_ID_BASE;
}

/** The panoptic segment id of one pixel, from its semantic label and instance id. */
export function panopticId(
  label: number,
  instanceId: number,
  voidId = SEMANTIC_VOID,
  stuffBase = STUFF_ID_BASE,
): number {
  if (instanceId !== NO_INSTANCE) return instanceId;
  return label === voidId ? PANOPTIC_VOID : stuffBase + label;
}

/** What a panoptic segment id stands for. */
export type PanopticSegment =
  | { readonly kind: 'void' }
  | { readonly kind: 'instance'; readonly instanceId: number }
  | { readonly kind: 'stuff'; readonly classId: number };

/** What a panoptic id of a frame stands for (`tracked`: FrameResult.tracked). */
export function describePanopticId(id: number, tracked = false): PanopticSegment {
  const stuffBase = stuffIdBase(tracked);
  if (id === PANOPTIC_VOID) return { kind: 'void' };
  if (id < stuffBase) return { kind: 'instance', instanceId: id };
  return { kind: 'stuff', classId: id - stuffBase };
}

/** Fast deflate: label maps compress well even at level 1, and encoding sits on the frame's path. */
const zlib = { level: 1 } as const;

/**
 * Encodes the COCO-panoptic PNG of a frame from its semantic and instance maps (same size). A tracked
 * frame's instance map (`Uint32Array`) carries track ids, and its stuff ids start at TRACKED_STUFF_ID_BASE.
 */
export function encodePanopticPng(
  semantic: Uint8Array,
  instance: Uint16Array | Uint32Array,
  width: number,
  height: number,
  voidId = SEMANTIC_VOID,
): Uint8Array {
  const rgb = new Uint8Array(width * height * 3);
  const stuffBase = stuffIdBase(instance instanceof Uint32Array);
  for (let p = 0, q = 0; p < semantic.length; p++, q += 3) {
    const id = panopticId(semantic[p]!, instance[p]!, voidId, stuffBase);
    rgb[q] = id & 0xff;
    rgb[q + 1] = (id >>> 8) & 0xff;
    rgb[q + 2] = id >>> 16;
  }
  return encode({ width, height, data: rgb, channels: 3, depth: 8 }, { zlib });
}

/** Decodes a COCO-panoptic PNG into one segment id per pixel. */
export function decodePanopticPng(png: Uint8Array): { width: number; height: number; ids: Uint32Array } {
  const image = decode(png);
  if (image.channels !== 3 || image.depth !== 8) {
    throw new RangeError(`a panoptic PNG is 8-bit RGB, got ${image.channels} channels of ${image.depth} bits`);
  }
  const data = image.data;
  const ids = new Uint32Array(image.width * image.height);
  for (let p = 0, q = 0; p < ids.length; p++, q += 3) ids[p] = data[q]! + 256 * data[q + 1]! + 65536 * data[q + 2]!;
  return { width: image.width, height: image.height, ids };
}
