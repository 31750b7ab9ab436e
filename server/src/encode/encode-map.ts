/** Encodes a label map as the client asked (RAW, RLE or PNG); the rules live in wire/src/map-codecs.ts. */
export { encodeMap } from '../../../wire/src/map-codecs.js';
