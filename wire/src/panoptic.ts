/**
 * The panoptic id scheme and void values, one definition for the server (which encodes the maps and the
 * COCO-panoptic PNG) and the clients (which decode them and write COCO-panoptic JSON).
 *
 * - Semantic maps: one class id per pixel (8-bit); `SEMANTIC_VOID` (255) marks pixels of no class.
 * - Instance maps: one instance id per pixel (16-bit); `NO_INSTANCE` (0) marks pixels of no thing.
 * - COCO-panoptic PNG: RGB with segment id = R + 256 G + 256^2 B. An instance pixel carries its instance id
 *   (1..65535, the `Segment.id` of its segment); any other labelled pixel carries `STUFF_ID_BASE + class id`
 *   (stuff segments are not listed in `segments`); a void pixel carries `PANOPTIC_VOID` (0).
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

/** The panoptic segment id of one pixel, from its semantic label and instance id. */
export function panopticId(label: number, instanceId: number, voidId = SEMANTIC_VOID): number {
  if (instanceId !== NO_INSTANCE) return instanceId;
  return label === voidId ? PANOPTIC_VOID : STUFF_ID_BASE + label;
}

/** What a panoptic segment id stands for. */
export type PanopticSegment =
  | { readonly kind: 'void' }
  | { readonly kind: 'instance'; readonly instanceId: number }
  | { readonly kind: 'stuff'; readonly classId: number };

export function describePanopticId(id: number): PanopticSegment {
  if (id === PANOPTIC_VOID) return { kind: 'void' };
  if (id < STUFF_ID_BASE) return { kind: 'instance', instanceId: id };
  return { kind: 'stuff', classId: id - STUFF_ID_BASE };
}

/** Fast deflate: label maps compress well even at level 1, and encoding sits on the frame's path. */
const zlib = { level: 1 } as const;

/** Encodes the COCO-panoptic PNG of a frame from its semantic and instance maps (same size). */
export function encodePanopticPng(
  semantic: Uint8Array,
  instance: Uint16Array,
  width: number,
  height: number,
  voidId = SEMANTIC_VOID,
): Uint8Array {
  const rgb = new Uint8Array(width * height * 3);
  for (let p = 0, q = 0; p < semantic.length; p++, q += 3) {
    const id = panopticId(semantic[p]!, instance[p]!, voidId);
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
