import type { EncodedMap } from '../../proto/generated/fusionseg/v1/segmentation.pb.js';
import { decodeMap as decodeOptionalMap } from '../../clients/src/decode-maps.js';

/** Decodes a map that the test expects to be present. */
export function decodeMap(map: EncodedMap | undefined): Uint8Array | Uint16Array | Uint32Array {
  const values = decodeOptionalMap(map);
  if (values === undefined) throw new Error('no map in the result');
  return values;
}
