import test from 'ava';
import { credentials, status } from '@grpc/grpc-js';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SegmentationServiceClient } from '../../proto/generated/fusionseg/v1/segmentation.pb.js';
import { tempDir } from '../helpers/clips.js';
import { writeTestModel } from '../helpers/onnx-models.js';
import { collect, openFramesRequest, solidFrameRequest, streamFramesCall } from '../helpers/service.js';
import { healthCheck } from '../helpers/standard-services.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const W = 64;
const H = 32;
const open = openFramesRequest();
const frame = (frameId: number) => solidFrameRequest(frameId, W, H, [208, 208, 208]);

test('npm start serves, and SIGTERM drains: running streams finish, new ones are refused, exit 0', async (t) => {
  const modelDir = await writeTestModel(join(await tempDir(t), 'model'));
  const child = spawn(
    process.execPath,
    [
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
      '--drain-timeout-s',
      '20',
    ],
    { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  t.teardown(() => child.kill('SIGKILL'));
  let output = '';
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

  const running = streamFramesCall(client);
  const runningOutcome = collect(running);
  running.write(open);
  running.write(frame(1));
  await new Promise((resolve) => setTimeout(resolve, 300));

  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
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
  t.is(await exited, 0, output);
});
