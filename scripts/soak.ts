/**
 * `npm run soak -- --minutes N [--streams K] [--model DIR] [--interval-s S] [--seed S]` (not in CI): a server
 * in-process on 127.0.0.1:0 on the default model (models/default), and K clients that for N minutes run a
 * mix of streams one after another: raw frames, JPEG frames, encoded-video chunks of models/demo/street.mp4,
 * ProcessVideo uploads of it, some cancelled mid-way, some invalid. Every interval (30 s) it prints RSS,
 * heap used, open fds, ffmpeg children, streams open, and the server's frame counters (received,
 * answered (segmented or dropped), failed; in total and in the interval). received = answered + failed holds only when no frame
 * is in flight, so it is asserted at the end, after the clients stop: exit code 1 unless it holds, health
 * is SERVING, and fds and ffmpeg children are back to their baseline.
 */
import { status } from '@grpc/grpc-js';
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { FrameRequest, InputKind, VideoRequest } from '../proto/generated/fusionseg/v1/segmentation.pb.js';
import { DEFAULT_MODEL_DIR } from '../server/src/config.js';
import { ffmpegBinary } from '../server/src/video/ffmpeg.js';
import {
  ffmpegChildren,
  findings,
  frameCounters,
  histogram,
  makeFixtures,
  openFds,
  pollUntil,
  Rng,
  runCase,
  startFuzzServer,
  statusName,
  type CaseOutcome,
  type ClientAction,
  type FuzzCase,
} from '../test/fuzz/fuzz-cases.js';
import { healthCheck } from '../test/helpers/standard-services.js';

const execFileAsync = promisify(execFile);

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '2' },
    streams: { type: 'string', default: '4' },
    model: { type: 'string' },
    'interval-s': { type: 'string', default: '30' },
    seed: { type: 'string', default: '1' },
    help: { type: 'boolean', default: false },
  },
});
if (values.help) {
  console.log('npm run soak -- --minutes N [--streams K] [--model DIR] [--interval-s S] [--seed S]');
  process.exit(0);
}
const number = (text: string, name: string) => {
  const n = Number(text);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name} must be a positive number, got "${text}"`);
  return n;
};
const minutes = number(values.minutes, 'minutes');
const streams = Math.round(number(values.streams, 'streams'));
const intervalMs = number(values['interval-s'], 'interval-s') * 1000;
const seed = Math.round(number(values.seed, 'seed'));
const modelDir = values.model ?? DEFAULT_MODEL_DIR;
const FD_MARGIN = 8;

// --- media -------------------------------------------------------------------------------------------------

const video = await readFile(fileURLToPath(new URL('../models/demo/street.mp4', import.meta.url)));
const VIDEO_FRAMES = 60;
const W = 512;
const H = 256;
/** Ten decoded frames of the demo video, raw RGB24 and JPEG. */
const { stdout: rawVideo } = await execFileAsync(
  ffmpegBinary().path,
  ['-v', 'error', '-i', fileURLToPath(new URL('../models/demo/street.mp4', import.meta.url))].concat([
    '-frames:v',
    '10',
    '-vf',
    `scale=${W}:${H}`,
    '-f',
    'rawvideo',
    '-pix_fmt',
    'rgb24',
    'pipe:1',
  ]),
  { encoding: 'buffer', maxBuffer: 64 * 1024 * 1024 },
);
const rawFrames = Array.from(
  { length: Math.floor(rawVideo.length / (W * H * 3)) },
  (_, i) => new Uint8Array(rawVideo.subarray(i * W * H * 3, (i + 1) * W * H * 3)),
);
const jpegFrames = await Promise.all(
  rawFrames.map(
    async (rgb) =>
      new Uint8Array(
        await sharp(rgb, { raw: { width: W, height: H, channels: 3 } })
          .jpeg({ quality: 85 })
          .toBuffer(),
      ),
  ),
);

// --- streams -----------------------------------------------------------------------------------------------

const encodeFrame = (request: FrameRequest) => FrameRequest.encode(request).finish();
const encodeVideo = (request: VideoRequest) => VideoRequest.encode(request).finish();
const openFrames = (input: number, containerFormat = '', consistency = 0) =>
  encodeFrame({
    payload: {
      $case: 'open',
      open: { options: { model: '', overload: 0, fusion: { disabled: false, consistency } }, input, containerFormat },
    },
  });

type Kind = 'raw' | 'jpeg' | 'encoded-video' | 'upload' | 'invalid';

function soakCase(rng: Rng, index: number): FuzzCase {
  const kind = rng.weighted<Kind>([
    [3, 'raw'],
    [3, 'jpeg'],
    [2, 'encoded-video'],
    [2, 'upload'],
    [1, 'invalid'],
  ]);
  const cancel = kind !== 'invalid' && rng.chance(0.15);
  const action: ClientAction = cancel ? { kind: 'cancel-after-ms', ms: rng.int(100, 1500) } : { kind: 'half-close' };
  const wire: Uint8Array[] = [];
  let call: FuzzCase['call'] = 'StreamFrames';
  let expectResults: number | undefined;
  let description: string = kind;
  switch (kind) {
    case 'raw':
    case 'jpeg': {
      const count = rng.int(4, 16);
      wire.push(openFrames(InputKind.INPUT_KIND_FRAMES));
      for (let i = 0; i < count; i++) {
        const j = i % rawFrames.length;
        const image =
          kind === 'raw'
            ? { $case: 'raw' as const, raw: { width: W, height: H, rgb24: rawFrames[j]! } }
            : { $case: 'jpeg' as const, jpeg: jpegFrames[j]! };
        wire.push(encodeFrame({ payload: { $case: 'frame', frame: { frameId: i, pts: i * 100, image } } }));
      }
      expectResults = count;
      description = `${count} ${kind} frames`;
      break;
    }
    case 'encoded-video': {
      wire.push(openFrames(InputKind.INPUT_KIND_ENCODED_VIDEO, rng.chance(0.5) ? 'mov' : ''));
      const size = rng.pick([4096, 16384, 65536]);
      for (let offset = 0; offset < video.length; offset += size) {
        wire.push(
          encodeFrame({
            payload: { $case: 'videoChunk', videoChunk: { data: video.subarray(offset, offset + size) } },
          }),
        );
      }
      expectResults = VIDEO_FRAMES;
      description = `street.mp4 as encoded-video chunks of ${size} B`;
      break;
    }
    case 'upload': {
      call = 'ProcessVideo';
      const maxFrames = rng.pick([0, 10, 30]);
      wire.push(
        encodeVideo({
          payload: {
            $case: 'open',
            open: {
              options: { model: '', overload: 0 },
              source: { $case: 'upload', upload: { containerFormat: '', sizeBytes: video.length } },
              fps: 0,
              startTime: 0,
              maxFrames,
            },
          },
        }),
      );
      for (let offset = 0; offset < video.length; offset += 16384) {
        wire.push(
          encodeVideo({ payload: { $case: 'chunk', chunk: { data: video.subarray(offset, offset + 16384) } } }),
        );
      }
      expectResults = maxFrames === 0 ? VIDEO_FRAMES : maxFrames;
      description = `ProcessVideo upload of street.mp4, max_frames ${maxFrames}`;
      break;
    }
    case 'invalid': {
      const which = rng.pick(['raw size lies', 'truncated upload', 'consistency 42', 'random chunks'] as const);
      description = `invalid: ${which}`;
      if (which === 'raw size lies') {
        wire.push(openFrames(InputKind.INPUT_KIND_FRAMES));
        wire.push(
          encodeFrame({
            payload: {
              $case: 'frame',
              frame: {
                frameId: 0,
                pts: 0,
                image: { $case: 'raw', raw: { width: W, height: H, rgb24: rawFrames[0]! } },
              },
            },
          }),
        );
        wire.push(
          encodeFrame({
            payload: {
              $case: 'frame',
              frame: {
                frameId: 1,
                pts: 1,
                image: { $case: 'raw', raw: { width: W, height: H + 1, rgb24: rawFrames[1]! } },
              },
            },
          }),
        );
      } else if (which === 'truncated upload') {
        call = 'ProcessVideo';
        wire.push(
          encodeVideo({
            payload: {
              $case: 'open',
              open: {
                source: { $case: 'upload', upload: { containerFormat: '', sizeBytes: 0 } },
                fps: 0,
                startTime: 0,
                maxFrames: 0,
              },
            },
          }),
        );
        wire.push(
          encodeVideo({
            payload: { $case: 'chunk', chunk: { data: video.subarray(0, rng.int(100, video.length - 1)) } },
          }),
        );
      } else if (which === 'consistency 42') {
        wire.push(openFrames(InputKind.INPUT_KIND_FRAMES, '', 42));
        wire.push(
          encodeFrame({
            payload: { $case: 'frame', frame: { frameId: 0, pts: 0, image: { $case: 'jpeg', jpeg: jpegFrames[0]! } } },
          }),
        );
      } else {
        wire.push(openFrames(InputKind.INPUT_KIND_ENCODED_VIDEO, 'h264'));
        for (let i = 0; i < 8; i++)
          wire.push(encodeFrame({ payload: { $case: 'videoChunk', videoChunk: { data: rng.bytes(4096) } } }));
      }
      break;
    }
  }
  if (cancel) description += `, cancelled after ${action.kind === 'cancel-after-ms' ? action.ms : 0} ms`;
  return {
    seed,
    index,
    call,
    category: kind,
    description,
    wire,
    action,
    deadlineMs: 120_000,
    expectResults: cancel ? undefined : expectResults,
    invalid: [],
  };
}

// --- run ---------------------------------------------------------------------------------------------------

const fixtures = await makeFixtures();
const server = await startFuzzServer(fixtures, modelDir, { devices: undefined, fusionWorkers: undefined });
const { service } = server;
const rng = new Rng(seed);
const mb = (bytes: number) => (bytes / 1024 / 1024).toFixed(0);
let exitCode = 1;
try {
  // Baseline after one good stream of each kind, so that the connection and lazily made resources exist.
  for (const kind of ['raw', 'encoded-video', 'upload'] as const) {
    let c = soakCase(rng, -1);
    while (c.category !== kind || c.action.kind !== 'half-close') c = soakCase(rng, -1);
    const o = await runCase(server.client, c);
    if (o.code !== status.OK) console.log(`soak: warm-up ${kind} ended ${statusName(o.code)} "${o.details}"`);
  }
  const baseline = { fds: openFds(), ffmpeg: await pollUntil(ffmpegChildren, (n) => n === 0, 10_000) };
  const model = service.context.engine.model;
  console.log(
    `soak: ${minutes} min, ${streams} concurrent clients, model "${model.name}" (${model.input.width}x${model.input.height}), ` +
      `server ${server.address}, seed ${seed}; baseline fds ${baseline.fds}, ffmpeg ${baseline.ffmpeg}, rss ${mb(process.memoryUsage().rss)} MB`,
  );
  console.log(
    'soak: t(s)  rss(MB) heap(MB) fds ffmpeg streams-open streams-done | received answered failed (interval) | gap = received - answered - failed',
  );

  const started = Date.now();
  const endAt = started + minutes * 60_000;
  const outcomes: CaseOutcome[] = [];
  let next = 0;
  const client = async () => {
    while (Date.now() < endAt) {
      const outcome = await runCase(server.client, soakCase(rng, next++));
      outcomes.push(outcome);
    }
  };
  let last = await frameCounters(service);
  const report = async (label: string) => {
    const memory = process.memoryUsage();
    const c = await frameCounters(service);
    const gap = c.received - c.answered - c.failed;
    const line =
      `soak: ${label.padStart(5)} ${mb(memory.rss).padStart(7)} ${mb(memory.heapUsed).padStart(8)} ${String(openFds()).padStart(3)} ` +
      `${String(await ffmpegChildren()).padStart(6)} ${String(service.context.activeStreams).padStart(12)} ${String(outcomes.length).padStart(12)} | ` +
      `${c.received} ${c.answered} ${c.failed} (+${c.received - last.received} +${c.answered - last.answered} +${c.failed - last.failed}) | ` +
      `gap ${gap}${gap === 0 ? ' (balanced)' : ' (frames in flight)'}`;
    last = c;
    console.log(line);
  };
  const timer = setInterval(() => void report(String(Math.round((Date.now() - started) / 1000))), intervalMs);
  await Promise.all(Array.from({ length: streams }, client));
  clearInterval(timer);
  await report('stop');

  // Quiescence: no stream open, ffmpeg and fds back to baseline; then the frame balance must hold.
  const problems: string[] = [];
  const open = await pollUntil(
    () => service.context.activeStreams,
    (n) => n === 0,
    15_000,
  );
  if (open !== 0) problems.push(`${open} streams still open`);
  const ffmpeg = await pollUntil(ffmpegChildren, (n) => n <= baseline.ffmpeg, 15_000);
  if (ffmpeg > baseline.ffmpeg) problems.push(`${ffmpeg} ffmpeg children (baseline ${baseline.ffmpeg})`);
  const fds = await pollUntil(openFds, (n) => n <= baseline.fds + FD_MARGIN, 15_000);
  if (fds > baseline.fds + FD_MARGIN) problems.push(`${fds} open fds (baseline ${baseline.fds} + ${FD_MARGIN})`);
  const counters = await pollUntil(
    () => frameCounters(service),
    (c) => c.received === c.answered + c.failed,
    10_000,
  );
  const balanced = counters.received === counters.answered + counters.failed;
  if (!balanced) {
    problems.push(
      `received ${counters.received} != answered ${counters.answered} + failed ${counters.failed} (gap ${counters.received - counters.answered - counters.failed})`,
    );
  }
  const health = await healthCheck(server.address, '').catch((error: unknown) => String(error));
  if (health !== 'SERVING') problems.push(`health ${health}`);
  const bad = outcomes.filter((o) => o.verdict !== 'ok');
  await report('end');
  console.log(histogram(outcomes));
  console.log(
    `soak: end: ${outcomes.length} streams; fds ${fds} (baseline ${baseline.fds}), ffmpeg ${ffmpeg} (baseline ${baseline.ffmpeg}), ` +
      `health ${health}; received ${counters.received} = answered ${counters.answered} + failed ${counters.failed} ` +
      `${JSON.stringify(counters.failedByReason)}: ${balanced ? 'holds' : 'DOES NOT hold'}`,
  );
  if (bad.length > 0) {
    console.log(`soak: streams with an unexpected end (${bad.length}):`);
    for (const line of findings(bad)) console.log(`  ${line}`);
  }
  for (const problem of problems) console.log(`soak: FAIL: ${problem}`);
  exitCode = problems.length === 0 ? 0 : 1;
  console.log(`soak: ${exitCode === 0 ? 'PASS' : 'FAIL'}`);
} finally {
  await server.stop();
  await fixtures.remove();
}
process.exit(exitCode);
