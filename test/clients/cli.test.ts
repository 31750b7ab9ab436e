import test, { type ExecutionContext } from 'ava';
import { execFile, spawn } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { ffprobeBinary } from '../../server/src/video/ffmpeg.js';
import { makeTestClip, tempDir } from '../helpers/clips.js';
import { startTestService } from '../helpers/service.js';

const execFileAsync = promisify(execFile);
const cli = fileURLToPath(new URL('../../bin/fusionseg.mjs', import.meta.url));

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the real `fusionseg` command in a child process. */
function fusionseg(args: readonly string[], onSpawn?: (child: ReturnType<typeof spawn>) => void): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [cli, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
    onSpawn?.(child);
  });
}

async function probeFrames(path: string): Promise<{ frames: number; width: number; height: number }> {
  const { stdout } = await execFileAsync(ffprobeBinary().path, [
    '-v',
    'error',
    '-count_frames',
    '-select_streams',
    'v:0',
    '-show_entries',
    'stream=nb_read_frames,width,height',
    '-of',
    'json',
    path,
  ]);
  const stream = (JSON.parse(stdout) as { streams: { nb_read_frames: string; width: number; height: number }[] })
    .streams[0]!;
  return { frames: Number(stream.nb_read_frames), width: stream.width, height: stream.height };
}

async function setup(t: ExecutionContext, config = {}) {
  const dir = await tempDir(t);
  const clip = await makeTestClip(dir, { width: 160, height: 120, frames: 12, rate: 12 });
  const { address } = await startTestService(t, config);
  return { dir, clip, address };
}

async function ndjson(path: string): Promise<{ index: number; frameId: number; segments: unknown[] }[]> {
  return (await readFile(path, 'utf8'))
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as { index: number; frameId: number; segments: unknown[] });
}

test('stream: NDJSON in order, a playable overlay MP4 of the right size and length, PNG frames, summary', async (t) => {
  const { dir, clip, address } = await setup(t);
  const run = await fusionseg([
    'stream',
    clip,
    '--server',
    address,
    '--json',
    join(dir, 'out.ndjson'),
    '--overlay',
    join(dir, 'overlay.mp4'),
    '--frames-dir',
    join(dir, 'frames'),
    '--frames-every',
    '4',
    '--summary',
  ]);
  t.is(run.code, 0, run.stderr);
  const lines = await ndjson(join(dir, 'out.ndjson'));
  t.deepEqual(
    lines.map((line) => line.index),
    Array.from({ length: 12 }, (_, i) => i),
  );
  t.deepEqual(await probeFrames(join(dir, 'overlay.mp4')), { frames: 12, width: 160, height: 120 });
  const files = (await readdir(join(dir, 'frames'))).sort();
  t.deepEqual(files, [
    '000000-overlay.png',
    '000000-panoptic.json',
    '000000-panoptic.png',
    '000004-overlay.png',
    '000004-panoptic.json',
    '000004-panoptic.png',
    '000008-overlay.png',
    '000008-panoptic.json',
    '000008-panoptic.png',
  ]);
  const panoptic = JSON.parse(await readFile(join(dir, 'frames', '000000-panoptic.json'), 'utf8')) as {
    segments_info: unknown[];
  };
  t.true(panoptic.segments_info.length > 0);
  t.regex(run.stdout, /frames {6}12 in [\d.]+ s \([\d.]+ fps\)/);
  t.regex(run.stdout, /fusion {6}[\d.]+% of the server-side time/);
});

test('process: an upload and a server-side path give one NDJSON line per frame', async (t) => {
  const { dir, clip, address } = await setup(t, { mediaRoot: await tempDir(t) });
  const upload = await fusionseg([
    'process',
    clip,
    '--server',
    address,
    '--json',
    join(dir, 'up.ndjson'),
    '--overlay',
    join(dir, 'up.mp4'),
  ]);
  t.is(upload.code, 0, upload.stderr);
  t.is((await ndjson(join(dir, 'up.ndjson'))).length, 12);
  t.is((await probeFrames(join(dir, 'up.mp4'))).frames, 12);
  const sampled = await fusionseg([
    'process',
    clip,
    '--server',
    address,
    '--fps',
    '6',
    '--json',
    join(dir, 'half.ndjson'),
  ]);
  t.is(sampled.code, 0, sampled.stderr);
  t.is((await ndjson(join(dir, 'half.ndjson'))).length, 6);
});

test('errors: a missing server path exits with the gRPC status and the server’s message', async (t) => {
  const root = await tempDir(t);
  const { address } = await startTestService(t, { mediaRoot: root });
  const run = await fusionseg(['process', '--server-path', '../etc/passwd', '--server', address]);
  t.is(run.code, 7); // PERMISSION_DENIED
  t.regex(run.stderr, /fusionseg: PERMISSION_DENIED: server_path "..\/etc\/passwd" may not contain ".." segments/);
  const missing = await fusionseg(['process', '--server-path', 'nope.mp4', '--server', address]);
  t.is(missing.code, 5); // NOT_FOUND
  t.regex(missing.stderr, /NOT_FOUND: no file "nope.mp4"/);
});

test('errors: a local file that does not exist, a bad flag, no server', async (t) => {
  const missing = await fusionseg(['stream', '/nonexistent/video.mp4', '--server', '127.0.0.1:1']);
  t.not(missing.code, 0);
  t.regex(missing.stderr, /fusionseg: /);
  const usage = await fusionseg(['process']);
  t.is(usage.code, 64);
  t.regex(usage.stderr, /process takes exactly one of/);
  const unknown = await fusionseg(['frobnicate']);
  t.is(unknown.code, 64);
});

test('info prints the model, devices and label space', async (t) => {
  const { address } = await startTestService(t);
  const run = await fusionseg(['info', '--server', address]);
  t.is(run.code, 0, run.stderr);
  t.regex(run.stdout, /model {7}unified-test \(unified\), input 64x32/);
  t.regex(run.stdout, /devices {5}cpu:1 \[CPUExecutionProvider, 1 threads\]/);
  t.regex(run.stdout, /13 {2}car {12}vehicle {7}thing {2}rgb\(0, 0, 142\)/);
});

test.serial('SIGINT cancels the call and the server stops the stream’s work', async (t) => {
  const dir = await tempDir(t);
  const clip = await makeTestClip(dir, { width: 320, height: 240, frames: 300, rate: 30 });
  const { address, service } = await startTestService(t, {}, { heavyChannels: 64 });
  const run = await fusionseg(['process', clip, '--server', address, '--json', join(dir, 'out.ndjson')], (child) => {
    const timer = setInterval(() => {
      if (service.context.framesSegmented >= 3) {
        clearInterval(timer);
        child.kill('SIGINT');
      }
    }, 20);
  });
  t.is(run.code, 1); // CANCELLED
  t.regex(run.stderr, /CANCELLED/);
  const stoppedAt = service.context.framesSegmented;
  await new Promise((resolve) => setTimeout(resolve, 1000));
  t.true(service.context.framesSegmented - stoppedAt <= 8, 'at most the frames already in flight finish');
  t.true(service.context.framesSegmented < 300);
  t.is(service.context.activeStreams, 0);
});
