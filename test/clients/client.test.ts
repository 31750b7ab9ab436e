/**
 * FusionsegClient's writer: it waits for 'drain' under flow control, and stops waiting when the call is
 * over ('close', 'error') or the caller aborts, so neither a blocked write nor a source that waits for
 * results can hang the call. Stub servers (plain grpc-js) play the server's part.
 */
import test, { type ExecutionContext } from 'ava';
import { Server, ServerCredentials, status, type ServerDuplexStream } from '@grpc/grpc-js';
import {
  FrameResult,
  ModelInfo,
  SegmentationServiceService,
  type FrameRequest,
  type SegmentationServiceServer,
} from '../../proto/generated/fusionseg/v1/segmentation.pb.js';
import { FusionsegClient, FusionsegError, type ClientFrame } from '../../clients/src/client.js';

type StreamCall = ServerDuplexStream<FrameRequest, FrameResult>;

async function stubServer(t: ExecutionContext, streamFrames: (call: StreamCall) => void): Promise<FusionsegClient> {
  const server = new Server();
  const service: SegmentationServiceServer = {
    streamFrames,
    processVideo: (call) => call.end(),
    getModelInfo: (_call, callback) => callback(null, ModelInfo.fromPartial({ name: 'stub' })),
  };
  server.addService(SegmentationServiceService, service);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (error, bound) =>
      error ? reject(error) : resolve(bound),
    ),
  );
  const client = new FusionsegClient(`127.0.0.1:${port}`);
  t.teardown(() => {
    client.close();
    server.forceShutdown();
  });
  return client;
}

/** Fails instead of hanging. */
function within<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`still waiting after ${ms} ms (a hang)`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setTimeout(resolve, 20));
}

async function collect<T>(results: AsyncIterable<T>, each?: (result: T) => void): Promise<T[]> {
  const all: T[] = [];
  for await (const result of results) {
    all.push(result);
    each?.(result);
  }
  return all;
}

/** An endless source of 2 MiB frames (more than HTTP/2's window): the writer soon waits for 'drain'. */
function bigFrames(pulled: { count: number }): Generator<ClientFrame> {
  return (function* () {
    const rgb24 = new Uint8Array(1024 * 682 * 3);
    for (let i = 0; ; i++) {
      pulled.count++;
      yield { frameId: i, raw: { width: 1024, height: 682, rgb24 } };
    }
  })();
}

test('a source that waits for results gets the server’s error, not a hang', async (t) => {
  const client = await stubServer(t, (call) => {
    let answered = 0;
    call.on('data', (request: FrameRequest) => {
      if (request.payload?.$case !== 'frame') return;
      if (answered === 2) {
        call.emit('error', { code: status.INTERNAL, details: 'stub failure after two frames' });
        return;
      }
      answered++;
      call.write(FrameResult.fromPartial({ frameId: request.payload.frame.frameId }));
    });
  });
  // Sends frame i only once result i - 1 is in: after the failure it waits for a result that never comes.
  let received = 0;
  let wake: (() => void) | undefined;
  async function* lockstep(): AsyncGenerator<ClientFrame> {
    for (let i = 0; ; i++) {
      while (received < i) await new Promise<void>((resolve) => (wake = resolve));
      yield { frameId: i, jpeg: new Uint8Array(4) };
    }
  }
  const error = await t.throwsAsync(
    within(
      collect(client.streamFrames(lockstep(), { decodeMaps: false }), () => {
        received++;
        wake?.();
      }),
      10_000,
    ),
    { instanceOf: FusionsegError },
  );
  t.is(error.code, status.INTERNAL);
  t.is(error.details, 'stub failure after two frames');
  t.is(received, 2);
});

test('a write waiting for drain ends when the caller aborts: CANCELLED, and the source is no longer pulled', async (t) => {
  let serverCall: StreamCall | undefined;
  const client = await stubServer(t, (call) => {
    serverCall = call; // never reads: the client's writes fill the window
  });
  const pulled = { count: 0 };
  const controller = new AbortController();
  const results = collect(client.streamFrames(bigFrames(pulled), { signal: controller.signal, decodeMaps: false }));
  await within(
    until(() => serverCall !== undefined),
    5000,
  );
  await new Promise((resolve) => setTimeout(resolve, 300));
  t.true(pulled.count < 20, `the writer waits for flow control (pulled ${pulled.count})`);
  controller.abort();
  const error = await t.throwsAsync(within(results, 5000), { instanceOf: FusionsegError });
  t.is(error.code, status.CANCELLED);
  const atEnd = pulled.count;
  await new Promise((resolve) => setTimeout(resolve, 300));
  t.is(pulled.count, atEnd, 'the writer stopped');
  await within(
    until(() => serverCall?.cancelled === true),
    5000,
  ); // the server saw the call cancelled
});

test('a write waiting for drain ends when the server ends the call (OK and with an error status)', async (t) => {
  for (const ending of ['ok', 'error'] as const) {
    const client = await stubServer(t, (call) => {
      // Reads nothing, answers nothing, then ends the call while the client's write still waits for drain.
      setTimeout(() => {
        if (ending === 'ok') call.end();
        else call.emit('error', { code: status.RESOURCE_EXHAUSTED, details: 'too many streams' });
      }, 200);
    });
    const pulled = { count: 0 };
    const results = within(collect(client.streamFrames(bigFrames(pulled), { decodeMaps: false })), 10_000);
    if (ending === 'ok') t.deepEqual(await results, []);
    else {
      const error = await t.throwsAsync(results, { instanceOf: FusionsegError });
      t.is(error.code, status.RESOURCE_EXHAUSTED);
    }
    const atEnd = pulled.count;
    await new Promise((resolve) => setTimeout(resolve, 300));
    t.is(pulled.count, atEnd, `${ending}: the writer stopped`);
  }
});

test('a consumer that stops early cancels the call on the server', async (t) => {
  let serverCancelled = false;
  const client = await stubServer(t, (call) => {
    call.on('cancelled', () => (serverCancelled = true));
    call.on('data', (request: FrameRequest) => {
      if (request.payload?.$case === 'frame')
        call.write(FrameResult.fromPartial({ frameId: request.payload.frame.frameId }));
    });
  });
  function* frames(): Generator<ClientFrame> {
    for (let i = 0; ; i++) yield { frameId: i, jpeg: new Uint8Array(4) };
  }
  let seen = 0;
  for await (const { result } of client.streamFrames(frames(), { decodeMaps: false })) {
    t.is(result.frameId, seen);
    if (++seen === 3) break;
  }
  await within(
    until(() => serverCancelled),
    5000,
  );
  t.pass();
});
