/**
 * Decoding of the result maps (`EncodedMap`: raw, PNG or run-length) and of the COCO-panoptic PNG. The
 * codecs and the panoptic id scheme are shared with the server: wire/src/map-codecs.ts, wire/src/panoptic.ts.
 * A tracked result's instance map decodes to a `Uint32Array` of track ids, and its panoptic stuff ids start
 * at `TRACKED_STUFF_ID_BASE` (`stuffIdBase(result.tracked)`; `describePanopticId(id, result.tracked)`).
 */
export { decodeMap, decodeRle, type LabelValues } from '../../wire/src/map-codecs.js';
export {
  decodePanopticPng,
  describePanopticId,
  MAX_TRACK_ID,
  NO_INSTANCE,
  PANOPTIC_VOID,
  SEMANTIC_VOID,
  STUFF_ID_BASE,
  stuffIdBase,
  TRACKED_STUFF_ID_BASE,
  type PanopticSegment,
} from '../../wire/src/panoptic.js';
