import test from 'ava';
import { MapEncoding } from '../../proto/generated/fusionseg/v1/segmentation.pb.js';
import * as clientMaps from '../../clients/src/decode-maps.js';
import * as serverEncodeMap from '../../server/src/encode/encode-map.js';
import * as serverPng from '../../server/src/encode/png.js';
import * as serverRle from '../../server/src/encode/rle.js';
import { decodeMap, encodeMap } from '../../wire/src/map-codecs.js';
import {
  decodePanopticPng,
  describePanopticId,
  encodePanopticPng,
  panopticId,
  PANOPTIC_VOID,
  SEMANTIC_VOID,
  MAX_TRACK_ID,
  STUFF_ID_BASE,
  TRACKED_STUFF_ID_BASE,
} from '../../wire/src/panoptic.js';
import { STAGES, stageMs } from '../../wire/src/stages.js';
import { STAGES as clientStages } from '../../clients/src/summary.js';

const width = 37;
const height = 11;
const semantic = Uint8Array.from({ length: width * height }, (_, p) => (p % 7 === 0 ? SEMANTIC_VOID : (p >> 4) % 19));
const instance = Uint16Array.from({ length: width * height }, (_, p) => (p % 5 === 0 ? 0 : 1000 + (p % 300) * 200));

test('every encoding the server produces decodes on the client to the same values (8- and 16-bit)', (t) => {
  for (const encoding of [MapEncoding.MAP_ENCODING_RAW, MapEncoding.MAP_ENCODING_RLE, MapEncoding.MAP_ENCODING_PNG]) {
    for (const values of [semantic, instance]) {
      const encoded = serverEncodeMap.encodeMap(values, width, height, encoding);
      t.truthy(encoded);
      t.is(encoded!.bytesPerPixel, values.BYTES_PER_ELEMENT);
      const decoded = clientMaps.decodeMap(encoded);
      t.is(decoded?.constructor, values.constructor, MapEncoding[encoding]);
      t.deepEqual(decoded, values, MapEncoding[encoding]);
    }
  }
  t.is(encodeMap(semantic, width, height, MapEncoding.MAP_ENCODING_NONE), undefined);
  t.is(decodeMap(undefined), undefined);
  t.throws(
    () =>
      decodeMap({ encoding: MapEncoding.MAP_ENCODING_RAW, width, height, bytesPerPixel: 1, data: new Uint8Array(3) }),
    {
      instanceOf: RangeError,
    },
  );
});

test('tracked instance maps (24-bit track ids) round-trip: 4 bytes per pixel raw and RLE, RGB PNG', (t) => {
  const tracks = Uint32Array.from({ length: width * height }, (_, p) =>
    p % 5 === 0 ? 0 : p % 3 === 0 ? MAX_TRACK_ID - (p % 7) : 70000 + p,
  );
  for (const [encoding, expected] of [
    [MapEncoding.MAP_ENCODING_RAW, 4],
    [MapEncoding.MAP_ENCODING_RLE, 4],
    [MapEncoding.MAP_ENCODING_PNG, 3],
  ] as const) {
    const encoded = encodeMap(tracks, width, height, encoding)!;
    t.is(encoded.bytesPerPixel, expected, MapEncoding[encoding]);
    const decoded = clientMaps.decodeMap(encoded);
    t.true(decoded instanceof Uint32Array, MapEncoding[encoding]);
    t.deepEqual(decoded, tracks, MapEncoding[encoding]);
  }
  t.throws(
    () =>
      decodeMap({ encoding: MapEncoding.MAP_ENCODING_RLE, width, height, bytesPerPixel: 3, data: new Uint8Array(3) }),
    { instanceOf: RangeError, message: /3 bytes per pixel/ },
  );
  // The tracked panoptic PNG: track ids as they are, stuff above every track id.
  t.is(TRACKED_STUFF_ID_BASE, MAX_TRACK_ID + 1);
  const { ids } = decodePanopticPng(encodePanopticPng(semantic, tracks, width, height));
  for (let p = 0; p < ids.length; p++) {
    const expectedId =
      tracks[p] !== 0 ? tracks[p]! : semantic[p] === SEMANTIC_VOID ? 0 : TRACKED_STUFF_ID_BASE + semantic[p]!;
    if (ids[p] !== expectedId) return t.fail(`pixel ${p}: ${ids[p]} != ${expectedId}`);
  }
  t.deepEqual(describePanopticId(TRACKED_STUFF_ID_BASE + 3, true), { kind: 'stuff', classId: 3 });
  t.deepEqual(describePanopticId(MAX_TRACK_ID, true), { kind: 'instance', instanceId: MAX_TRACK_ID });
});

test('one panoptic id scheme: instances keep their id, stuff is 65536 + class, void is 0', (t) => {
  t.is(STUFF_ID_BASE, 65536);
  t.is(PANOPTIC_VOID, 0);
  t.is(panopticId(7, 0), STUFF_ID_BASE + 7);
  t.is(panopticId(SEMANTIC_VOID, 0), PANOPTIC_VOID);
  t.is(panopticId(13, 4242), 4242);
  t.deepEqual(describePanopticId(STUFF_ID_BASE + 7), { kind: 'stuff', classId: 7 });
  t.deepEqual(describePanopticId(4242), { kind: 'instance', instanceId: 4242 });
  t.deepEqual(describePanopticId(0), { kind: 'void' });
  const png = serverPng.encodePanopticPng(semantic, instance, width, height);
  const { ids } = clientMaps.decodePanopticPng(png);
  t.deepEqual(
    ids,
    Uint32Array.from(semantic, (label, p) => panopticId(label, instance[p]!)),
  );
  t.deepEqual(decodePanopticPng(encodePanopticPng(semantic, instance, width, height)).ids, ids);
});

test('the server and the clients use the very same shared definitions', (t) => {
  t.is(serverPng.STUFF_ID_BASE, clientMaps.STUFF_ID_BASE);
  t.is(serverPng.SEMANTIC_VOID, clientMaps.SEMANTIC_VOID);
  t.is(serverRle.decodeRle, clientMaps.decodeRle);
  t.is(serverEncodeMap.encodeMap, encodeMap);
  t.is(clientStages, STAGES);
  t.deepEqual(
    stageMs({
      decodeUs: 1000,
      queueUs: 2000,
      inferenceUs: 3000,
      fusionUs: 4000,
      trackUs: 500,
      encodeUs: 5000,
      totalUs: 15000,
      batchSize: 1,
    }),
    { decode: 1, queue: 2, inference: 3, fusion: 4, track: 0.5, encode: 5, total: 15 },
  );
});
