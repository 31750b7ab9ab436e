/**
 * The Python client (clients/python/) against real servers: its example streams a clip and counts every
 * frame, and its own tests (clients/python/tests, run with Debian's pytest) decode RAW/RLE/PNG maps from
 * the server (tracked ones too: 24-bit track ids, the tracked panoptic ids), stream numpy frames, upload a
 * video, check errors, the receive limit, mutual TLS and tokens.
 * Needs Debian's python3-grpcio, python3-protobuf, python3-numpy and python3-pytest (CI installs them):
 * without them these tests fail, they never skip.
 */
import test, { type ExecutionContext } from 'ava';
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ffmpegBinary, ffprobeBinary } from '../../server/src/video/ffmpeg.js';
import { makeTestClip, tempDir } from '../helpers/clips.js';
import { startTestService } from '../helpers/service.js';
import { makeCertificates } from '../helpers/tls-certificates.js';

const PYTHON = '/usr/bin/python3';
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const EXAMPLE = join(ROOT, 'clients/python/examples/stream_video.py');
const PYTHON_TESTS = join(ROOT, 'clients/python/tests');
const TOKEN = 'python-client-test-token-0123456789';

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs /usr/bin/python3 with `args` in the repository's root (never throws; the outcome is returned). */
function python(args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(PYTHON, args, {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        ...process.env,
        // grpcio honours http(s)_proxy; local servers must be reached directly.
        no_proxy: '127.0.0.1,localhost',
        NO_PROXY: '127.0.0.1,localhost',
        no_grpc_proxy: '127.0.0.1,localhost',
        PYTHONDONTWRITEBYTECODE: '1',
        FFMPEG_PATH: ffmpegBinary().path,
        FFPROBE_PATH: ffprobeBinary().path,
        FUSIONSEG_TOKEN: '',
        ...env,
      },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', (error) => resolve({ code: -1, stdout, stderr: `${stderr}${error.message}` }));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

const modulesCheck = python(['-c', 'import grpc, google.protobuf, numpy, pytest']);

/** Fails the test (never skips it) when Debian's Python packages are missing. */
async function requirePythonModules(t: ExecutionContext): Promise<void> {
  const run = await modulesCheck;
  if (run.code !== 0) {
    t.fail(
      `${PYTHON} cannot import grpc, google.protobuf, numpy and pytest (${run.stderr.trim().split('\n').pop() ?? ''}); ` +
        'install them: apt-get install -y python3-grpcio python3-protobuf python3-numpy python3-pytest',
    );
    throw new Error('the Python client needs python3-grpcio, python3-protobuf, python3-numpy and python3-pytest');
  }
}

function framesLine(run: Run): number {
  const match = /^frames: (\d+), seconds: [\d.]+, frames\/s: [\d.]+$/m.exec(run.stdout);
  if (match === null) throw new Error(`no "frames:" line (exit ${String(run.code)}):\n${run.stdout}\n${run.stderr}`);
  return Number(match[1]);
}

test('examples/stream_video.py streams a clip through ffmpeg and with an upload, counting every frame', async (t) => {
  await requirePythonModules(t);
  const { address } = await startTestService(t);
  const clip = await makeTestClip(await tempDir(t), { width: 320, height: 240, frames: 12 });
  const streamed = await python([EXAMPLE, '--server', address, clip]);
  t.is(streamed.code, 0, streamed.stderr);
  t.is(framesLine(streamed), 12);
  const perFrame = streamed.stdout.split('\n').filter((line) => /^frame \d+ pts \d+: 64x32 maps, /.test(line));
  t.is(perFrame.length, 12, streamed.stdout);
  t.regex(streamed.stdout, /^model unified-test \(unified\), input 64x32/m);

  // Uploads are tracked: their PNG instance maps are RGB images of 24-bit track ids.
  const uploaded = await python([EXAMPLE, '--server', address, '--upload', '--encoding', 'png', clip]);
  t.is(uploaded.code, 0, uploaded.stderr);
  t.is(framesLine(uploaded), 12);
  t.is(uploaded.stdout.split('\n').filter((line) => / \d+ tracks, /.test(line)).length, 12, uploaded.stdout);
  t.false(/ \d+ tracks, /.test(streamed.stdout), 'frame streams are not tracked by default');

  const tracked = await python([EXAMPLE, '--server', address, '--track', '--encoding', 'raw', clip]);
  t.is(tracked.code, 0, tracked.stderr);
  t.is(framesLine(tracked), 12);
  t.is(tracked.stdout.split('\n').filter((line) => / \d+ tracks, /.test(line)).length, 12, tracked.stdout);

  const limited = await python([EXAMPLE, '--server', address, '--max-frames', '5', '--quiet', clip]);
  t.is(limited.code, 0, limited.stderr);
  t.is(framesLine(limited), 5);
});

test('examples/stream_video.py reports a server error with its status and exits 1', async (t) => {
  await requirePythonModules(t);
  const dir = await tempDir(t);
  const tokens = join(dir, 'tokens');
  await writeFile(tokens, `${TOKEN}\n`);
  const { address } = await startTestService(t, { authTokensFile: tokens });
  const clip = await makeTestClip(dir, { frames: 3 });
  const refused = await python([EXAMPLE, '--server', address, clip]);
  t.is(refused.code, 1);
  t.regex(refused.stderr, /^error: UNAUTHENTICATED: /m);
  const allowed = await python([EXAMPLE, '--server', address, '--token', TOKEN, clip]);
  t.is(allowed.code, 0, allowed.stderr);
  t.is(framesLine(allowed), 3);
});

test('the Python client tests pass against real servers (plaintext; mutual TLS with tokens)', async (t) => {
  await requirePythonModules(t);
  const dir = await tempDir(t);
  const clip = await makeTestClip(dir, { width: 160, height: 120, frames: 6 });
  const tokens = join(dir, 'tokens');
  await writeFile(tokens, `${TOKEN}\n`);
  const certs = await makeCertificates(t);
  const plain = await startTestService(t);
  const secure = await startTestService(t, {
    tlsCert: certs.serverCert,
    tlsKey: certs.serverKey,
    tlsClientCa: certs.ca,
    authTokensFile: tokens,
  });
  const run = await python(['-m', 'pytest', '-q', '-p', 'no:cacheprovider', '-rfEs', PYTHON_TESTS], {
    FUSIONSEG_TEST_STRICT: '1',
    FUSIONSEG_TEST_SERVER: plain.address,
    FUSIONSEG_TEST_CLIP: clip,
    FUSIONSEG_TEST_CLIP_FRAMES: '6',
    FUSIONSEG_TEST_TLS_SERVER: secure.address,
    FUSIONSEG_TEST_TOKEN: TOKEN,
    FUSIONSEG_TEST_CA: certs.ca,
    FUSIONSEG_TEST_CLIENT_CERT: certs.clientCert,
    FUSIONSEG_TEST_CLIENT_KEY: certs.clientKey,
  });
  t.log(run.stdout.trim().split('\n').pop() ?? '');
  t.is(run.code, 0, `${run.stdout}\n${run.stderr}`);
  t.regex(run.stdout, /\b\d+ passed\b/);
  t.notRegex(run.stdout, /skipped|failed|error/i);
});
