import test from 'ava';
import { credentials, status, type ServiceError } from '@grpc/grpc-js';
import { join } from 'node:path';
import { InputKind, SegmentationServiceClient } from '../../proto/generated/fusionseg/v1/segmentation.pb.js';
import { tempDir } from '../helpers/clips.js';
import { writeTestModel } from '../helpers/onnx-models.js';
import { collect, openFramesRequest, solidFrameRequest, streamFramesCall, writeAll } from '../helpers/service.js';
import { startServerProcess } from '../helpers/server-process.js';
import { healthCheck } from '../helpers/standard-services.js';

// A client that opens encoded-video streams until the server runs out of file descriptors (each ffmpeg
// holds three pipes): the streams whose ffmpeg cannot start end alone, the server process stays up, and
// once the streams are gone it serves again.
test('out of fds (ulimit -n 160), failed decoder spawns end their streams only; the server keeps serving', async (t) => {
  t.timeout(120_000);
  const modelDir = await writeTestModel(join(await tempDir(t), 'model'));
  const server = await startServerProcess(
    t,
    [
      '--model',
      modelDir,
      '--devices',
      'cpu:1',
      '--fusion-workers',
      '1',
      '--max-decoders',
      '500',
      '--max-streams',
      '500',
    ],
    { ulimitFiles: 160 },
  );
  const { address } = server;
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
  t.is(server.exitCode(), undefined, `the server is still running:\n${server.output()}`);

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
  t.is(server.exitCode(), undefined);
});
