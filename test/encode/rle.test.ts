import test from 'ava';
import { decodeRle } from '../../clients/src/decode-maps.js';
import { encodeRle } from '../../server/src/encode/rle.js';

test('run-length round trips 8- and 16-bit maps, including long runs and large values', (t) => {
  const semantic = new Uint8Array(100_000);
  semantic.fill(7, 0, 70_000);
  semantic.fill(255, 70_000, 70_001);
  semantic.fill(13, 70_001);
  const encoded = encodeRle(semantic);
  t.true(encoded.length < 20);
  t.deepEqual(decodeRle(encoded, semantic.length, 1), semantic);
  const instance = new Uint16Array(5000).map((_, i) => (i * 131) % 65536);
  t.deepEqual(decodeRle(encodeRle(instance), instance.length, 2), instance);
  t.deepEqual(encodeRle(new Uint8Array(0)), new Uint8Array(0));
});

test('run-length data that does not cover the map is an error', (t) => {
  const encoded = encodeRle(new Uint8Array(10).fill(3));
  t.throws(() => decodeRle(encoded, 11, 1), { instanceOf: RangeError, message: /covers 10 of 11 pixels/ });
  t.throws(() => decodeRle(encoded, 9, 1), { instanceOf: RangeError, message: /more than 9 pixels/ });
  t.throws(() => decodeRle(new Uint8Array([0x80]), 1, 1), { instanceOf: RangeError, message: /inside a varint/ });
});
