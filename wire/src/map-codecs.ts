/**
 * The label-map codecs of `EncodedMap`, both directions in one place: the server encodes with them, the
 * clients decode with them.
 *
 * - RAW: the values' bytes, little-endian (`bytes_per_pixel` 1 for semantic maps, 2 for instance maps, 4 for
 *   tracked instance maps, whose track ids outgrow 16 bits).
 * - RLE: row-major runs as pairs of unsigned LEB128 varints (value, run length), covering every pixel.
 *   Label maps are large flat regions, so this is typically 50-200x smaller than raw and far cheaper to
 *   produce than PNG.
 * - PNG: a greyscale PNG, 8-bit for semantic maps and 16-bit for instance maps; a tracked instance map is an
 *   8-bit RGB PNG whose value is R + 256 G + 65536 B (`bytes_per_pixel` 3), as COCO-panoptic PNGs are.
 */
import { decode, encode } from 'fast-png';
import { MapEncoding, type EncodedMap } from '../../proto/generated/fusionseg/v1/segmentation.pb.js';

/** Fast deflate: label maps compress well even at level 1, and encoding sits on the frame's path. */
const zlib = { level: 1 } as const;

/** A label map's values: class ids (8-bit), instance ids (16-bit) or track ids (32-bit, below 2^24). */
export type LabelValues = Uint8Array | Uint16Array | Uint32Array;

/** A greyscale PNG: 8-bit for semantic maps, 16-bit for instance maps. */
export function encodeGreyPng(values: Uint8Array | Uint16Array, width: number, height: number): Uint8Array {
  return encode({ width, height, data: values, channels: 1, depth: values instanceof Uint16Array ? 16 : 8 }, { zlib });
}

/** An 8-bit RGB PNG of 24-bit values (R + 256 G + 65536 B): tracked instance maps. */
export function encodeRgbIdPng(values: Uint32Array, width: number, height: number): Uint8Array {
  const rgb = new Uint8Array(values.length * 3);
  for (let p = 0, q = 0; p < values.length; p++, q += 3) {
    const value = values[p]!;
    rgb[q] = value & 0xff;
    rgb[q + 1] = (value >>> 8) & 0xff;
    rgb[q + 2] = (value >>> 16) & 0xff;
  }
  return encode({ width, height, data: rgb, channels: 3, depth: 8 }, { zlib });
}

/** The 24-bit values of an 8-bit RGB PNG's pixels (R + 256 G + 65536 B). */
export function rgbIds(data: ArrayLike<number>, pixels: number): Uint32Array {
  const ids = new Uint32Array(pixels);
  for (let p = 0, q = 0; p < pixels; p++, q += 3) ids[p] = data[q]! | (data[q + 1]! << 8) | (data[q + 2]! << 16);
  return ids;
}

function writeVarint(out: Uint8Array, offset: number, value: number): number {
  let v = value;
  while (v >= 0x80) {
    out[offset++] = (v & 0x7f) | 0x80;
    v >>>= 7;
  }
  out[offset++] = v;
  return offset;
}

/** Run-length encodes a label map (see the module comment for the format). */
export function encodeRle(values: LabelValues): Uint8Array {
  const length = values.length;
  if (length === 0) return new Uint8Array(0);
  // Worst case: every pixel its own run, up to 4 bytes per value (24-bit track ids) + 4 per length.
  let out = new Uint8Array(Math.min(length * 8, 1 << 16));
  let offset = 0;
  let runValue = values[0]!;
  let runStart = 0;
  const flush = (end: number) => {
    if (offset + 8 > out.length) {
      const grown = new Uint8Array(Math.min(out.length * 2, length * 8));
      grown.set(out.subarray(0, offset));
      out = grown;
    }
    offset = writeVarint(out, offset, runValue);
    offset = writeVarint(out, offset, end - runStart);
  };
  for (let i = 1; i < length; i++) {
    const value = values[i]!;
    if (value !== runValue) {
      flush(i);
      runValue = value;
      runStart = i;
    }
  }
  flush(length);
  return out.slice(0, offset);
}

/** Decodes run-length data into `pixels` values; throws a RangeError when the runs do not cover the map exactly. */
export function decodeRle(data: Uint8Array, pixels: number, bytesPerPixel: 1 | 2 | 4): LabelValues {
  const out =
    bytesPerPixel === 1
      ? new Uint8Array(pixels)
      : bytesPerPixel === 2
        ? new Uint16Array(pixels)
        : new Uint32Array(pixels);
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

/** Encodes a label map as the client asked; undefined when it asked for none. */
export function encodeMap(
  values: LabelValues,
  width: number,
  height: number,
  encoding: MapEncoding,
): EncodedMap | undefined {
  const wide = values instanceof Uint32Array;
  const bytesPerPixel = wide && encoding === MapEncoding.MAP_ENCODING_PNG ? 3 : values.BYTES_PER_ELEMENT;
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
      return { ...base, data: wide ? encodeRgbIdPng(values, width, height) : encodeGreyPng(values, width, height) };
    case MapEncoding.MAP_ENCODING_RLE:
      return { ...base, data: encodeRle(values) };
  }
}

/**
 * Decodes an `EncodedMap` (raw, PNG or run-length) into its label values: `Uint8Array` for semantic maps,
 * `Uint16Array` for instance maps, `Uint32Array` for tracked instance maps (`bytes_per_pixel` 4, or 3 for
 * their PNG). Returns undefined for an absent map.
 */
export function decodeMap(map: EncodedMap | undefined): LabelValues | undefined {
  if (map === undefined || map.encoding === MapEncoding.MAP_ENCODING_NONE) return undefined;
  const pixels = map.width * map.height;
  const bytes = map.bytesPerPixel;
  if (bytes !== 1 && bytes !== 2 && bytes !== 4 && !(bytes === 3 && map.encoding === MapEncoding.MAP_ENCODING_PNG)) {
    throw new RangeError(`a map of ${bytes} bytes per pixel is not one this format defines`);
  }
  switch (map.encoding) {
    case MapEncoding.MAP_ENCODING_RAW: {
      if (map.data.length !== pixels * bytes) {
        throw new RangeError(
          `a raw ${map.width}x${map.height} map needs ${pixels * bytes} bytes, got ${map.data.length}`,
        );
      }
      // new Uint8Array(view) copies; Buffer#slice (the message bytes may be a Buffer) would not.
      const copy = new Uint8Array(map.data);
      return bytes === 1
        ? copy
        : bytes === 2
          ? new Uint16Array(copy.buffer, 0, pixels)
          : new Uint32Array(copy.buffer, 0, pixels);
    }
    case MapEncoding.MAP_ENCODING_RLE:
      return decodeRle(map.data, pixels, bytes as 1 | 2 | 4);
    case MapEncoding.MAP_ENCODING_PNG: {
      const png = decode(map.data);
      const channels = bytes === 3 ? 3 : 1;
      if (png.width !== map.width || png.height !== map.height || png.channels !== channels) {
        throw new RangeError(
          `the PNG map is ${png.width}x${png.height}x${png.channels}, expected ${map.width}x${map.height}x${channels}`,
        );
      }
      return channels === 3 ? rgbIds(png.data, pixels) : (png.data as Uint8Array | Uint16Array);
    }
    case MapEncoding.MAP_ENCODING_UNSPECIFIED:
    case MapEncoding.UNRECOGNIZED:
      throw new RangeError(`unknown map encoding ${String(map.encoding)}`);
  }
}
