/**
 * Run-length encoding of a label map: row-major runs as pairs of unsigned LEB128 varints (value, run
 * length). Encoder and decoder are shared with the clients in wire/src/map-codecs.ts.
 */
export { decodeRle, encodeRle } from '../../../wire/src/map-codecs.js';
