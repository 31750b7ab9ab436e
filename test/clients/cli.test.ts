import test, { type ExecutionContext } from 'ava';
import { status } from '@grpc/grpc-js';
import { execFile } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import {
  FrameResult,
  ModelInfo,
  type FrameRequest,
  type SegmentationServiceServer,
} from '../../proto/generated/fusionseg/v1/segmentation.pb.js';
import { bearerAuthInterceptor } from '../../server/src/grpc/auth-interceptor.js';
import { createFusionsegServer } from '../../server/src/grpc/create-server.js';
import { serverCredentials, type TlsFiles } from '../../server/src/grpc/server-credentials.js';
import { ffprobeBinary } from '../../server/src/video/ffmpeg.js';
import { fusionseg } from '../helpers/cli.js';
import { makeTestClip, tempDir } from '../helpers/clips.js';
import { startTestService } from '../helpers/service.js';
import { makeCertificates } from '../helpers/tls-certificates.js';

const execFileAsync = promisify(execFile);

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

// --- authentication: real servers with trivial handlers (GetModelInfo answers; StreamFrames fails after two) ---

const TOKEN = 'cli-test-token-0123456789';
const stubInfo = ModelInfo.fromPartial({
  name: 'stub',
  kind: 'unified',
  inputWidth: 64,
  inputHeight: 32,
  labelSpace: { name: 'cityscapes', classes: [{ id: 13, name: 'car', category: 'vehicle', isThing: true }] },
});

async function startStubServer(t: ExecutionContext, { tokens, tls = {} }: { tokens?: string[]; tls?: TlsFiles }) {
  const segmentation: SegmentationServiceServer = {
    getModelInfo: (_call, callback) => callback(null, stubInfo),
    streamFrames: (call) => {
      let answered = 0;
      call.on('data', (request: FrameRequest) => {
        if (request.payload?.$case !== 'frame' || call.destroyed) return;
        if (answered === 2) {
          call.emit('error', { code: status.INTERNAL, details: 'stub failure after two frames' });
          return;
        }
        answered++;
        call.write(FrameResult.fromPartial({ frameId: request.payload.frame.frameId }));
      });
    },
    processVideo: (call) => call.end(),
  };
  const server = createFusionsegServer({
    segmentation,
    interceptors: tokens === undefined ? [] : [bearerAuthInterceptor(tokens)],
  });
  const port = await server.listen('127.0.0.1:0', await serverCredentials(tls));
  t.teardown(() => server.shutdown(1000));
  return { address: `127.0.0.1:${port}`, tlsAddress: `localhost:${port}` };
}

test('auth: info sends --token or FUSIONSEG_TOKEN; without one, or a wrong one, it exits UNAUTHENTICATED (16)', async (t) => {
  const { address } = await startStubServer(t, { tokens: [TOKEN] });
  const flag = await fusionseg(['info', '--json', '--server', address, '--token', TOKEN]);
  t.is(flag.code, 0, flag.stderr);
  t.is((JSON.parse(flag.stdout) as { name: string }).name, 'stub');
  const fromEnv = await fusionseg(['info', '--json', '--server', address], undefined, { FUSIONSEG_TOKEN: TOKEN });
  t.is(fromEnv.code, 0, fromEnv.stderr);
  const none = await fusionseg(['info', '--server', address]);
  t.is(none.code, 16);
  t.regex(none.stderr, /fusionseg: UNAUTHENTICATED: missing or invalid bearer token/);
  const wrong = await fusionseg(['info', '--server', address, '--token', `${TOKEN}-old`]);
  t.is(wrong.code, 16);
  t.false(wrong.stderr.includes(TOKEN), 'the token is not printed');
});

test('auth: --tls-cert without --tls-key is a usage error; the usage text lists the connection flags', async (t) => {
  const run = await fusionseg(['info', '--server', '127.0.0.1:1', '--tls-cert', 'client.crt']);
  t.is(run.code, 64);
  t.regex(run.stderr, /--tls-cert and --tls-key go together/);
  const help = await fusionseg(['--help']);
  t.regex(
    help.stdout,
    /fusionseg info \[--server ADDR\] \[--tls\] \[--ca FILE\] \[--tls-cert FILE --tls-key FILE\] \[--token T\]/,
  );
  t.regex(help.stdout, /FUSIONSEG_TOKEN/);
});

test('auth: info with --ca, --tls-cert and --tls-key against a server that requires client certificates', async (t) => {
  const certs = await makeCertificates(t);
  const file = (name: string) => join(certs.dir, name);
  const { tlsAddress } = await startStubServer(t, {
    tls: { tlsCert: file('server.crt'), tlsKey: file('server.key'), tlsClientCa: file('ca.crt') },
  });
  const withCert = await fusionseg([
    'info',
    '--json',
    '--server',
    tlsAddress,
    '--ca',
    file('ca.crt'),
    '--tls-cert',
    file('client.crt'),
    '--tls-key',
    file('client.key'),
  ]);
  t.is(withCert.code, 0, withCert.stderr);
  const withoutCert = await fusionseg(['info', '--server', tlsAddress, '--ca', file('ca.crt')]);
  t.is(withoutCert.code, 14, withoutCert.stderr); // UNAVAILABLE: the handshake fails
});

test('stream: a server error mid-stream exits with its status instead of hanging', async (t) => {
  const dir = await tempDir(t);
  const clip = await makeTestClip(dir, { width: 160, height: 120, frames: 60, rate: 12 });
  const { address } = await startStubServer(t, {});
  const started = Date.now();
  const run = await fusionseg(['stream', clip, '--server', address, '--in-flight', '2']);
  t.is(run.code, 13, run.stderr); // INTERNAL
  t.regex(run.stderr, /INTERNAL: stub failure after two frames/);
  t.true(Date.now() - started < 30_000);
});
