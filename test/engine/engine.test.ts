import test, { type ExecutionContext } from 'ava';
import { join } from 'node:path';
import { Engine, type EngineOptions } from '../../server/src/engine/engine.js';
import { FrameDropped } from '../../server/src/engine/batcher.js';
import { ServerError, Status } from '../../server/src/errors.js';
import { tempDir } from '../helpers/clips.js';
import { captureLog } from '../helpers/log-capture.js';
import { writeTestModel, type TestModelOptions } from '../helpers/onnx-models.js';
import { CRASH_EXIT_CODE, CRASHING_SESSION_WORKER, markCrash } from '../helpers/session-faults.js';

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

test('past maxQueue, frames wait for admission instead of being refused, and all complete', async (t) => {
  const engine = await startEngine(t, { heavyChannels: 32 }, { batching: { maxBatch: 1, maxDelayMs: 0, maxQueue: 3 } });
  const outcomes = await Promise.all(
    Array.from({ length: 12 }, (_, i) => engine.infer(frame(16 * (i % 16))).then((r) => r.outputs.semantic[0])),
  );
  t.deepEqual(
    outcomes,
    Array.from({ length: 12 }, (_, i) => i % 16),
  );
  t.is(engine.queued, 0);
});

test('lanes are served round-robin: a late lane is not served after every frame of an eager one', async (t) => {
  const engine = await startEngine(
    t,
    { heavyChannels: 32 },
    { batching: { maxBatch: 1, maxDelayMs: 0, maxQueue: 64 } },
  );
  const eager = {};
  const late = {};
  const order: string[] = [];
  const done = (name: string) => () => order.push(name);
  const running = engine.infer(frame(16), undefined, eager).then(done('eager'));
  const eagerFrames = Array.from({ length: 6 }, () => engine.infer(frame(16), undefined, eager).then(done('eager')));
  const lateFrames = Array.from({ length: 2 }, () => engine.infer(frame(32), undefined, late).then(done('late')));
  await Promise.all([running, ...eagerFrames, ...lateFrames]);
  // FIFO would finish the late lane's frames last (positions 8 and 9); round-robin interleaves them.
  t.true(order.lastIndexOf('late') <= 5, order.join(' '));
});

test('dropOldest takes the oldest waiting frame of a lane out (FrameDropped), never one already running', async (t) => {
  const engine = await startEngine(
    t,
    { heavyChannels: 32 },
    { batching: { maxBatch: 1, maxDelayMs: 0, maxQueue: 64 } },
  );
  const lane = {};
  const running = engine.infer(frame(16), undefined, lane);
  const waiting = [engine.infer(frame(32), undefined, lane), engine.infer(frame(48), undefined, lane)];
  t.true(engine.dropOldest(lane));
  await t.throwsAsync(waiting[0]!, { instanceOf: FrameDropped });
  t.is((await running).outputs.semantic[0], 1);
  t.is((await waiting[1]!).outputs.semantic[0], 3);
  t.false(engine.dropOldest(lane), 'nothing left waiting');
});

async function within<T>(ms: number, promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not done within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

test('a worker that dies fails only its batch, is restarted, and later frames succeed', async (t) => {
  // The session runs behind a test wrapper of the real worker that exits on a marked frame.
  const { log, lines } = captureLog();
  const engine = await startEngine(
    t,
    {},
    { batching: { maxBatch: 1, maxDelayMs: 0 }, sessionWorkerEntry: CRASHING_SESSION_WORKER, log },
  );
  t.is((await engine.infer(frame(16))).outputs.semantic[0], 1, 'the wrapped worker segments frames');
  const doomed = engine.infer(markCrash(frame(32)));
  // One frame per batch on one session: this one waits for the session the doomed batch kills.
  const queued = engine.infer(frame(48));
  const error = await t.throwsAsync(doomed, { instanceOf: ServerError });
  t.is(error.code, Status.UNAVAILABLE);
  t.regex(
    error.message,
    new RegExp(`the inference session on cpu:1 stopped \\(worker exit code ${CRASH_EXIT_CODE}\\)`),
  );
  const next = await within(30_000, queued, 'the frame queued behind the dead worker (is the session restarted?)');
  t.is(next.outputs.semantic[0], 3);
  t.is((await engine.infer(frame(64))).outputs.semantic[0], 4);
  t.is(engine.sessionStats[0]?.restarts, 1);
  t.like(
    lines.find((line) => line.msg === 'inference session stopped; restarting it'),
    { level: 40, device: 'cpu:1', restarts: 1 },
    'the restart is logged through the injected logger',
  );
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

test('frames of a cancelled stream leave the queue and make room for waiting ones', async (t) => {
  const engine = await startEngine(t, { heavyChannels: 32 }, { batching: { maxBatch: 1, maxDelayMs: 0, maxQueue: 2 } });
  const stream = new AbortController();
  const running = engine.infer(frame(16)); // occupies the session
  const queued = [engine.infer(frame(32), stream.signal), engine.infer(frame(48), stream.signal)];
  const waiting = engine.infer(frame(64)); // the queue is full: waits for admission
  t.is(engine.queued, 3);
  stream.abort();
  for (const frameResult of queued) await t.throwsAsync(frameResult, { instanceOf: ServerError, message: /cancelled/ });
  t.is(engine.queued, 1);
  t.is((await waiting).outputs.semantic[0], 4);
  await running;
});
