/**
 * PNG encodings of the server's outputs: greyscale label maps and the COCO-panoptic PNG. The rules (and
 * the panoptic id scheme: instance ids, STUFF_ID_BASE + class for stuff, 0 for void) are shared with the
 * clients in wire/src/map-codecs.ts and wire/src/panoptic.ts.
 */
export { encodeGreyPng } from '../../../wire/src/map-codecs.js';
export {
  encodePanopticPng,
  PANOPTIC_VOID,
  panopticId,
  SEMANTIC_VOID,
  STUFF_ID_BASE,
} from '../../../wire/src/panoptic.js';
