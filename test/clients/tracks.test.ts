/**
 * Tracking in the clients: track colours in overlays, the MOTChallenge writer (`--tracks`), the tracking
 * fields of the NDJSON lines, COCO-panoptic JSON and the summary, the tracking flags, and the `fusionseg`
 * command end to end against a real server process on the shipped default model and the demo video.
 */
import test from 'ava';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FrameResult, SegmentSource, type Segment } from '../../proto/generated/fusionseg/v1/segmentation.pb.js';
import { trackingChoice, UsageError } from '../../clients/src/commands/common.js';
import { decodePanopticPng, TRACKED_STUFF_ID_BASE, STUFF_ID_BASE } from '../../clients/src/decode-maps.js';
import { motLines, MotSink, ndjsonLine, panopticJson } from '../../clients/src/outputs.js';
import { renderOverlay, trackColor } from '../../clients/src/overlay.js';
import { formatSummary, SummaryBuilder } from '../../clients/src/summary.js';
import { fusionseg } from '../helpers/cli.js';
import { tempDir } from '../helpers/clips.js';
import { startServerProcess } from '../helpers/server-process.js';

const demoVideo = fileURLToPath(new URL('../../models/demo/street.mp4', import.meta.url));

function segment(partial: Partial<Segment>): Segment {
  return FrameResult.fromPartial({ segments: [partial] }).segments[0]!;
}

// --- overlay ---------------------------------------------------------------------------------------------

const W = 12;
const H = 8;
const ROAD = 0;
const CAR = 13;
const colors = new Map<number, readonly [number, number, number]>([
  [ROAD, [128, 64, 128]],
  [CAR, [0, 0, 142]],
]);
const grey = new Uint8Array(W * H * 3).fill(100);

/** A frame of road with 3x3 cars: `cars` maps an instance id to its top-left corner. */
function frameWith(cars: ReadonlyMap<number, readonly [number, number]>, tracked: boolean) {
  const semantic = new Uint8Array(W * H).fill(ROAD);
  const instance = tracked ? new Uint32Array(W * H) : new Uint16Array(W * H);
  for (const [id, [x0, y0]] of cars) {
    for (let y = y0; y < y0 + 3; y++) {
      for (let x = x0; x < x0 + 3; x++) {
        semantic[y * W + x] = CAR;
        instance[y * W + x] = id;
      }
    }
  }
  return { semantic, instance };
}

function pixel(rgb: Uint8Array, x: number, y: number): number[] {
  const p = (y * W + x) * 3;
  return [rgb[p]!, rgb[p + 1]!, rgb[p + 2]!];
}

function blend(color: readonly number[], alpha = 0.5): number[] {
  return color.map((c) => Math.trunc(100 * (1 - alpha) + c * alpha));
}

function draw(frame: ReturnType<typeof frameWith>, tracked: boolean): Uint8Array {
  return renderOverlay({
    rgb: grey,
    width: W,
    height: H,
    semantic: frame.semantic,
    instance: frame.instance,
    mapWidth: W,
    mapHeight: H,
    colors,
    tracked,
  });
}

test('overlay: a tracked object keeps its colour as it moves, other tracks differ, stuff keeps its class colour', (t) => {
  const track = 70_001; // past 16 bits: tracked maps are Uint32Array
  const first = draw(frameWith(new Map([[track, [1, 1]]]), true), true);
  const second = draw(
    frameWith(
      new Map<number, readonly [number, number]>([
        [track, [6, 4]],
        [5, [1, 1]],
      ]),
      true,
    ),
    true,
  );
  // The centre of each 3x3 car is inside it (its left and upper neighbours are the same instance).
  const moved = pixel(first, 2, 2);
  t.deepEqual(pixel(second, 7, 5), moved, 'the same track id, elsewhere: the same colour');
  t.deepEqual(moved, blend(trackColor(track)));
  const other = pixel(second, 2, 2);
  t.notDeepEqual(other, moved, 'another track id: another colour');
  t.deepEqual(other, blend(trackColor(5)));
  t.notDeepEqual(moved, blend(colors.get(CAR)!), 'not the class colour');
  t.deepEqual(pixel(second, 0, 7), blend(colors.get(ROAD)!), 'stuff keeps its class colour');
  t.deepEqual(pixel(second, 6, 4), [255, 255, 255], 'outlines stay');
  // Without `tracked`, a Uint32Array instance map means tracked.
  const inferred = renderOverlay({
    rgb: grey,
    width: W,
    height: H,
    ...frameWith(new Map([[track, [1, 1]]]), true),
    mapWidth: W,
    mapHeight: H,
    colors,
  });
  t.deepEqual(pixel(inferred, 2, 2), moved);
});

test('overlay: an untracked frame keeps class colours for instances', (t) => {
  const frame = frameWith(
    new Map<number, readonly [number, number]>([
      [1, [1, 1]],
      [2, [6, 4]],
    ]),
    false,
  );
  const out = draw(frame, false);
  t.deepEqual(pixel(out, 2, 2), blend(colors.get(CAR)!));
  t.deepEqual(pixel(out, 7, 5), blend(colors.get(CAR)!));
  t.deepEqual(pixel(out, 1, 1), [255, 255, 255]);
  t.deepEqual(pixel(out, 0, 7), blend(colors.get(ROAD)!));
});

test('trackColor: deterministic, bright, and consecutive ids far apart', (t) => {
  t.deepEqual(trackColor(42), trackColor(42));
  for (let id = 1; id <= 200; id++) {
    const color = trackColor(id);
    t.true(Math.max(...color) >= 229, `track ${id} is bright: ${color.join(',')}`);
    const next = trackColor(id + 1);
    const distance = Math.hypot(...color.map((c, i) => c - next[i]!));
    t.true(distance > 80, `tracks ${id} and ${id + 1}: ${color.join(',')} vs ${next.join(',')}`);
  }
  t.deepEqual(trackColor(16_776_959).length, 3);
});

// --- MOTChallenge lines ----------------------------------------------------------------------------------

const detected = SegmentSource.SEGMENT_SOURCE_DETECTED;

test('MOT lines: model-sized boxes scale to source pixels; frames count from 1; new instances have conf -1', (t) => {
  const result = FrameResult.fromPartial({
    index: 4,
    width: 512,
    height: 256,
    sourceWidth: 1280,
    sourceHeight: 640,
    modelWidth: 512,
    modelHeight: 256,
    scaleX: 2.5,
    scaleY: 2.5,
    tracked: true,
    segments: [
      { id: 7, trackId: 7, classId: 13, score: 0.87654, box: { x0: 10, y0: 20, x1: 19, y1: 29 }, source: detected },
      {
        id: 9,
        trackId: 9,
        classId: 11,
        score: 0,
        box: { x0: 500, y0: 250, x1: 511, y1: 255 },
        source: SegmentSource.SEGMENT_SOURCE_NEW,
      },
    ],
  });
  t.is(motLines(result), '5,7,25,50,25,25,0.8765,13,-1\n5,9,1250,625,30,15,-1,11,-1\n');

  // A scale that is not a whole number: 1920 / 512 = 3.75, 1080 / 256 = 4.21875 (two decimals).
  const hd = FrameResult.fromPartial({
    index: 0,
    width: 512,
    height: 256,
    sourceWidth: 1920,
    sourceHeight: 1080,
    scaleX: 3.75,
    scaleY: 4.21875,
    tracked: true,
    segments: [{ id: 3, trackId: 3, classId: 13, score: 0.5, box: { x0: 1, y0: 1, x1: 2, y1: 1 }, source: detected }],
  });
  t.is(motLines(hd), '1,3,3.75,4.22,7.5,4.22,0.5,13,-1\n');
  // The last column and row end at the source's edge.
  const edge = FrameResult.fromPartial({
    ...hd,
    segments: [{ id: 3, trackId: 3, classId: 13, score: 1, box: { x0: 0, y0: 0, x1: 511, y1: 255 }, source: detected }],
  });
  t.is(motLines(edge), '1,3,0,0,1920,1080,1,13,-1\n');

  // Maps at the source's size (output.source_resolution): boxes as they are.
  const source = FrameResult.fromPartial({
    index: 9,
    width: 1280,
    height: 640,
    sourceWidth: 1280,
    sourceHeight: 640,
    scaleX: 2.5,
    scaleY: 2.5,
    tracked: true,
    segments: [
      { id: 12, trackId: 12, classId: 13, score: 0.25, box: { x0: 100, y0: 40, x1: 149, y1: 59 }, source: detected },
    ],
  });
  t.is(motLines(source), '10,12,100,40,50,20,0.25,13,-1\n');
  t.is(motLines(FrameResult.fromPartial({ index: 3, tracked: true })), '');
});

test('MotSink: writes every tracked result with backpressure, skips dropped frames, refuses untracked ones', async (t) => {
  const dir = await tempDir(t);
  const path = join(dir, 'tracks.txt');
  const sink = new MotSink(path);
  const frames = 3000;
  for (let index = 0; index < frames; index++) {
    await sink.write(
      FrameResult.fromPartial({
        index,
        width: 64,
        height: 32,
        sourceWidth: 64,
        sourceHeight: 32,
        tracked: true,
        dropped: index === 5,
        segments:
          index === 5
            ? []
            : [1, 2, 3].map((id) => ({
                id,
                trackId: id,
                classId: 13,
                score: 0.9,
                box: { x0: id, y0: 0, x1: id + 4, y1: 9 },
                source: detected,
              })),
      }),
    );
  }
  await sink.close();
  const lines = (await readFile(path, 'utf8')).trim().split('\n');
  t.is(lines.length, (frames - 1) * 3);
  t.is(lines[0], '1,1,1,0,5,10,0.9,13,-1');
  t.false(
    lines.some((line) => line.startsWith('6,')),
    'no lines for the dropped frame',
  );

  const untracked = new MotSink(join(dir, 'untracked.txt'));
  await t.throwsAsync(() => untracked.write(FrameResult.fromPartial({ index: 0, tracked: false })), {
    message: /--tracks: frame 0 is not tracked/,
  });
  await untracked.close();
  const unwritable = new MotSink(join(dir, 'missing', 'dir', 'tracks.txt'));
  await t.throwsAsync(
    async () => {
      await new Promise((resolve) => setTimeout(resolve, 50));
      await unwritable.write(FrameResult.fromPartial({ index: 0, tracked: true }));
    },
    { message: /cannot write .*tracks\.txt/ },
  );
});

// --- NDJSON, COCO-panoptic JSON, summary -----------------------------------------------------------------

test('NDJSON: tracked lines carry trackId / trackFirstIndex per segment and the born and ended tracks', (t) => {
  const tracked = JSON.parse(
    ndjsonLine(
      FrameResult.fromPartial({
        index: 7,
        tracked: true,
        segments: [{ id: 70_000, trackId: 70_000, trackFirstIndex: 2, classId: 13, score: 0.5, source: detected }],
        tracksBorn: [70_001],
        tracksEnded: [{ trackId: 12, classId: 11, firstIndex: 0, lastIndex: 3, framesSeen: 4 }],
        timings: { trackUs: 120 },
      }),
    ),
  ) as Record<string, unknown> & { segments: Record<string, unknown>[]; timingsUs: Record<string, unknown> };
  t.is(tracked.tracked, true);
  t.like(tracked.segments[0], { id: 70_000, trackId: 70_000, trackFirstIndex: 2 });
  t.deepEqual(tracked.tracksBorn, [70_001]);
  t.deepEqual(tracked.tracksEnded, [{ trackId: 12, classId: 11, firstIndex: 0, lastIndex: 3, framesSeen: 4 }]);
  t.is(tracked.timingsUs.trackUs, 120);

  const plain = JSON.parse(
    ndjsonLine(FrameResult.fromPartial({ index: 1, segments: [{ id: 1, classId: 13, source: detected }] })),
  ) as Record<string, unknown> & { segments: Record<string, unknown>[] };
  t.is(plain.tracked, false);
  t.false('trackId' in plain.segments[0]! || 'trackFirstIndex' in plain.segments[0]!);
  t.deepEqual(plain.tracksBorn, []);
  t.deepEqual(plain.tracksEnded, []);
});

test('COCO-panoptic JSON: stuff ids start above every track id when tracked', (t) => {
  const semantic = Uint8Array.from([0, 0, 13, 13, 255, 10]);
  const untrackedInstance = Uint16Array.from([0, 0, 4, 4, 0, 0]);
  const trackedInstance = Uint32Array.from([0, 0, 90_000, 90_000, 0, 0]);
  const info = (tracked: boolean) =>
    panopticJson(
      {
        result: FrameResult.fromPartial({
          index: 0,
          width: 3,
          height: 2,
          tracked,
          segments: [{ id: tracked ? 90_000 : 4, trackId: tracked ? 90_000 : 0, classId: 13, area: 2 }],
        }),
        semantic,
        instance: tracked ? trackedInstance : untrackedInstance,
      },
      'x.png',
    ).segments_info.map((s) => s.id);
  t.deepEqual(info(false), [4, STUFF_ID_BASE + 0, STUFF_ID_BASE + 10]);
  t.deepEqual(info(true), [90_000, TRACKED_STUFF_ID_BASE + 0, TRACKED_STUFF_ID_BASE + 10]);
});

test('summary: tracks seen, born, ended and their mean length when tracked; nothing of it otherwise', (t) => {
  const builder = new SummaryBuilder();
  const seg = (id: number) => segment({ id, trackId: id, classId: 13 });
  builder.add(FrameResult.fromPartial({ index: 0, tracked: true, segments: [seg(1), seg(2)], tracksBorn: [1, 2] }), 5);
  builder.add(FrameResult.fromPartial({ index: 1, tracked: true, segments: [seg(1), seg(3)], tracksBorn: [3] }), 5);
  builder.add(
    FrameResult.fromPartial({
      index: 2,
      tracked: true,
      segments: [seg(1)],
      tracksEnded: [{ trackId: 2, classId: 13, firstIndex: 0, lastIndex: 0, framesSeen: 1 }],
    }),
    5,
  );
  const summary = builder.build();
  t.deepEqual(summary.tracks, { seen: 3, born: 3, ended: 1, meanFrames: 5 / 3 });
  const text = formatSummary(summary);
  t.regex(text, /^tracks {6}3 seen, 3 born, 1 ended, 1\.7 frames each on average$/m);
  t.regex(text, /fusion [\d.]+ {2}track [\d.]+ {2}encode/);

  const plain = new SummaryBuilder();
  plain.add(FrameResult.fromPartial({ index: 0, segments: [seg(1)] }), 5);
  t.is(plain.build().tracks, undefined);
  t.notRegex(formatSummary(plain.build()), /tracks|track /);
});

test('tracking flags: on by default for videos, --track otherwise, settings need tracking; the choice is always sent', (t) => {
  t.deepEqual(trackingChoice({}, true), { options: { enabled: true }, on: true });
  t.deepEqual(trackingChoice({ 'no-tracking': true }, true), { options: { enabled: false }, on: false });
  t.deepEqual(trackingChoice({ tracks: 'x.txt' }, true), { options: { enabled: true }, on: true });
  t.deepEqual(trackingChoice({ 'track-iou': '0.3', 'track-max-age': '0' }, true), {
    options: { enabled: true, iouThreshold: 0.3, maxAge: 0 },
    on: true,
  });
  t.deepEqual(trackingChoice({}, false), { options: { enabled: false }, on: false });
  t.deepEqual(trackingChoice({ track: true, 'track-max-age': '12' }, false), {
    options: { enabled: true, maxAge: 12 },
    on: true,
  });
  const usage = (flags: Parameters<typeof trackingChoice>[0], byDefault: boolean, message: RegExp) =>
    t.throws(() => trackingChoice(flags, byDefault), { instanceOf: UsageError, message });
  usage({ 'no-tracking': true, tracks: 'x.txt' }, true, /--tracks needs tracking, which --no-tracking switched off/);
  usage({ tracks: 'x.txt' }, false, /--tracks needs tracking, which is off: add --track/);
  usage({ 'track-iou': '0.5' }, false, /--track-iou needs tracking/);
  usage({ 'track-iou': '0' }, true, /--track-iou must be a number in \(0, 1\]/);
  usage({ 'track-iou': '1.5' }, true, /--track-iou must be a number in \(0, 1\]/);
  usage({ 'track-max-age': '2.5' }, true, /--track-max-age must be a whole number/);
  usage({ 'track-max-age': '-1' }, true, /--track-max-age must be a whole number/);
  usage({ track: true, 'no-tracking': true }, false, /contradict/);
});

// --- the command, end to end -----------------------------------------------------------------------------

test('usage errors (exit 64) need no server: --tracks without tracking, bad tracking settings', async (t) => {
  const dir = await tempDir(t);
  const out = join(dir, 'tracks.txt');
  const noTracking = await fusionseg([
    'process',
    demoVideo,
    '--no-tracking',
    '--tracks',
    out,
    '--server',
    '127.0.0.1:1',
  ]);
  t.is(noTracking.code, 64, noTracking.stderr);
  t.regex(noTracking.stderr, /--tracks needs tracking, which --no-tracking switched off/);
  const frameStream = await fusionseg([
    'stream',
    demoVideo,
    '--no-tracking',
    '--tracks',
    out,
    '--server',
    '127.0.0.1:1',
  ]);
  t.is(frameStream.code, 64, frameStream.stderr);
  t.regex(frameStream.stderr, /--tracks needs tracking, which --no-tracking switched off/);
  const badIou = await fusionseg(['stream', demoVideo, '--track', '--track-iou', 'high', '--server', '127.0.0.1:1']);
  t.is(badIou.code, 64, badIou.stderr);
  const help = await fusionseg(['process', '--help']);
  t.regex(help.stdout, /\[--no-tracking\] \[--track-iou X\] \[--track-max-age N\] \[--tracks out\.txt\]/);
  t.regex(help.stdout, /frame,id,bb_left,bb_top,bb_width,bb_height,conf,class,visibility/);
  t.regex((await fusionseg(['stream', '--help'])).stdout, /\[--no-tracking \| --track-iou X --track-max-age N/);
});

interface NdjsonLine {
  index: number;
  tracked: boolean;
  tracksBorn: number[];
  segments: { id: number; classId: number; trackId?: number; trackFirstIndex?: number; box: number[] }[];
}

async function readNdjson(path: string): Promise<NdjsonLine[]> {
  return (await readFile(path, 'utf8'))
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as NdjsonLine);
}

test('process the demo video: MOTChallenge tracks, tracked NDJSON and panoptic files; --no-tracking', async (t) => {
  const dir = await tempDir(t);
  const server = await startServerProcess(t, ['--devices', 'cpu:1', '--fusion-workers', '1']);
  const frames = 12;
  const files = {
    tracks: join(dir, 'tracks.txt'),
    json: join(dir, 'out.ndjson'),
    framesDir: join(dir, 'frames'),
    untracked: join(dir, 'untracked.ndjson'),
  };
  const run = await fusionseg([
    'process',
    demoVideo,
    '--server',
    server.address,
    '--max-frames',
    String(frames),
    '--tracks',
    files.tracks,
    '--json',
    files.json,
    '--frames-dir',
    files.framesDir,
    '--frames-every',
    '6',
    '--summary',
    '--quiet',
  ]);
  t.is(run.code, 0, `${run.stderr}\n${server.output().slice(-2000)}`);

  // The MOTChallenge file.
  const rows = (await readFile(files.tracks, 'utf8'))
    .trim()
    .split('\n')
    .map((line) => line.split(','));
  t.true(rows.length > 0);
  for (const row of rows) {
    t.is(row.length, 9, row.join(','));
    const [frame, id, left, top, width, height, conf, classId, visibility] = row.map(Number) as [
      number,
      number,
      number,
      number,
      number,
      number,
      number,
      number,
      number,
    ];
    t.true(Number.isInteger(frame) && frame >= 1 && frame <= frames, `frame ${frame}`);
    t.true(Number.isInteger(id) && id > 0, `id ${id}`);
    t.true(left >= 0 && top >= 0 && width > 0 && height > 0, row.join(','));
    t.true(left + width <= 512 && top + height <= 256, `inside the 512x256 source: ${row.join(',')}`);
    t.true(conf === -1 || (conf > 0 && conf <= 1), `conf ${conf}`);
    t.true(classId >= 11 && classId <= 18, `a thing class: ${classId}`);
    t.is(visibility, -1);
  }
  const frameNumbers = rows.map((row) => Number(row[0]));
  t.deepEqual(
    frameNumbers,
    [...frameNumbers].sort((a, b) => a - b),
    'in frame order',
  );
  t.is(frameNumbers[0], 1);
  // Frames per track id: some track goes on through several consecutive frames (the cars move slowly).
  const framesOf = new Map<number, number[]>();
  for (const row of rows) framesOf.set(Number(row[1]), [...(framesOf.get(Number(row[1])) ?? []), Number(row[0])]);
  const longestRun = Math.max(
    ...[...framesOf.values()].map((list) => {
      let best = 1;
      let current = 1;
      for (let i = 1; i < list.length; i++) {
        current = list[i] === list[i - 1]! + 1 ? current + 1 : 1;
        best = Math.max(best, current);
      }
      return best;
    }),
  );
  t.true(longestRun >= 4, `the longest run of one track id: ${longestRun} frames`);

  // The NDJSON lines: tracked, ids = track ids, births consistent with first frames; one MOT line per segment.
  const lines = await readNdjson(files.json);
  t.deepEqual(
    lines.map((line) => line.index),
    Array.from({ length: frames }, (_, i) => i),
  );
  let segments = 0;
  for (const line of lines) {
    t.true(line.tracked, `frame ${line.index}`);
    for (const s of line.segments) {
      segments++;
      t.is(s.trackId, s.id);
      t.true(s.trackFirstIndex !== undefined && s.trackFirstIndex <= line.index);
      if (s.trackFirstIndex === line.index) t.true(line.tracksBorn.includes(s.id), `track ${s.id} born`);
      else t.false(line.tracksBorn.includes(s.id), `track ${s.id} was born before frame ${line.index}`);
    }
  }
  t.is(rows.length, segments);

  // The panoptic files of frame 6: instances by track id, stuff above every track id.
  const panoptic = JSON.parse(await readFile(join(files.framesDir, '000006-panoptic.json'), 'utf8')) as {
    segments_info: { id: number; category_id: number }[];
  };
  const things = new Set(lines[6]!.segments.map((s) => s.id));
  for (const info of panoptic.segments_info) {
    if (things.has(info.id)) continue;
    t.is(info.id, TRACKED_STUFF_ID_BASE + info.category_id, `stuff ${info.category_id}`);
  }
  const { ids } = decodePanopticPng(await readFile(join(files.framesDir, '000006-panoptic.png')));
  const inPng = new Set(ids);
  for (const info of panoptic.segments_info) t.true(inPng.has(info.id), `segment ${info.id} in the PNG`);

  t.regex(run.stdout, /^tracks {6}\d+ seen, \d+ born, \d+ ended, [\d.]+ frames each on average$/m);

  // --no-tracking: per-frame instance ids, no tracking fields.
  const untracked = await fusionseg([
    'process',
    demoVideo,
    '--server',
    server.address,
    '--max-frames',
    '3',
    '--no-tracking',
    '--json',
    files.untracked,
    '--summary',
    '--quiet',
  ]);
  t.is(untracked.code, 0, untracked.stderr);
  const plain = await readNdjson(files.untracked);
  t.is(plain.length, 3);
  for (const line of plain) {
    t.false(line.tracked);
    t.deepEqual(line.tracksBorn, []);
    t.true(line.segments.length > 0);
    for (const s of line.segments) t.false('trackId' in s);
  }
  t.notRegex(untracked.stdout, /^tracks /m);
});

test('stream --track: a tracked frame stream writes MOTChallenge tracks; info shows the tracking defaults', async (t) => {
  const dir = await tempDir(t);
  const server = await startServerProcess(t, ['--devices', 'cpu:1', '--fusion-workers', '1']);
  const out = join(dir, 'tracks.txt');
  const run = await fusionseg([
    'stream',
    demoVideo,
    '--server',
    server.address,
    '--max-frames',
    '5',
    '--track',
    '--track-iou',
    '0.3',
    '--track-max-age',
    '5',
    '--tracks',
    out,
    '--quiet',
  ]);
  t.is(run.code, 0, `${run.stderr}\n${server.output().slice(-2000)}`);
  const rows = (await readFile(out, 'utf8')).trim().split('\n');
  t.true(rows.length > 0);
  t.true(
    rows.every((row) => /^[1-5],\d+,[\d.]+,[\d.]+,[\d.]+,[\d.]+,(-1|[\d.]+),\d+,-1$/.test(row)),
    rows.join('\n'),
  );
  const idsByFrame = (frame: number) =>
    new Set(rows.filter((r) => r.startsWith(`${frame},`)).map((r) => r.split(',')[1]));
  const common = [...idsByFrame(1)].filter((id) => idsByFrame(2).has(id));
  t.true(common.length > 0, 'a track goes on from frame 1 to frame 2');

  const info = await fusionseg(['info', '--server', server.address]);
  t.is(info.code, 0, info.stderr);
  t.regex(info.stdout, /^tracking {4}iou [\d.]+, max age \d+ frames \(on for videos/m);
});
