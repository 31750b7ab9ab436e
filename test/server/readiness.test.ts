import test from 'ava';
import { status, type ServiceError } from '@grpc/grpc-js';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import type { FrameResult } from '../../proto/generated/fusionseg/v1/segmentation.pb.js';
import { LIVENESS_SERVICE_NAME, SEGMENTATION_SERVICE_NAME } from '../../server/src/grpc/create-server.js';
import { healthCheck } from '../helpers/standard-services.js';
import {
  collect,
  openFramesRequest,
  solidFrameRequest,
  startTestService,
  streamFramesCall,
} from '../helpers/service.js';

const CAR = [16 * 13, 200, 200];

test('while the model loads: alive (liveness SERVING) but not ready, and calls are UNAVAILABLE', async (t) => {
  let whileLoading: Record<string, string> = {};
  let infoError: ServiceError | undefined;
  const { address, client } = await startTestService(
    t,
    {},
    {},
    {
      async onListening(port) {
        const at = `127.0.0.1:${port}`;
        whileLoading = {
          overall: await healthCheck(at, ''),
          segmentation: await healthCheck(at, SEGMENTATION_SERVICE_NAME),
          liveness: await healthCheck(at, LIVENESS_SERVICE_NAME),
        };
        const { SegmentationServiceClient } = await import('../../proto/generated/fusionseg/v1/segmentation.pb.js');
        const { credentials } = await import('@grpc/grpc-js');
        const early = new SegmentationServiceClient(at, credentials.createInsecure());
        infoError = await new Promise<ServiceError | undefined>((resolve) =>
          early.getModelInfo({ model: '' }, (error) => resolve(error ?? undefined)),
        );
        early.close();
      },
    },
  );
  t.deepEqual(whileLoading, { overall: 'NOT_SERVING', segmentation: 'NOT_SERVING', liveness: 'SERVING' });
  t.is(infoError?.code, status.UNAVAILABLE);
  t.regex(infoError?.details ?? '', /still loading/);
  t.is(await healthCheck(address, ''), 'SERVING');
  t.is(await healthCheck(address, SEGMENTATION_SERVICE_NAME), 'SERVING');
  const info = await new Promise((resolve, reject) =>
    client.getModelInfo({ model: '' }, (error, response) => (error ? reject(error) : resolve(response))),
  );
  t.truthy(info);
});

test('draining: not ready, still alive, new streams UNAVAILABLE, and the running stream finishes', async (t) => {
  const { service, address, client } = await startTestService(t, { drainTimeoutMs: 20_000 });
  const running = streamFramesCall(client);
  const results: FrameResult[] = [];
  running.on('data', (result: FrameResult) => results.push(result));
  const runningEnd = new Promise<void>((resolve) => running.on('end', resolve));
  running.write(openFramesRequest());
  running.write(solidFrameRequest(0, 64, 32, CAR));
  while (results.length < 1) await new Promise((resolve) => setTimeout(resolve, 10));

  const stopped = service.stop();
  t.is(await healthCheck(address, ''), 'NOT_SERVING');
  t.is(await healthCheck(address, SEGMENTATION_SERVICE_NAME), 'NOT_SERVING');
  t.is(await healthCheck(address, LIVENESS_SERVICE_NAME), 'SERVING');
  const refused = streamFramesCall(client);
  const outcome = collect(refused);
  refused.write(openFramesRequest());
  refused.end();
  t.is((await outcome).error?.code, status.UNAVAILABLE);

  // The running stream may still send frames and gets every result; then the server stops.
  running.write(solidFrameRequest(1, 64, 32, CAR));
  running.end();
  await runningEnd;
  t.deepEqual(
    results.map((r) => r.frameId),
    [0, 1],
  );
  await stopped;
});

test('stream logs: JSON lines that carry the stream id and call, with counts and no frame data', async (t) => {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n'))
        if (line) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  const log = pino({ level: 'debug' }, sink);
  const { client } = await startTestService(t, {}, {}, { log });
  for (const bad of [false, true]) {
    const call = streamFramesCall(client);
    const outcome = collect(call);
    call.write(openFramesRequest());
    const frame = solidFrameRequest(0, 64, 32, CAR);
    if (bad && frame.payload?.$case === 'frame' && frame.payload.frame.image?.$case === 'raw')
      frame.payload.frame.image.raw.height = 33;
    call.write(frame);
    call.end();
    await outcome;
  }
  await new Promise((resolve) => setTimeout(resolve, 50));
  const streamLines = lines.filter((line) => 'stream' in line);
  t.true(streamLines.length >= 4); // opened + ended, twice
  t.true(streamLines.every((line) => line.call === 'StreamFrames' && typeof line.peer === 'string'));
  t.deepEqual([...new Set(streamLines.map((line) => line.stream))].length, 2);
  const ended = streamLines.find((line) => line.msg === 'stream ended');
  t.like(ended, { outcome: 'ok', framesIn: 1, framesOut: 1, level: 30 });
  const failed = streamLines.find((line) => line.msg === 'stream failed: invalid_input');
  t.like(failed, { outcome: 'invalid_input', framesIn: 1, framesOut: 0, level: 40 });
  t.regex(String(failed?.details), /frame 0/);
  // No frame data: every line is short.
  t.true(lines.every((line) => JSON.stringify(line).length < 1000));
});
