import { MapEncoding, type EncodedMap } from '../../proto/generated/fusionseg/v1/segmentation.pb.js';
import { decode } from 'fast-png';
import { decodeRle } from '../../server/src/encode/rle.js';

/** Decodes an EncodedMap of any encoding into its label values. */
export function decodeMap(map: EncodedMap | undefined): Uint8Array | Uint16Array {
  if (map === undefined) throw new Error('no map in the result');
  const pixels = map.width * map.height;
  const bytesPerPixel = map.bytesPerPixel === 2 ? 2 : 1;
  switch (map.encoding) {
    case MapEncoding.MAP_ENCODING_RAW: {
      const copy = map.data.slice();
      return bytesPerPixel === 2 ? new Uint16Array(copy.buffer, 0, pixels) : copy;
    }
    case MapEncoding.MAP_ENCODING_RLE:
      return decodeRle(map.data, pixels, bytesPerPixel);
    case MapEncoding.MAP_ENCODING_PNG: {
      const png = decode(map.data);
      return png.data as Uint8Array | Uint16Array;
    }
    default:
      throw new Error(`unexpected map encoding ${map.encoding}`);
  }
}
