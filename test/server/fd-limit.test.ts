import test from 'ava';
import { credentials, status, type ServiceError } from '@grpc/grpc-js';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { InputKind, SegmentationServiceClient } from '../../proto/generated/fusionseg/v1/segmentation.pb.js';
import { tempDir } from '../helpers/clips.js';
import { writeTestModel } from '../helpers/onnx-models.js';
import { collect, openFramesRequest, solidFrameRequest, streamFramesCall, writeAll } from '../helpers/service.js';
import { healthCheck } from '../helpers/standard-services.js';

const root = fileURLToPath(new URL('../..', import.meta.url));

// A client that opens encoded-video streams until the server runs out of file descriptors (each ffmpeg
// holds three pipes): the streams whose ffmpeg cannot start end alone, the server process stays up, and
// once the streams are gone it serves again.
test('out of fds (ulimit -n 160), failed decoder spawns end their streams only; the server keeps serving', async (t) => {
  t.timeout(120_000);
  const modelDir = await writeTestModel(join(await tempDir(t), 'model'));
  const serverArgs = [
    '--import',
    'tsx',
    'server/src/main.ts',
    '--model',
    modelDir,
    '--address',
    '127.0.0.1:0',
    '--devices',
    'cpu:1',
    '--fusion-workers',
    '1',
    '--max-decoders',
    '500',
    '--max-streams',
    '500',
  ];
  const child = spawn('bash', ['-c', 'ulimit -n 160; exec "$0" "$@"', process.execPath, ...serverArgs], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  let exitCode: number | null | undefined;
  child.once('exit', (code) => (exitCode = code));
  t.teardown(() => child.kill('SIGKILL'));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const match = /on 127\.0\.0\.1:(\d+)/.exec(output);
      if (match) resolve(Number(match[1]));
    });
    child.once('exit', () => reject(new Error(`the server exited early:\n${output}`)));
  });
  const address = `127.0.0.1:${port}`;
  t.is(await healthCheck(address, ''), 'SERVING');
  const client = new SegmentationServiceClient(address, credentials.createInsecure());
  t.teardown(() => client.close());

  const video = openFramesRequest();
  if (video.payload?.$case === 'open') {
    video.payload.open.input = InputKind.INPUT_KIND_ENCODED_VIDEO;
    video.payload.open.containerFormat = 'h264';
  }
  // Open streams until some fail (each holds an ffmpeg waiting for its first bytes).
  const calls = [];
  const failures: ServiceError[] = [];
  for (let i = 0; i < 120 && failures.length < 3; i++) {
    const call = streamFramesCall(client, 60_000);
    const outcome = collect(call);
    call.write(video);
    calls.push({ call, outcome });
    const failed = await Promise.race([
      outcome.then((o) => o.error),
      new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 100)),
    ]);
    if (failed !== undefined) failures.push(failed);
  }
  t.log(`after ${calls.length} streams: ${failures.map((f) => `${status[f.code]} ${f.details}`).join('; ')}`);
  t.true(failures.length > 0, 'the fd limit was reached');
  for (const failure of failures) {
    t.true(
      failure.code === status.RESOURCE_EXHAUSTED || failure.code === status.UNAVAILABLE,
      `${status[failure.code]}: ${failure.details}`,
    );
    t.notRegex(failure.details, /\/tmp|\/work|ffmpeg version/);
  }
  t.is(exitCode, undefined, `the server is still running:\n${output}`);

  // The streams go; the server serves a good stream again.
  for (const { call } of calls) call.cancel();
  await Promise.all(calls.map(({ outcome }) => outcome));
  let after: Awaited<ReturnType<typeof collect>> | undefined;
  for (let attempt = 0; attempt < 20 && after?.results.length !== 2; attempt++) {
    const good = streamFramesCall(client);
    const goodOutcome = collect(good);
    await writeAll(good, [
      openFramesRequest(),
      solidFrameRequest(0, 64, 32, [208, 0, 0]),
      solidFrameRequest(1, 64, 32, [208, 0, 0]),
    ]);
    after = await goodOutcome;
  }
  t.is(after?.error, undefined);
  t.is(after?.results.length, 2);
  t.is(await healthCheck(address, ''), 'SERVING');
  t.is(exitCode, undefined);
});
