import test from 'ava';
import { credentials, status } from '@grpc/grpc-js';
import { join } from 'node:path';
import { SegmentationServiceClient } from '../../proto/generated/fusionseg/v1/segmentation.pb.js';
import { tempDir } from '../helpers/clips.js';
import { writeTestModel } from '../helpers/onnx-models.js';
import { collect, openFramesRequest, solidFrameRequest, streamFramesCall } from '../helpers/service.js';
import { startServerProcess } from '../helpers/server-process.js';
import { healthCheck } from '../helpers/standard-services.js';

const W = 64;
const H = 32;
const open = openFramesRequest();
const frame = (frameId: number) => solidFrameRequest(frameId, W, H, [208, 208, 208]);

test('npm start serves, and SIGTERM drains: running streams finish, new ones are refused, exit 0', async (t) => {
  const modelDir = await writeTestModel(join(await tempDir(t), 'model'));
  const server = await startServerProcess(t, [
    '--model',
    modelDir,
    '--devices',
    'cpu:1',
    '--fusion-workers',
    '1',
    '--drain-timeout-s',
    '20',
  ]);
  const { address, child } = server;
  t.is(await healthCheck(address, ''), 'SERVING');
  const client = new SegmentationServiceClient(address, credentials.createInsecure());
  t.teardown(() => client.close());

  const running = streamFramesCall(client);
  const runningOutcome = collect(running);
  running.write(open);
  running.write(frame(1));
  await new Promise((resolve) => setTimeout(resolve, 300));

  child.kill('SIGTERM');
  await new Promise((resolve) => setTimeout(resolve, 300));
  t.is(await healthCheck(address, ''), 'NOT_SERVING');

  const refused = streamFramesCall(client);
  const refusedOutcome = collect(refused);
  refused.write(open);
  refused.end();
  const { error } = await refusedOutcome;
  t.is(error?.code, status.UNAVAILABLE);
  t.regex(error?.details ?? '', /shutting down/);

  running.write(frame(2));
  running.end();
  const { results, error: runningError } = await runningOutcome;
  t.is(runningError, undefined);
  t.deepEqual(
    results.map((r) => r.frameId),
    [1, 2],
  );
  t.is(await server.exited, 0, server.output());
});
