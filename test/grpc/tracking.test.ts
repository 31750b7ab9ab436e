import test from 'ava';
import { status } from '@grpc/grpc-js';
import {
  InputKind,
  MapEncoding,
  OverloadPolicy,
  type FrameRequest,
  type FrameResult,
  type ModelInfo,
  type TrackingOptions,
} from '../../proto/generated/fusionseg/v1/segmentation.pb.js';
import { decodePanopticPng, TRACKED_STUFF_ID_BASE } from '../../wire/src/panoptic.js';
import { MIN_NEW_INSTANCE_AREA_SHARE } from '../../server/src/pipeline/stream-settings.js';
import { DEFAULT_TRACKING } from '../../server/src/track/tracker.js';
import { readFile } from 'node:fs/promises';
import { makeTestClip, tempDir } from '../helpers/clips.js';
import { decodeMap } from '../helpers/maps.js';
import {
  collect,
  processVideoCall,
  startTestService,
  streamFramesCall,
  streamOptions,
  uploadRequests,
  writeAll,
} from '../helpers/service.js';

// The test graph's class is floor(red / 16): red 8 is road (stuff), red 216 a car (a thing). Its one detection
// scores mean(image) / 255, far below the fusion threshold on these dark frames, so every car square is one
// of fusion's new instances: tracking sees what fusion made, whatever made it.
const W = 64;
const H = 32;
const ROAD = [8, 8, 8] as const;
const CAR = [216, 8, 8] as const;
const CAR_CLASS = 13;

interface Square {
  readonly x: number;
  readonly y: number;
  readonly size: number;
}

function frameWith(frameId: number, squares: readonly Square[]): FrameRequest {
  const rgb24 = new Uint8Array(W * H * 3);
  for (let p = 0; p < W * H; p++) rgb24.set(ROAD, p * 3);
  for (const { x, y, size } of squares) {
    for (let row = y; row < y + size; row++)
      for (let col = x; col < x + size; col++) rgb24.set(CAR, (row * W + col) * 3);
  }
  return {
    payload: {
      $case: 'frame',
      frame: { frameId, pts: frameId, image: { $case: 'raw', raw: { width: W, height: H, rgb24 } } },
    },
  };
}

function openWith(
  tracking: Partial<TrackingOptions> | undefined,
  extra: { overload?: OverloadPolicy } = {},
): FrameRequest {
  return {
    payload: {
      $case: 'open',
      open: {
        options: {
          model: '',
          overload: extra.overload ?? OverloadPolicy.OVERLOAD_POLICY_UNSPECIFIED,
          output: {
            semanticMap: MapEncoding.MAP_ENCODING_RAW,
            instanceMap: MapEncoding.MAP_ENCODING_RAW,
            panopticPng: true,
            sourceResolution: false,
            detections: false,
          },
          // Every square is a new instance of fusion's: keep them whatever the server's minimum area.
          fusion: { disabled: false, consistency: 0, minNewInstanceArea: 1 },
          ...(tracking === undefined ? {} : { tracking }),
        },
        input: InputKind.INPUT_KIND_FRAMES,
        containerFormat: '',
      },
    },
  };
}

async function run(t: Parameters<typeof startTestService>[0], requests: FrameRequest[]) {
  const { client, service } = await startTestService(t);
  const call = streamFramesCall(client);
  const outcome = collect(call);
  await writeAll(call, requests);
  return { ...(await outcome), metrics: service.context.metrics.registry };
}

/** Track id under the centre of each square. */
function idsAt(result: FrameResult, squares: readonly Square[]): number[] {
  const instance = decodeMap(result.instance);
  return squares.map(({ x, y, size }) => instance[(y + (size >> 1)) * W + x + (size >> 1)]!);
}

test('two cars moving in opposite directions keep their track ids in every frame, in every output', async (t) => {
  const frames = 12;
  const squaresAt = (i: number): Square[] => [
    { x: 2 + 2 * i, y: 3, size: 8 },
    { x: 52 - 2 * i, y: 19, size: 8 },
  ];
  const { results, error } = await run(t, [
    openWith({ enabled: true }),
    ...Array.from({ length: frames }, (_, i) => frameWith(i, squaresAt(i))),
  ]);
  t.is(error, undefined);
  t.is(results.length, frames);
  const first = idsAt(results[0]!, squaresAt(0));
  t.deepEqual(new Set(first).size, 2);
  t.true(first.every((id) => id > 0));
  for (const [i, result] of results.entries()) {
    t.true(result.tracked);
    t.deepEqual(idsAt(result, squaresAt(i)), first, `frame ${i}`);
    t.deepEqual(result.tracksBorn, i === 0 ? [...first].sort((a, b) => a - b) : [], `frame ${i}`);
    t.deepEqual(result.tracksEnded, []);
    t.is(result.segments.length, 2);
    for (const segment of result.segments) {
      t.is(segment.id, segment.trackId);
      t.is(segment.trackFirstIndex, 0);
      t.is(segment.classId, CAR_CLASS);
      t.is(segment.area, 64);
    }
    // The instance map is the tracked one: 4 bytes per pixel, holding exactly the segments' ids.
    t.is(result.instance?.bytesPerPixel, 4);
    const instance = decodeMap(result.instance);
    t.true(instance instanceof Uint32Array);
    t.deepEqual(new Set([...instance].filter((id) => id !== 0)), new Set(result.segments.map((segment) => segment.id)));
    // The panoptic PNG carries the same track ids, and stuff above every track id.
    const { ids } = decodePanopticPng(result.panopticPng);
    for (let p = 0; p < ids.length; p++) {
      const expected = instance[p] !== 0 ? instance[p]! : TRACKED_STUFF_ID_BASE + 0;
      if (ids[p] !== expected) return t.fail(`frame ${i} pixel ${p}: panoptic ${ids[p]}, expected ${expected}`);
    }
    t.true(result.timings!.trackUs > 0);
  }
});

test('a car hidden for fewer frames than max_age keeps its id; hidden longer, its track ends and a new one begins', async (t) => {
  const still: Square = { x: 20, y: 10, size: 10 };
  // Visible in 0-3, hidden 4-6 (3 frames), visible 7-9, hidden 10-14 (5 frames), visible 15-16.
  const visible = (i: number) => i <= 3 || (i >= 7 && i <= 9) || i >= 15;
  const { results, error, metrics } = await run(t, [
    openWith({ enabled: true, maxAge: 3 }),
    ...Array.from({ length: 17 }, (_, i) => frameWith(i, visible(i) ? [still] : [])),
  ]);
  t.is(error, undefined);
  t.is(results.length, 17);
  const [firstId] = idsAt(results[0]!, [still]);
  t.true(firstId! > 0);
  for (const i of [1, 2, 3, 7, 8, 9]) t.deepEqual(idsAt(results[i]!, [still]), [firstId], `frame ${i}`);
  // Last seen at 9; with max_age 3 it is kept through frame 12 and ends with frame 13.
  const endedAt = results.findIndex((result) => result.tracksEnded.length > 0);
  t.is(endedAt, 13);
  t.deepEqual(
    results[13]!.tracksEnded.map((track) => ({ ...track })),
    [{ trackId: firstId!, classId: CAR_CLASS, firstIndex: 0, lastIndex: 9, framesSeen: 7 }],
  );
  const [secondId] = idsAt(results[15]!, [still]);
  t.true(secondId! > firstId!, 'a new id, never one used before');
  t.deepEqual(results[15]!.tracksBorn, [secondId]);
  t.is(results[15]!.segments[0]!.trackFirstIndex, 15);
  t.is(
    results.reduce((n, result) => n + result.tracksEnded.length, 0),
    1,
    'each track ends once',
  );
  t.regex(await metrics.getSingleMetricAsString('fusionseg_tracks_born_total'), /\{call="StreamFrames"\} 2\b/);
  t.regex(await metrics.getSingleMetricAsString('fusionseg_tracks_ended_total'), /\{call="StreamFrames"\} 1\b/);
});

test('frame streams are untracked unless asked; then ids are per frame and maps 16-bit', async (t) => {
  const squares = [{ x: 4, y: 4, size: 8 }];
  const { results, error } = await run(t, [openWith(undefined), frameWith(0, squares), frameWith(1, squares)]);
  t.is(error, undefined);
  for (const result of results) {
    t.false(result.tracked);
    t.is(result.instance?.bytesPerPixel, 2);
    t.deepEqual(
      result.segments.map((segment) => [segment.id, segment.trackId]),
      [[1, 0]],
    );
    t.is(result.timings!.trackUs, 0);
  }
});

test('two tracked streams at once number their tracks independently', async (t) => {
  const { client } = await startTestService(t);
  const streams = [0, 1].map((s) => {
    const call = streamFramesCall(client);
    const outcome = collect(call);
    const squares = (i: number) =>
      Array.from({ length: s + 1 }, (_, k) => ({ x: 2 + 3 * i + 20 * k, y: 4 + 10 * k, size: 6 }));
    void writeAll(call, [
      openWith({ enabled: true }),
      ...Array.from({ length: 8 }, (_, i) => frameWith(i, squares(i))),
    ]);
    return outcome;
  });
  const [one, two] = await Promise.all(streams);
  t.is(one!.error, undefined);
  t.is(two!.error, undefined);
  t.deepEqual(new Set(one!.results.flatMap((r) => r.segments.map((s) => s.trackId))), new Set([1]));
  t.deepEqual(new Set(two!.results.flatMap((r) => r.segments.map((s) => s.trackId))), new Set([1, 2]));
});

test('bad tracking options are INVALID_ARGUMENT naming the field', async (t) => {
  for (const [tracking, message] of [
    [{ enabled: true, iouThreshold: 0 }, /options\.tracking\.iou_threshold/],
    [{ enabled: true, iouThreshold: 1.5 }, /options\.tracking\.iou_threshold/],
    [{ enabled: true, maxAge: 100000 }, /options\.tracking\.max_age must be at most 600/],
  ] as const) {
    const { results, error } = await run(t, [openWith(tracking), frameWith(0, [])]);
    t.is(results.length, 0);
    t.is(error?.code, status.INVALID_ARGUMENT);
    t.regex(error?.details ?? '', message);
  }
});

test('GetModelInfo reports the tracking defaults, and the smallest new instance as a share of the input', async (t) => {
  const { client } = await startTestService(t);
  const info = await new Promise<ModelInfo>((resolve, reject) =>
    client.getModelInfo({ model: '' }, (error, response) => (error ? reject(error) : resolve(response))),
  );
  t.is(info.defaultTracking?.iouThreshold, Math.fround(DEFAULT_TRACKING.iouThreshold));
  t.is(info.defaultTracking?.maxAge, DEFAULT_TRACKING.maxAge);
  t.is(info.defaultTracking?.enabled, undefined);
  t.is(info.defaultFusion?.minNewInstanceArea, Math.max(1, Math.round(MIN_NEW_INSTANCE_AREA_SHARE * W * H)));
});

test('ProcessVideo tracks by default (ids persist over the static bars of testsrc), and tracking can be switched off', async (t) => {
  const dir = await tempDir(t);
  const clip = await readFile(await makeTestClip(dir, { width: 160, height: 120, frames: 8, rate: 8 }));
  const { client } = await startTestService(t);
  const run = async (tracking: Partial<TrackingOptions> | undefined) => {
    const options = streamOptions(MapEncoding.MAP_ENCODING_RLE);
    const call = processVideoCall(client);
    const outcome = collect(call);
    await writeAll(
      call,
      uploadRequests(clip, {
        options: {
          ...options,
          output: { ...options.output!, sourceResolution: true },
          ...(tracking === undefined ? {} : { tracking }),
        },
      }),
    );
    return outcome;
  };
  const tracked = await run(undefined);
  t.is(tracked.error, undefined);
  t.is(tracked.results.length, 8);
  t.true(tracked.results.every((result) => result.tracked && result.instance?.bytesPerPixel === 4));
  const idsOf = (result: FrameResult) => new Set(result.segments.map((segment) => segment.trackId));
  const first = idsOf(tracked.results[0]!);
  t.true(first.size > 0);
  const last = idsOf(tracked.results.at(-1)!);
  t.true([...last].filter((id) => first.has(id)).length >= Math.ceil(first.size / 2), 'most tracks persist');
  for (const result of tracked.results) {
    // Segments are measured at the source's size, under their track ids.
    const instance = decodeMap(result.instance);
    t.is(instance.length, 160 * 120);
    for (const segment of result.segments) {
      t.is(segment.id, segment.trackId);
      t.is([...instance].filter((id) => id === segment.id).length, segment.area);
    }
  }
  const plain = await run({ enabled: false });
  t.is(plain.error, undefined);
  t.true(plain.results.every((result) => !result.tracked && result.instance?.bytesPerPixel === 2));
});
