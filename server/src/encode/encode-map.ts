import { MapEncoding, type EncodedMap } from '../../../proto/generated/fusionseg/v1/segmentation.pb.js';
import { encodeGreyPng } from './png.js';
import { encodeRle } from './rle.js';

/** Encodes a label map as the client asked; undefined when it asked for none. */
export function encodeMap(
  values: Uint8Array | Uint16Array,
  width: number,
  height: number,
  encoding: MapEncoding,
): EncodedMap | undefined {
  const bytesPerPixel = values.BYTES_PER_ELEMENT;
  const base = { encoding, width, height, bytesPerPixel };
  switch (encoding) {
    case MapEncoding.MAP_ENCODING_NONE:
    case MapEncoding.MAP_ENCODING_UNSPECIFIED:
    case MapEncoding.UNRECOGNIZED:
      return undefined;
    case MapEncoding.MAP_ENCODING_RAW:
      // Little-endian on every platform Node runs on: the typed array's bytes are the wire format.
      return { ...base, data: new Uint8Array(values.buffer, values.byteOffset, values.byteLength) };
    case MapEncoding.MAP_ENCODING_PNG:
      return { ...base, data: encodeGreyPng(values, width, height) };
    case MapEncoding.MAP_ENCODING_RLE:
      return { ...base, data: encodeRle(values) };
  }
}
