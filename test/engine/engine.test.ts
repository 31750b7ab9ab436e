import test, { type ExecutionContext } from 'ava';
import { join } from 'node:path';
import { Engine, type EngineOptions } from '../../server/src/engine/engine.js';
import { ServerError, Status } from '../../server/src/errors.js';
import { tempDir } from '../helpers/clips.js';
import { writeTestModel, type TestModelOptions } from '../helpers/onnx-models.js';

const WIDTH = 64;
const HEIGHT = 32;

/** A frame whose red value picks its semantic class (floor(R / 16)) and whose mean sets the score. */
function frame(red: number, green = 0, blue = 0): Uint8Array {
  const data = new Uint8Array(WIDTH * HEIGHT * 3);
  for (let i = 0; i < data.length; i += 3) {
    data[i] = red;
    data[i + 1] = green;
    data[i + 2] = blue;
  }
  return data;
}

async function startEngine(
  t: ExecutionContext,
  model: TestModelOptions = {},
  options: Partial<EngineOptions> = {},
): Promise<Engine> {
  const modelDir = await writeTestModel(join(await tempDir(t), 'model'), model);
  const engine = await Engine.start({ modelDir, devices: 'cpu:1', ...options });
  t.teardown(() => engine.close());
  return engine;
}

test('a frame comes back as the model computed it: semantic map, mapped class, score, mask', async (t) => {
  const engine = await startEngine(t);
  const { outputs, timings } = await engine.infer(frame(16 * 7 + 3, 30, 60));
  t.is(outputs.width, WIDTH);
  t.is(outputs.height, HEIGHT);
  t.true(outputs.semantic.every((label) => label === 7));
  t.is(outputs.detections.length, 1);
  const [detection] = outputs.detections;
  t.is(detection?.classId, 13, 'detector class 3 maps to car (13)');
  t.is(detection?.score.toFixed(4), ((115 + 30 + 60) / 3 / 255).toFixed(4));
  t.deepEqual(detection?.box, [8, 4, 24, 20]);
  t.is(detection?.maskSize, 8);
  t.is(detection?.mask.length, 64);
  t.is(detection?.mask[1]?.toFixed(4), (1.5 / 8).toFixed(4));
  t.is(timings.batchSize, 1);
  t.is(timings.device, 'cpu:1');
});

test('logits are reduced by argmax and [K, 1, M, M] masks are accepted', async (t) => {
  const engine = await startEngine(t, { semantic: 'logits', masks4d: true });
  const { outputs } = await engine.infer(frame(16 * 12));
  t.true(outputs.semantic.every((label) => label === 12));
  t.is(outputs.detections[0]?.mask.length, 64);
});

test('a fixed-batch graph is padded, and padding never leaks detections', async (t) => {
  const engine = await startEngine(t, { batch: 2 }, { batching: { maxBatch: 4, maxDelayMs: 1 } });
  const results = await Promise.all([engine.infer(frame(16)), engine.infer(frame(32)), engine.infer(frame(48))]);
  t.deepEqual(
    results.map((result) => result.outputs.semantic[0]),
    [1, 2, 3],
  );
  t.deepEqual(
    results.map((result) => result.outputs.detections.length),
    [1, 1, 1],
  );
  t.true(results.every((result) => result.timings.batchSize <= 2));
  // The fixed batch caps maxBatch, and the engine says so (GetModelInfo reports this figure).
  t.is(engine.batching.maxBatch, 4);
  t.is(engine.maxBatch, 2);
});

test('batches fill up to maxBatch at once, and a lone frame waits maxDelayMs', async (t) => {
  const engine = await startEngine(t, {}, { batching: { maxBatch: 4, maxDelayMs: 60 } });
  const full = await Promise.all([1, 2, 3, 4].map((i) => engine.infer(frame(16 * i))));
  t.deepEqual(
    full.map((result) => result.timings.batchSize),
    [4, 4, 4, 4],
  );
  t.true(
    full.every((result) => result.timings.queueMs < 60),
    'a full batch does not wait for the delay',
  );
  const lone = await engine.infer(frame(16));
  t.is(lone.timings.batchSize, 1);
  t.true(lone.timings.queueMs >= 55, `waited ${lone.timings.queueMs.toFixed(1)} ms`);
});

test('several streams on two sessions get their results in order, and both sessions work', async (t) => {
  const engine = await startEngine(
    t,
    { heavyChannels: 16 },
    { devices: 'cpu:1,cpu:1', batching: { maxBatch: 2, maxDelayMs: 2 } },
  );
  const streams = [0, 1, 2];
  const framesPerStream = 12;
  const received = await Promise.all(
    streams.map(async (stream) => {
      // Each stream submits all its frames at once and reads the results in submission order.
      const pending = Array.from({ length: framesPerStream }, (_, i) =>
        engine.infer(frame(16 * ((stream * framesPerStream + i) % 16), stream * 80)),
      );
      const labels: number[] = [];
      for (const result of pending) labels.push((await result).outputs.semantic[0]!);
      return labels;
    }),
  );
  for (const stream of streams) {
    t.deepEqual(
      received[stream],
      Array.from({ length: framesPerStream }, (_, i) => (stream * framesPerStream + i) % 16),
    );
  }
  const stats = engine.sessionStats;
  t.is(
    stats.reduce((sum, s) => sum + s.frames, 0),
    streams.length * framesPerStream,
  );
  t.true(
    stats.every((s) => s.frames > 0),
    `frames per session: ${stats.map((s) => s.frames).join(', ')}`,
  );
});

test('past maxQueue, frames are refused with RESOURCE_EXHAUSTED and accepted ones all complete', async (t) => {
  const engine = await startEngine(t, { heavyChannels: 32 }, { batching: { maxBatch: 1, maxDelayMs: 0, maxQueue: 3 } });
  const attempts = Array.from({ length: 12 }, (_, i) =>
    engine.infer(frame(16 * (i % 16))).then(
      (result) => ({ ok: true as const, label: result.outputs.semantic[0] }),
      (error: unknown) => ({ ok: false as const, error }),
    ),
  );
  const outcomes = await Promise.all(attempts);
  const refused = outcomes.filter((outcome) => !outcome.ok);
  const accepted = outcomes.filter((outcome) => outcome.ok);
  t.true(refused.length > 0, 'some frames are refused');
  t.true(accepted.length >= 4, 'one running and the queue full are accepted');
  for (const outcome of refused) {
    t.true(outcome.error instanceof ServerError);
    t.is((outcome.error as ServerError).code, Status.RESOURCE_EXHAUSTED);
    t.regex((outcome.error as ServerError).message, /inference queue is full \(3 frames waiting\)/);
  }
  outcomes.forEach((outcome, i) => {
    if (outcome.ok) t.is(outcome.label, i % 16);
  });
});

test('a worker that dies fails only its frames, is restarted, and later frames succeed', async (t) => {
  const engine = await startEngine(t, { heavyChannels: 64 }, { batching: { maxBatch: 1, maxDelayMs: 0 } });
  await engine.infer(frame(16)); // warm
  const inFlight = engine.infer(frame(32));
  engine.crashSessionForTest(0);
  const error = await t.throwsAsync(inFlight, { instanceOf: ServerError });
  t.is(error.code, Status.UNAVAILABLE);
  t.regex(error.message, /the inference session on cpu:1 stopped/);
  const after = await engine.infer(frame(48));
  t.is(after.outputs.semantic[0], 3);
  t.is(engine.sessionStats[0]?.restarts, 1);
});

test('a frame of the wrong size is refused with a message naming the sizes', async (t) => {
  const engine = await startEngine(t);
  await t.throwsAsync(engine.infer(new Uint8Array(10)), {
    instanceOf: TypeError,
    message: `a frame for this model must be 64x32 RGB24 (6144 bytes), got 10`,
  });
});

test('bad batching options name the option', async (t) => {
  const modelDir = await writeTestModel(join(await tempDir(t), 'model'));
  await t.throwsAsync(Engine.start({ modelDir, devices: 'cpu:1', batching: { maxBatch: 0 } }), {
    instanceOf: TypeError,
    message: /maxBatch must be an integer from 1 to 256, got 0/,
  });
});

test('frames of a cancelled stream leave the queue and do not count against maxQueue', async (t) => {
  const engine = await startEngine(t, { heavyChannels: 32 }, { batching: { maxBatch: 1, maxDelayMs: 0, maxQueue: 2 } });
  const stream = new AbortController();
  const running = engine.infer(frame(16)); // occupies the session
  const queued = [engine.infer(frame(32), stream.signal), engine.infer(frame(48), stream.signal)];
  await t.throwsAsync(engine.infer(frame(64)), { message: /inference queue is full/ });
  stream.abort();
  const next = engine.infer(frame(80));
  for (const frameResult of queued) await t.throwsAsync(frameResult, { instanceOf: ServerError, message: /cancelled/ });
  t.is((await next).outputs.semantic[0], 5);
  await running;
});
