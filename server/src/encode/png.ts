import { encode } from 'fast-png';

/** Fast deflate: label maps compress well even at level 1, and encoding sits on the frame's path. */
const zlib = { level: 1 } as const;

/** A greyscale PNG: 8-bit for semantic maps, 16-bit for instance maps. */
export function encodeGreyPng(values: Uint8Array | Uint16Array, width: number, height: number): Uint8Array {
  return encode({ width, height, data: values, channels: 1, depth: values instanceof Uint16Array ? 16 : 8 }, { zlib });
}

/** Panoptic segment id of stuff class `c`: above every 16-bit instance id, so the two never collide. */
export const STUFF_ID_BASE = 65536;

/**
 * A COCO-panoptic PNG: RGB with segment id = R + 256 G + 256^2 B. Instance pixels carry their instance id;
 * other labelled pixels carry STUFF_ID_BASE + class id; void (255) pixels are 0.
 */
export function encodePanopticPng(
  semantic: Uint8Array,
  instance: Uint16Array,
  width: number,
  height: number,
  voidId = 255,
): Uint8Array {
  const rgb = new Uint8Array(width * height * 3);
  for (let p = 0, q = 0; p < semantic.length; p++, q += 3) {
    const label = semantic[p]!;
    const instanceId = instance[p]!;
    const id = instanceId !== 0 ? instanceId : label === voidId ? 0 : STUFF_ID_BASE + label;
    rgb[q] = id & 0xff;
    rgb[q + 1] = (id >>> 8) & 0xff;
    rgb[q + 2] = id >>> 16;
  }
  return encode({ width, height, data: rgb, channels: 3, depth: 8 }, { zlib });
}
