import test from 'ava';
import { status } from '@grpc/grpc-js';
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import sharp from 'sharp';
import {
  InputKind,
  MapEncoding,
  SegmentSource,
  type FrameRequest,
  type ModelInfo,
} from '../../proto/generated/fusionseg/v1/segmentation.pb.js';
import { ffmpegBinary } from '../../server/src/video/ffmpeg.js';
import { tempDir } from '../helpers/clips.js';
import { decodeMap } from '../helpers/maps.js';
import { childFfmpegCount, collect, startTestService, streamFramesCall, writeAll } from '../helpers/service.js';

const execFileAsync = promisify(execFile);
const W = 64;
const H = 32;
const CAR = 13;

/** A solid frame: red picks the semantic class (floor(R / 16)); the mean colour is the detection score. */
function solid(width: number, height: number, rgb: [number, number, number]): Uint8Array {
  const data = new Uint8Array(width * height * 3);
  for (let i = 0; i < data.length; i += 3) data.set(rgb, i);
  return data;
}

const carColour: [number, number, number] = [16 * CAR, 200, 200];
const open = (options: Partial<FrameRequest['payload'] & object> = {}): FrameRequest => ({
  payload: {
    $case: 'open',
    open: {
      options: {
        model: '',
        overload: 0,
        output: {
          semanticMap: MapEncoding.MAP_ENCODING_RLE,
          instanceMap: MapEncoding.MAP_ENCODING_RAW,
          panopticPng: false,
          sourceResolution: false,
          detections: false,
        },
      },
      input: InputKind.INPUT_KIND_FRAMES,
      containerFormat: '',
      ...options,
    },
  },
});
const rawFrame = (frameId: number, width: number, height: number, rgb: [number, number, number]): FrameRequest => ({
  payload: {
    $case: 'frame',
    frame: {
      frameId,
      pts: frameId * 40,
      image: { $case: 'raw', raw: { width, height, rgb24: solid(width, height, rgb) } },
    },
  },
});

test('raw frames of any size are answered once each, in order, fused', async (t) => {
  const { client } = await startTestService(t);
  const call = streamFramesCall(client);
  const outcome = collect(call);
  const requests = [open()];
  for (let i = 0; i < 12; i++) {
    const big = i % 3 === 2;
    requests.push(rawFrame(100 + i, big ? 2 * W : W, big ? 2 * H : H, i % 2 === 0 ? carColour : [16 * 7, 10, 10]));
  }
  await writeAll(call, requests);
  const { results, error } = await outcome;
  t.is(error, undefined);
  t.deepEqual(
    results.map((r) => r.frameId),
    Array.from({ length: 12 }, (_, i) => 100 + i),
  );
  t.deepEqual(
    results.map((r) => r.index),
    Array.from({ length: 12 }, (_, i) => i),
  );
  for (const [i, result] of results.entries()) {
    const big = i % 3 === 2;
    t.is(result.pts, (100 + i) * 40);
    t.is(result.width, W);
    t.is(result.height, H);
    t.is(result.sourceWidth, big ? 2 * W : W);
    t.is(result.scaleX, big ? 2 : 1);
    const semantic = decodeMap(result.semantic);
    const instance = decodeMap(result.instance);
    t.is(semantic.length, W * H);
    if (i % 2 === 0) {
      // A car everywhere: the detection's mask covers part of it; region growing gives it the rest.
      t.true(semantic.every((label) => label === CAR));
      t.true(instance.every((id) => id === 1));
      const [segment] = result.segments;
      t.is(segment?.classId, CAR);
      t.is(segment?.area, W * H);
      t.is(segment?.source, SegmentSource.SEGMENT_SOURCE_DETECTED);
      t.true((segment?.grownArea ?? 0) > 0 && (segment?.grownArea ?? 0) < W * H);
    } else {
      // Traffic signs are stuff: the car detection's mask lands on background and is deleted.
      t.true(semantic.every((label) => label === 7));
      t.true(instance.every((id) => id === 0));
    }
    t.true(result.timings!.inferenceUs > 0 && result.timings!.totalUs >= result.timings!.inferenceUs);
  }
});

test('a client that waits for each result before sending the next frame gets every result at once', async (t) => {
  const { client } = await startTestService(t);
  const call = streamFramesCall(client, 10_000);
  const received: number[] = [];
  call.write(open());
  for (let i = 0; i < 5; i++) {
    const answered = new Promise<number>((resolve, reject) => {
      call.once('data', (result: { frameId: number }) => resolve(result.frameId));
      call.once('error', reject);
    });
    call.write(rawFrame(i, W, H, carColour));
    // Only one frame is in flight, far below the stream's window: its result must not wait for more frames.
    received.push(await answered);
  }
  call.end();
  await new Promise((resolve) => call.on('end', resolve).resume());
  t.deepEqual(received, [0, 1, 2, 3, 4]);
});

test("output.detections returns the instance head's detections before fusion, with fusion off or on", async (t) => {
  const { client } = await startTestService(t);
  for (const disabled of [true, false]) {
    const call = streamFramesCall(client);
    const outcome = collect(call);
    const request = open();
    if (request.payload?.$case === 'open') {
      request.payload.open.options = {
        model: '',
        overload: 0,
        output: { ...request.payload.open.options!.output!, detections: true },
        fusion: { disabled, consistency: 0 },
      };
    }
    await writeAll(call, [request, rawFrame(1, W, H, carColour), rawFrame(2, W, H, [0, 0, 0])]);
    const { results, error } = await outcome;
    t.is(error, undefined);
    const [bright, dark] = results;
    const detection = bright?.detections[0];
    t.is(bright?.detections.length, 1);
    t.is(detection?.classId, CAR);
    // The test graph scores a detection by the frame's mean colour.
    t.true(Math.abs((detection?.score ?? 0) - (16 * CAR + 400) / 3 / 255) < 0.01);
    t.true(detection!.x2 > detection!.x1 && detection!.y2 > detection!.y1);
    const mask = new Float32Array(new Uint8Array(detection!.mask).buffer);
    t.is(mask.length, detection!.maskSize ** 2);
    t.true(mask.every((p) => p >= 0 && p <= 1) && mask.some((p) => p > 0.5));
    t.is(dark?.detections[0]?.score, 0);
    // Fusion off: no instances; on: the car instance.
    t.is(bright?.segments.length, disabled ? 0 : 1);
  }
});

test('JPEG and PNG frames are decoded and resized', async (t) => {
  const { client } = await startTestService(t);
  const image = sharp(solid(160, 80, carColour), { raw: { width: 160, height: 80, channels: 3 } });
  const png = new Uint8Array(await image.clone().png().toBuffer());
  const jpeg = new Uint8Array(await image.clone().jpeg({ quality: 95 }).toBuffer());
  const call = streamFramesCall(client);
  const outcome = collect(call);
  await writeAll(call, [
    open(),
    { payload: { $case: 'frame', frame: { frameId: 1, pts: 0, image: { $case: 'png', png } } } },
    { payload: { $case: 'frame', frame: { frameId: 2, pts: 0, image: { $case: 'jpeg', jpeg } } } },
  ]);
  const { results, error } = await outcome;
  t.is(error, undefined);
  t.deepEqual(
    results.map((r) => [r.frameId, r.sourceWidth, r.sourceHeight]),
    [
      [1, 160, 80],
      [2, 160, 80],
    ],
  );
  for (const result of results) t.true(decodeMap(result.semantic).every((label) => label === CAR));
});

test.serial('an H.264 stream sent in chunks is decoded by ffmpeg, one result per frame', async (t) => {
  const { client } = await startTestService(t);
  const dir = await tempDir(t);
  const path = `${dir}/clip.h264`;
  await execFileAsync(ffmpegBinary().path, [
    '-loglevel',
    'error',
    '-f',
    'lavfi',
    '-i',
    'testsrc=size=128x64:rate=10',
    '-frames:v',
    '15',
    '-c:v',
    'libx264',
    '-pix_fmt',
    'yuv420p',
    '-f',
    'h264',
    '-y',
    path,
  ]);
  const bytes = await readFile(path);
  const call = streamFramesCall(client);
  const outcome = collect(call);
  const requests: FrameRequest[] = [
    open({ input: InputKind.INPUT_KIND_ENCODED_VIDEO, containerFormat: 'h264' } as never),
  ];
  for (let offset = 0; offset < bytes.length; offset += 1000) {
    requests.push({ payload: { $case: 'videoChunk', videoChunk: { data: bytes.subarray(offset, offset + 1000) } } });
  }
  await writeAll(call, requests);
  const { results, error } = await outcome;
  t.is(error, undefined);
  t.deepEqual(
    results.map((r) => r.index),
    Array.from({ length: 15 }, (_, i) => i),
  );
  t.true(results.every((r) => r.width === W && r.height === H));
  t.is(await childFfmpegCount(), 0);
});

test('encoded video: pts are the decoder’s timestamps in µs and the source size is the video’s', async (t) => {
  const { client } = await startTestService(t);
  const dir = await tempDir(t);
  const encode = (name: string, size: string, extra: string[]) =>
    execFileAsync(ffmpegBinary().path, [
      '-loglevel',
      'error',
      '-f',
      'lavfi',
      '-i',
      `testsrc=size=${size}:rate=10`,
      '-frames:v',
      '6',
      ...extra,
      '-y',
      `${dir}/${name}`,
    ]);
  // A 10 fps AVI at 768x576 (the case), and a variable-rate Matroska file whose third frame is
  // missing: index x rate would say 200000 µs for its third frame, the decoder says 300000.
  await encode('clip.avi', '768x576', ['-c:v', 'mjpeg']);
  await encode('vfr.mkv', '64x48', [
    '-vf',
    "select='not(eq(n\\,2))'",
    '-vsync',
    'passthrough',
    '-c:v',
    'libx264',
    '-pix_fmt',
    'yuv420p',
  ]);
  for (const [name, pts, width, height] of [
    ['clip.avi', [0, 100_000, 200_000, 300_000, 400_000, 500_000], 768, 576],
    ['vfr.mkv', [0, 100_000, 300_000, 400_000, 500_000, 600_000], 64, 48],
  ] as const) {
    const bytes = await readFile(`${dir}/${name}`);
    const call = streamFramesCall(client);
    const outcome = collect(call);
    const requests: FrameRequest[] = [open({ input: InputKind.INPUT_KIND_ENCODED_VIDEO } as never)];
    for (let offset = 0; offset < bytes.length; offset += 4096) {
      requests.push({ payload: { $case: 'videoChunk', videoChunk: { data: bytes.subarray(offset, offset + 4096) } } });
    }
    await writeAll(call, requests);
    const { results, error } = await outcome;
    t.is(error, undefined, name);
    t.deepEqual(
      results.map((r) => Number(r.pts)),
      [...pts],
      name,
    );
    t.true(
      results.every((r) => r.sourceWidth === width && r.sourceHeight === height),
      name,
    );
  }
});

test('with source_resolution, segments are measured in the returned maps’ pixels', async (t) => {
  const { client } = await startTestService(t);
  const call = streamFramesCall(client);
  const outcome = collect(call);
  const withSourceSize = open();
  if (withSourceSize.payload?.$case === 'open') withSourceSize.payload.open.options!.output!.sourceResolution = true;
  await writeAll(call, [withSourceSize, rawFrame(0, 160, 96, carColour)]);
  const { results, error } = await outcome;
  t.is(error, undefined);
  const [result] = results;
  t.is(result?.width, 160);
  t.is(result?.height, 96);
  const instance = decodeMap(result!.instance);
  t.true(result!.segments.length > 0);
  for (const segment of result!.segments) {
    let area = 0;
    let [x0, y0, x1, y1] = [Infinity, Infinity, -1, -1];
    instance.forEach((id, i) => {
      if (id !== segment.id) return;
      area++;
      const x = i % 160;
      const y = Math.floor(i / 160);
      [x0, y0, x1, y1] = [Math.min(x0, x), Math.min(y0, y), Math.max(x1, x), Math.max(y1, y)];
    });
    t.is(segment.area, area);
    t.deepEqual(segment.box, { x0, y0, x1, y1 });
  }
});

test('a raw frame whose bytes do not match its size is INVALID_ARGUMENT naming the frame', async (t) => {
  const { client } = await startTestService(t);
  const call = streamFramesCall(client);
  const outcome = collect(call);
  await writeAll(call, [
    open(),
    rawFrame(1, W, H, carColour),
    {
      payload: {
        $case: 'frame',
        frame: {
          frameId: 2,
          pts: 0,
          image: { $case: 'raw', raw: { width: W, height: H, rgb24: new Uint8Array(100) } },
        },
      },
    },
  ]);
  const { error } = await outcome;
  t.is(error?.code, status.INVALID_ARGUMENT);
  t.regex(
    error?.details ?? '',
    /frame 2 \(message 3\): a 64x32 raw RGB24 frame has 6144 bytes, but this one carries 100/,
  );
});

test('a corrupt JPEG is INVALID_ARGUMENT with the decoder’s reason', async (t) => {
  const { client } = await startTestService(t);
  const call = streamFramesCall(client);
  const outcome = collect(call);
  const jpeg = new Uint8Array([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3, 4, 5, 6, 7, 8]);
  await writeAll(call, [
    open(),
    { payload: { $case: 'frame', frame: { frameId: 9, pts: 0, image: { $case: 'jpeg', jpeg } } } },
  ]);
  const { error } = await outcome;
  t.is(error?.code, status.INVALID_ARGUMENT);
  t.regex(error?.details ?? '', /frame 9 \(message 2\): could not decode the jpeg image: .+/);
});

test('a stream that does not start with "open" is INVALID_ARGUMENT', async (t) => {
  const { client } = await startTestService(t);
  const call = streamFramesCall(client);
  const outcome = collect(call);
  await writeAll(call, [rawFrame(1, W, H, carColour)]);
  const { error } = await outcome;
  t.is(error?.code, status.INVALID_ARGUMENT);
  t.regex(error?.details ?? '', /first StreamFrames message must be "open"/);
});

test('bad options are INVALID_ARGUMENT naming the field; an unknown model is NOT_FOUND', async (t) => {
  const { client } = await startTestService(t);
  const cases: [FrameRequest, number, RegExp][] = [
    [
      {
        payload: {
          $case: 'open',
          open: {
            options: { model: '', overload: 0, fusion: { disabled: false, scoreThreshold: 2, consistency: 0 } },
            input: 0,
            containerFormat: '',
          },
        },
      },
      status.INVALID_ARGUMENT,
      /options.fusion.score_threshold must be between 0 and 1, got 2/,
    ],
    [
      { payload: { $case: 'open', open: { options: { model: 'nope', overload: 0 }, input: 0, containerFormat: '' } } },
      status.NOT_FOUND,
      /no model named "nope"/,
    ],
  ];
  for (const [request, code, details] of cases) {
    const call = streamFramesCall(client);
    const outcome = collect(call);
    await writeAll(call, [request, rawFrame(1, W, H, carColour)]);
    const { error } = await outcome;
    t.is(error?.code, code);
    t.regex(error?.details ?? '', details);
  }
});

test('four concurrent streams each get all their frames in order', async (t) => {
  const { client } = await startTestService(t, { devices: 'cpu:1,cpu:1' });
  const outcomes = await Promise.all(
    [0, 1, 2, 3].map(async (stream) => {
      const call = streamFramesCall(client);
      const outcome = collect(call);
      const requests = [open()];
      for (let i = 0; i < 20; i++) requests.push(rawFrame(stream * 1000 + i, W, H, [16 * (i % 16), 200, 200]));
      await writeAll(call, requests);
      return outcome;
    }),
  );
  outcomes.forEach(({ results, error }, stream) => {
    t.is(error, undefined);
    t.deepEqual(
      results.map((r) => r.frameId),
      Array.from({ length: 20 }, (_, i) => stream * 1000 + i),
    );
  });
});

test.serial('a client that cancels leaves no ffmpeg process behind', async (t) => {
  const { client } = await startTestService(t);
  const call = streamFramesCall(client);
  const outcome = collect(call);
  call.write(open({ input: InputKind.INPUT_KIND_ENCODED_VIDEO, containerFormat: 'h264' } as never));
  call.write({ payload: { $case: 'videoChunk', videoChunk: { data: new Uint8Array([0, 0, 0, 1, 0x67]) } } });
  await new Promise((resolve) => setTimeout(resolve, 300));
  t.is(await childFfmpegCount(), 1, 'the stream runs its ffmpeg');
  call.cancel();
  const { error } = await outcome;
  t.is(error?.code, status.CANCELLED);
  for (let i = 0; i < 50 && (await childFfmpegCount()) > 0; i++)
    await new Promise((resolve) => setTimeout(resolve, 100));
  t.is(await childFfmpegCount(), 0);
});

test('GetModelInfo reports the model, its label space with colours, devices and batching', async (t) => {
  const { client } = await startTestService(t, { maxBatch: 2 });
  const info = await new Promise<ModelInfo>((resolve, reject) =>
    client.getModelInfo({ model: '' }, (error, response) => (error ? reject(error) : resolve(response))),
  );
  t.is(info.name, 'unified-test');
  t.is(info.inputWidth, W);
  t.is(info.labelSpace?.classes.length, 19);
  t.deepEqual(info.labelSpace?.classes[13], {
    id: 13,
    name: 'car',
    category: 'vehicle',
    isThing: true,
    color: { r: 0, g: 0, b: 142 },
  });
  t.deepEqual(info.devices, [{ name: 'cpu:1', executionProvider: 'CPUExecutionProvider', intraOpThreads: 1 }]);
  t.is(info.batching?.maxBatch, 2);
});
