import test from 'ava';
import { status } from '@grpc/grpc-js';
import { InputKind, MapEncoding, type FrameRequest } from '../../proto/generated/fusionseg/v1/segmentation.pb.js';
import { collect, startTestService, streamFramesCall, writeAll } from '../helpers/service.js';

const W = 512;
const H = 256;

function frames(count: number, openFirst = true): FrameRequest[] {
  const rgb24 = new Uint8Array(W * H * 3).fill(208);
  const requests: FrameRequest[] = [];
  if (openFirst) {
    requests.push({
      payload: {
        $case: 'open',
        open: {
          // Raw maps: large results, so that unread results fill the transport quickly.
          options: {
            model: '',
            output: {
              semanticMap: MapEncoding.MAP_ENCODING_RAW,
              instanceMap: MapEncoding.MAP_ENCODING_RAW,
              panopticPng: false,
              sourceResolution: false,
            },
          },
          input: InputKind.INPUT_KIND_FRAMES,
          containerFormat: '',
        },
      },
    });
  }
  for (let i = 0; i < count; i++) {
    requests.push({
      payload: {
        $case: 'frame',
        frame: { frameId: i, pts: i, image: { $case: 'raw', raw: { width: W, height: H, rgb24 } } },
      },
    });
  }
  return requests;
}

test('a client that stops reading stops the server: work and memory stay bounded', async (t) => {
  const { client, service } = await startTestService(t, { framesInFlight: 4 }, { width: W, height: H });
  const call = streamFramesCall(client, 60_000);
  call.pause(); // read nothing for now
  const writing = writeAll(call, frames(400));
  await new Promise((resolve) => setTimeout(resolve, 2500));
  const early = service.context.framesSegmented;
  const rssEarly = process.memoryUsage().rss;
  await new Promise((resolve) => setTimeout(resolve, 2000));
  const late = service.context.framesSegmented;
  t.true(late < 100, `the server segmented ${late} of 400 frames for a client that reads nothing`);
  t.true(late - early <= 2, `work stopped: ${early} -> ${late} frames`);
  t.true(process.memoryUsage().rss - rssEarly < 64 * 1024 ** 2, 'memory does not keep growing');
  // Reading again lets the stream run to the end, every frame once.
  const outcome = collect(call);
  call.resume();
  await writing;
  const { results, error } = await outcome;
  t.is(error, undefined);
  t.deepEqual(
    results.map((r) => r.frameId),
    Array.from({ length: 400 }, (_, i) => i),
  );
  t.is(service.context.framesSegmented, 400);
});

test('when the inference queue is full, streams get RESOURCE_EXHAUSTED and others finish', async (t) => {
  const { client } = await startTestService(
    t,
    { maxQueue: 1, maxBatch: 1, maxDelayMs: 0, framesInFlight: 8 },
    { width: W, height: H, heavyChannels: 16 },
  );
  const outcomes = await Promise.all(
    [0, 1, 2].map(async () => {
      const call = streamFramesCall(client, 60_000);
      const outcome = collect(call);
      await writeAll(call, frames(16));
      return outcome;
    }),
  );
  const refused = outcomes.filter((o) => o.error !== undefined);
  t.true(refused.length > 0, 'some stream hit the full queue');
  for (const { error } of refused) {
    t.is(error?.code, status.RESOURCE_EXHAUSTED);
    t.regex(error?.details ?? '', /inference queue is full/);
  }
  // A stream that respects the limit afterwards is served in full.
  const call = streamFramesCall(client, 60_000);
  const outcome = collect(call);
  await writeAll(call, frames(3));
  t.is((await outcome).results.length, 3);
});
