import { decode } from 'fast-png';
import { MapEncoding, type EncodedMap } from '../../proto/generated/fusionseg/v1/segmentation.pb.js';

/**
 * Decodes an `EncodedMap` (raw, PNG or run-length) into its label values: `Uint8Array` for semantic maps,
 * `Uint16Array` for instance maps. Returns undefined for an absent map.
 */
export function decodeMap(map: EncodedMap | undefined): Uint8Array | Uint16Array | undefined {
  if (map === undefined || map.encoding === MapEncoding.MAP_ENCODING_NONE) return undefined;
  const pixels = map.width * map.height;
  const wide = map.bytesPerPixel === 2;
  switch (map.encoding) {
    case MapEncoding.MAP_ENCODING_RAW: {
      if (map.data.length !== pixels * (wide ? 2 : 1)) {
        throw new RangeError(
          `a raw ${map.width}x${map.height} map needs ${pixels * (wide ? 2 : 1)} bytes, got ${map.data.length}`,
        );
      }
      // new Uint8Array(view) copies; Buffer#slice (the message bytes may be a Buffer) would not.
      const copy = new Uint8Array(map.data);
      return wide ? new Uint16Array(copy.buffer, 0, pixels) : copy;
    }
    case MapEncoding.MAP_ENCODING_RLE:
      return decodeRle(map.data, pixels, wide ? 2 : 1);
    case MapEncoding.MAP_ENCODING_PNG: {
      const png = decode(map.data);
      if (png.width !== map.width || png.height !== map.height || png.channels !== 1) {
        throw new RangeError(
          `the PNG map is ${png.width}x${png.height}x${png.channels}, expected ${map.width}x${map.height}x1`,
        );
      }
      return png.data as Uint8Array | Uint16Array;
    }
    case MapEncoding.MAP_ENCODING_UNSPECIFIED:
    case MapEncoding.UNRECOGNIZED:
      throw new RangeError(`unknown map encoding ${String(map.encoding)}`);
  }
}

/** Decodes run-length data: row-major runs as pairs of unsigned LEB128 varints (value, run length). */
export function decodeRle(data: Uint8Array, pixels: number, bytesPerPixel: 1 | 2): Uint8Array | Uint16Array {
  const out = bytesPerPixel === 1 ? new Uint8Array(pixels) : new Uint16Array(pixels);
  let offset = 0;
  let position = 0;
  const readVarint = () => {
    let result = 0;
    let shift = 0;
    for (;;) {
      if (offset >= data.length) throw new RangeError('run-length data ends inside a varint');
      const byte = data[offset++]!;
      result += (byte & 0x7f) * 2 ** shift;
      if (byte < 0x80) return result;
      shift += 7;
    }
  };
  while (offset < data.length) {
    const value = readVarint();
    const run = readVarint();
    if (position + run > pixels) throw new RangeError(`run-length data covers more than ${pixels} pixels`);
    out.fill(value, position, position + run);
    position += run;
  }
  if (position !== pixels) throw new RangeError(`run-length data covers ${position} of ${pixels} pixels`);
  return out;
}
