/**
 * Decoding of the result maps (`EncodedMap`: raw, PNG or run-length) and of the COCO-panoptic PNG. The
 * codecs and the panoptic id scheme are shared with the server: wire/src/map-codecs.ts, wire/src/panoptic.ts.
 */
export { decodeMap, decodeRle } from '../../wire/src/map-codecs.js';
export {
  decodePanopticPng,
  describePanopticId,
  NO_INSTANCE,
  PANOPTIC_VOID,
  SEMANTIC_VOID,
  STUFF_ID_BASE,
  type PanopticSegment,
} from '../../wire/src/panoptic.js';
