/**
 * `npm run soak -- --minutes N [--streams K] [--model DIR] [--interval-s S] [--seed S]` (not in CI): the
 * server as a child process (`node --import tsx server/src/main.ts`) on 127.0.0.1:0 with /metrics on
 * 127.0.0.1:0, on the default model (models/default), and K clients in this process that for N minutes run
 * a mix of streams one after another: raw frames, JPEG frames, encoded-video chunks of
 * models/demo/street.mp4, ProcessVideo uploads of it, some cancelled mid-way, some invalid. Every interval
 * (30 s) it prints the SERVER's figures, read from outside: RSS (/proc/PID/status), heap used (/metrics),
 * open fds (/proc/PID/fd), ffmpeg children (ps --ppid PID), streams open, and its frame counters (received,
 * answered (segmented or dropped), failed; in total and in the interval), all from /metrics. received =
 * answered + failed holds only when no frame is in flight, so it is asserted at the end, after the clients
 * stop: exit code 1 unless it holds, health is SERVING, the server's fds and ffmpeg children are back to
 * their baseline, and the server, sent SIGTERM, exits 0 within its drain timeout. The server's RSS at the
 * first interval, the last and its maximum are printed at the end, so that growth shows.
 */
import { status } from '@grpc/grpc-js';
import { execFile, spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { get as httpGet } from 'node:http';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { FrameRequest, InputKind, VideoRequest } from '../proto/generated/fusionseg/v1/segmentation.pb.js';
import { DEFAULT_MODEL_DIR } from '../server/src/config.js';
import { ffmpegBinary } from '../server/src/video/ffmpeg.js';
import {
  findings,
  histogram,
  pollUntil,
  rawClient,
  Rng,
  runCase,
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
/** The server's flags besides model and addresses: what the in-process soak used (fuzzServerConfig). */
const DRAIN_TIMEOUT_S = 2;
const STREAM_IDLE_TIMEOUT_S = 3;
const MAX_UPLOAD_BYTES = 4 * 1024 * 1024;
/** After SIGTERM, beyond the drain timeout: the gRPC shutdown, then closing the sessions and fusion workers. */
const EXIT_GRACE_MS = 3000;
const START_TIMEOUT_MS = 180_000;

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

// --- the server: a child process, its figures read from outside --------------------------------------------

interface ServerCounters {
  readonly received: number;
  readonly answered: number;
  readonly failed: number;
  readonly failedByReason: Record<string, number>;
  readonly streamsOpen: number;
  readonly heapUsed: number;
}

interface Exit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

const describeExit = (exit: Exit) => (exit.signal === null ? `exit code ${exit.code}` : `signal ${exit.signal}`);

/** Starts `node --import tsx server/src/main.ts` on loopback; resolves once it logs that it serves. */
async function startServer() {
  const repo = fileURLToPath(new URL('..', import.meta.url));
  // FUSIONSEG_* variables of this shell (auth tokens, TLS, ...) would change the server under test: not passed.
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('FUSIONSEG_')));
  const args = [
    '--import',
    'tsx',
    fileURLToPath(new URL('../server/src/main.ts', import.meta.url)),
    '--model',
    modelDir,
    '--address',
    '127.0.0.1:0',
    '--metrics-port',
    '0', // the port it got is in the "serving model" line; /metrics binds 127.0.0.1 by default
    '--drain-timeout-s',
    String(DRAIN_TIMEOUT_S),
    '--stream-idle-timeout-s',
    String(STREAM_IDLE_TIMEOUT_S),
    '--max-upload-bytes',
    String(MAX_UPLOAD_BYTES),
    '--log-level',
    'info',
    '--log-format',
    'json',
  ];
  const child = spawn(process.execPath, args, { cwd: repo, env, stdio: ['ignore', 'pipe', 'inherit'] });
  // Safety net: the server never outlives this script (the normal end stops it with SIGTERM and waits).
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  let exit: Exit | undefined;
  const exited = new Promise<Exit>((resolve) =>
    child.once('exit', (code, signal) => {
      exit = { code, signal };
      process.off('exit', killOnExit);
      resolve(exit);
    }),
  );
  let errorLines = 0;
  const serving = new Promise<{ port: number; metricsPort: number; model: string }>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`the server did not serve within ${START_TIMEOUT_MS / 1000} s`)),
      START_TIMEOUT_MS,
    );
    void exited.then((e) => {
      clearTimeout(timer);
      reject(new Error(`the server exited before serving (${describeExit(e)})`));
    });
    // Every line is read (a full pipe would stall the server); errors and non-JSON lines are shown.
    createInterface({ input: child.stdout }).on('line', (line) => {
      let entry: { level?: number; msg?: string; port?: number; metricsPort?: number; model?: string };
      try {
        entry = JSON.parse(line) as typeof entry;
      } catch {
        console.error(`soak: server: ${line}`);
        return;
      }
      if ((entry.level ?? 0) >= 50) {
        errorLines++;
        console.error(`soak: server: ${line}`);
      }
      const found = /^serving model (".*" \(\d+x\d+\))/.exec(entry.msg ?? '');
      if (found && typeof entry.port === 'number' && typeof entry.metricsPort === 'number') {
        clearTimeout(timer);
        resolve({ port: entry.port, metricsPort: entry.metricsPort, model: found[1] ?? '?' });
      }
    });
  });
  try {
    const { port, metricsPort, model } = await serving;
    return {
      child,
      pid: child.pid!,
      address: `127.0.0.1:${port}`,
      metricsPort,
      model,
      exited,
      exit: () => exit,
      errorLines: () => errorLines,
    };
  } catch (error: unknown) {
    child.kill('SIGKILL');
    await exited;
    throw error;
  }
}

/** GET /metrics of the server (a fresh connection each time, closed after: no idle socket in its fds). */
function getMetrics(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const request = httpGet(
      { host: '127.0.0.1', port, path: '/metrics', agent: false, timeout: 10_000 },
      (response) => {
        let text = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => (text += chunk));
        response.on('end', () =>
          response.statusCode === 200 ? resolve(text) : reject(new Error(`/metrics: HTTP ${response.statusCode}`)),
        );
        response.on('error', reject);
      },
    );
    request.on('timeout', () => request.destroy(new Error('/metrics: no answer within 10 s')));
    request.on('error', reject);
  });
}

/** The server's frame counters, streams open and heap used, from its Prometheus text (summed over labels). */
async function serverCounters(metricsPort: number): Promise<ServerCounters> {
  const sums = new Map<string, number>();
  const failedByReason: Record<string, number> = {};
  for (const line of (await getMetrics(metricsPort)).split('\n')) {
    const sample = /^([A-Za-z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!sample || line.startsWith('#')) continue;
    const [, name = '', labels = '', text = ''] = sample;
    const value = Number(text);
    sums.set(name, (sums.get(name) ?? 0) + value);
    if (name === 'fusionseg_frames_failed_total') {
      const reason = /(?:^|,)reason="([^"]*)"/.exec(labels)?.[1] ?? '?';
      failedByReason[reason] = (failedByReason[reason] ?? 0) + value;
    }
  }
  const sum = (name: string) => sums.get(name) ?? 0;
  return {
    received: sum('fusionseg_frames_received_total'),
    answered: sum('fusionseg_frames_segmented_total') + sum('fusionseg_frames_dropped_total'),
    failed: sum('fusionseg_frames_failed_total'),
    failedByReason,
    streamsOpen: sum('fusionseg_streams_open'),
    heapUsed: sum('fusionseg_nodejs_heap_size_used_bytes'),
  };
}

/** Resident set size of process `pid`, from /proc/PID/status (VmRSS). */
function rssOf(pid: number): number {
  const kB = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  if (kB === undefined) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return Number(kB) * 1024;
}

/** Open file descriptors of process `pid`. */
const fdsOf = (pid: number) => readdirSync(`/proc/${pid}/fd`).length;

/** ffmpeg and ffprobe processes that are children of process `pid`. */
async function ffmpegChildrenOf(pid: number): Promise<number> {
  try {
    const { stdout } = await execFileAsync('ps', ['-o', 'args=', '--ppid', String(pid)]);
    return stdout.split('\n').filter((line) => /ff(mpeg|probe)/.test(line)).length;
  } catch {
    return 0; // ps exits 1 when no process matches
  }
}

// --- run ---------------------------------------------------------------------------------------------------

const server = await startServer();
const { pid, metricsPort } = server;
const client = rawClient(server.address);
const rng = new Rng(seed);
const mb = (bytes: number) => (bytes / 1024 / 1024).toFixed(0);
/** The server's RSS at every printed row, and its maximum over those and a sample every 5 s. */
const rssRows: { label: string; rss: number }[] = [];
let rssMax = { label: '', rss: 0 };
let started = Date.now();
const noteRss = (label: string) => {
  const rss = rssOf(pid);
  if (rss > rssMax.rss) rssMax = { label, rss };
  return rss;
};
const problems: string[] = [];
try {
  // Baseline after one good stream of each kind, so that the connection and lazily made resources exist.
  for (const kind of ['raw', 'encoded-video', 'upload'] as const) {
    let c = soakCase(rng, -1);
    while (c.category !== kind || c.action.kind !== 'half-close') c = soakCase(rng, -1);
    const o = await runCase(client, c);
    if (o.code !== status.OK) console.log(`soak: warm-up ${kind} ended ${statusName(o.code)} "${o.details}"`);
  }
  const baseline = {
    fds: fdsOf(pid),
    ffmpeg: await pollUntil(
      () => ffmpegChildrenOf(pid),
      (n) => n === 0,
      10_000,
    ),
    rss: rssOf(pid),
  };
  console.log(
    `soak: ${minutes} min, ${streams} concurrent clients, model ${server.model}, server pid ${pid} on ${server.address} ` +
      `(metrics 127.0.0.1:${metricsPort}), seed ${seed}; server baseline fds ${baseline.fds}, ffmpeg ${baseline.ffmpeg}, ` +
      `rss ${mb(baseline.rss)} MB`,
  );
  console.log(
    'soak: t(s)  rss(MB) heap(MB) fds ffmpeg streams-open streams-done | received answered failed (interval) | gap = received - answered - failed',
  );

  started = Date.now();
  const elapsed = () => String(Math.round((Date.now() - started) / 1000));
  const endAt = started + minutes * 60_000;
  const outcomes: CaseOutcome[] = [];
  let next = 0;
  const runClient = async () => {
    while (Date.now() < endAt && server.exit() === undefined) {
      const outcome = await runCase(client, soakCase(rng, next++));
      outcomes.push(outcome);
    }
  };
  let last = await serverCounters(metricsPort);
  const report = async (label: string) => {
    try {
      const c = await serverCounters(metricsPort);
      const rss = noteRss(label);
      rssRows.push({ label, rss });
      const gap = c.received - c.answered - c.failed;
      const line =
        `soak: ${label.padStart(5)} ${mb(rss).padStart(7)} ${mb(c.heapUsed).padStart(8)} ${String(fdsOf(pid)).padStart(3)} ` +
        `${String(await ffmpegChildrenOf(pid)).padStart(6)} ${String(c.streamsOpen).padStart(12)} ${String(outcomes.length).padStart(12)} | ` +
        `${c.received} ${c.answered} ${c.failed} (+${c.received - last.received} +${c.answered - last.answered} +${c.failed - last.failed}) | ` +
        `gap ${gap}${gap === 0 ? ' (balanced)' : ' (frames in flight)'}`;
      last = c;
      console.log(line);
    } catch (error: unknown) {
      const exit = server.exit();
      console.log(
        `soak: ${label.padStart(5)} server figures unavailable: ${exit ? `the server exited (${describeExit(exit)})` : String(error)}`,
      );
    }
  };
  const timer = setInterval(() => void report(elapsed()), intervalMs);
  const sampler = setInterval(() => {
    if (server.exit() === undefined) noteRss(elapsed());
  }, 5000);
  await Promise.all(Array.from({ length: streams }, runClient));
  clearInterval(timer);
  clearInterval(sampler);
  await report('stop');

  const early = server.exit();
  if (early !== undefined) {
    problems.push(`the server exited during the soak (${describeExit(early)})`);
  } else {
    // Quiescence: no stream open, the server's ffmpeg children and fds back to baseline; then the frame
    // balance must hold.
    const open = await pollUntil(
      async () => (await serverCounters(metricsPort)).streamsOpen,
      (n) => n === 0,
      15_000,
    );
    if (open !== 0) problems.push(`${open} streams still open`);
    const ffmpeg = await pollUntil(
      () => ffmpegChildrenOf(pid),
      (n) => n <= baseline.ffmpeg,
      15_000,
    );
    if (ffmpeg > baseline.ffmpeg)
      problems.push(`${ffmpeg} ffmpeg children of the server (baseline ${baseline.ffmpeg})`);
    const fds = await pollUntil(
      () => fdsOf(pid),
      (n) => n <= baseline.fds + FD_MARGIN,
      15_000,
    );
    if (fds > baseline.fds + FD_MARGIN) {
      problems.push(`${fds} open fds in the server (baseline ${baseline.fds} + ${FD_MARGIN})`);
    }
    const counters = await pollUntil(
      () => serverCounters(metricsPort),
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
    await report('end');
    console.log(histogram(outcomes));
    console.log(
      `soak: end: ${outcomes.length} streams; server fds ${fds} (baseline ${baseline.fds}), ffmpeg ${ffmpeg} (baseline ${baseline.ffmpeg}), ` +
        `health ${health}; received ${counters.received} = answered ${counters.answered} + failed ${counters.failed} ` +
        `${JSON.stringify(counters.failedByReason)}: ${balanced ? 'holds' : 'DOES NOT hold'}`,
    );
  }
  const first = rssRows[0];
  const final = rssRows.at(-1);
  if (first && final) {
    console.log(
      `soak: server rss: baseline ${mb(baseline.rss)} MB, first interval (t=${first.label}) ${mb(first.rss)} MB, ` +
        `last (${final.label}) ${mb(final.rss)} MB, max ${mb(rssMax.rss)} MB (t=${rssMax.label}); ` +
        `last - first ${mb(final.rss - first.rss)} MB`,
    );
  }
  const bad = outcomes.filter((o) => o.verdict !== 'ok');
  if (bad.length > 0) {
    console.log(`soak: streams with an unexpected end (${bad.length}):`);
    for (const line of findings(bad)) console.log(`  ${line}`);
  }
} catch (error: unknown) {
  problems.push(`the soak failed: ${error instanceof Error ? error.message : String(error)}`);
} finally {
  client.close();
  // The server drains on SIGTERM (no stream should be left) and must exit 0 within its drain timeout.
  if (server.exit() === undefined) {
    const limitMs = DRAIN_TIMEOUT_S * 1000 + EXIT_GRACE_MS;
    const sent = Date.now();
    server.child.kill('SIGTERM');
    const exit = await Promise.race([
      server.exited,
      new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), limitMs).unref()),
    ]);
    const seconds = ((Date.now() - sent) / 1000).toFixed(1);
    if (exit === undefined) {
      problems.push(`the server did not exit within ${limitMs / 1000} s of SIGTERM (killed)`);
      server.child.kill('SIGKILL');
      await server.exited;
    } else {
      console.log(
        `soak: server stopped by SIGTERM: ${describeExit(exit)} after ${seconds} s ` +
          `(limit: drain timeout ${DRAIN_TIMEOUT_S} s + ${EXIT_GRACE_MS / 1000} s)`,
      );
      if (exit.code !== 0) problems.push(`the server ended with ${describeExit(exit)} after SIGTERM`);
    }
  }
  if (server.errorLines() > 0)
    console.log(`soak: the server logged ${server.errorLines()} error lines (on stderr above)`);
}
for (const problem of problems) console.log(`soak: FAIL: ${problem}`);
const exitCode = problems.length === 0 ? 0 : 1;
console.log(`soak: ${exitCode === 0 ? 'PASS' : 'FAIL'}`);
process.exit(exitCode);
