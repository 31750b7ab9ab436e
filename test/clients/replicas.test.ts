/**
 * Client-side balancing over real replicas: a FusionsegClient over several addresses spreads its streams
 * round-robin; a replica killed with SIGKILL fails only its own streams (UNAVAILABLE, never a hang) and new
 * streams go to the survivors; `fusionseg process` retries a job whose replica died, on a live one.
 */
import test from 'ava';
import { status } from '@grpc/grpc-js';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { FusionsegClient, FusionsegError, grpcTarget, type ClientFrame } from '../../clients/src/client.js';
import type { RunningService } from '../../server/src/service.js';
import { fusionseg } from '../helpers/cli.js';
import { makeTestClip, tempDir } from '../helpers/clips.js';
import { writeTestModel } from '../helpers/onnx-models.js';
import { startServerProcess, type ServerProcess } from '../helpers/server-process.js';
import { childFfmpegCount, startTestService } from '../helpers/service.js';

/** Streams that ended on this replica (any outcome). */
async function streamsTotal(service: RunningService): Promise<number> {
  const metric = service.context.metrics.registry.getSingleMetric('fusionseg_streams_total');
  if (metric === undefined) throw new Error('no fusionseg_streams_total');
  return (await metric.get()).values.reduce((sum, { value }) => sum + value, 0);
}

function frame(frameId: number): ClientFrame {
  const rgb24 = new Uint8Array(32 * 32 * 3).fill(frameId * 16);
  return { frameId, raw: { width: 32, height: 32, rgb24 } };
}

/** `count` frames, one every `everyMs`; with `until`, frames go on until it aborts. */
async function* frames(count: number, everyMs = 0, until?: AbortSignal): AsyncGenerator<ClientFrame> {
  for (let i = 0; until === undefined ? i < count : !until.aborted; i++) {
    yield frame(i % 8);
    if (everyMs > 0) await sleep(everyMs);
  }
}

interface Outcome {
  readonly results: number;
  readonly error: unknown;
}

async function run(stream: AsyncIterable<unknown>, progress?: { results: number }): Promise<Outcome> {
  let results = 0;
  try {
    for await (const result of stream) {
      if (result !== undefined) results++;
      if (progress !== undefined) progress.results = results;
    }
    return { results, error: undefined };
  } catch (error: unknown) {
    return { results, error };
  }
}

async function until(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  return Promise.race([
    promise,
    sleep(ms).then(() => {
      throw new Error(`${what}: still running after ${ms} ms`);
    }),
  ]);
}

/** A server process over the test model that logs each stream it opens ("stream opened", debug level). */
async function startReplicaProcess(
  t: Parameters<typeof startServerProcess>[0],
  extraArgs: readonly string[] = [],
): Promise<ServerProcess> {
  const model = await writeTestModel(join(await tempDir(t), 'model'));
  return startServerProcess(t, [
    '--model',
    model,
    '--devices',
    'cpu:1',
    '--fusion-workers',
    '1',
    '--log-level',
    'debug',
    ...extraArgs,
  ]);
}

/** The frame indices of a `--json` NDJSON file, in the order written. */
async function frameIndices(file: string): Promise<number[]> {
  const lines = (await readFile(file, 'utf8')).trim().split('\n');
  return lines.map((line) => (JSON.parse(line) as { index: number }).index);
}

const opened = (server: ServerProcess) => server.output().match(/stream opened/g)?.length ?? 0;

test('addresses: lists of IP literals become ipv4:/ipv6: targets; host names in a list are refused', (t) => {
  t.is(grpcTarget('127.0.0.1:5001'), '127.0.0.1:5001');
  t.is(grpcTarget('localhost:5001'), 'localhost:5001');
  t.is(grpcTarget('dns:///fusionseg.internal:50051'), 'dns:///fusionseg.internal:50051');
  t.is(grpcTarget('127.0.0.1:5001, 127.0.0.1:5002'), 'ipv4:127.0.0.1:5001,127.0.0.1:5002');
  t.is(grpcTarget('[::1]:5001,[fe80::1]:5002'), 'ipv6:[::1]:5001,[fe80::1]:5002');
  t.throws(() => grpcTarget('a.example:5001,b.example:5001'), { message: /dns:\/\/\/a\.example:5001/ });
  t.throws(() => grpcTarget('127.0.0.1:5001,[::1]:5002'), { message: /not both/ });
  t.throws(() => grpcTarget('127.0.0.1:5001,,127.0.0.1:5002'), { message: /empty/ });
  t.throws(() => grpcTarget('127.0.0.1,127.0.0.1:5002'), { message: /host:port/ });
  t.throws(() => grpcTarget('127.0.0.1:0,127.0.0.1:5002'), { message: /port/ });
  t.throws(() => new FusionsegClient('a.example:1,b.example:2'), { instanceOf: TypeError });
});

test('the CLI names --server when the list is wrong (usage error, exit 64)', async (t) => {
  const { code, stderr } = await within(
    fusionseg(['info', '--server', 'a.example:1,b.example:2']),
    20_000,
    'fusionseg info',
  );
  t.is(code, 64);
  t.regex(stderr, /--server: .*dns:\/\/\//);
});

test.serial('twelve concurrent streams spread over three replicas', async (t) => {
  const replicas = await Promise.all([startTestService(t), startTestService(t), startTestService(t)]);
  const client = new FusionsegClient(replicas.map((r) => r.address).join(','));
  t.teardown(() => client.close());
  await client.getModelInfo({ deadlineMs: 10_000 });
  // Round-robin picks among the replicas whose connections are ready; grpc-js' public API reports the
  // channel's state, not each replica's, so there is no event for "all three connected": give loopback
  // connects (a few ms) a margin.
  await sleep(300);
  const outcomes = await within(
    Promise.all(Array.from({ length: 12 }, () => run(client.streamFrames(frames(3), { deadlineMs: 20_000 })))),
    25_000,
    'twelve streams',
  );
  for (const outcome of outcomes) t.deepEqual(outcome, { results: 3, error: undefined });
  const perReplica = await Promise.all(replicas.map((r) => streamsTotal(r.service)));
  t.is(
    perReplica.reduce((a, b) => a + b, 0),
    12,
  );
  for (const count of perReplica) t.true(count >= 1, `every replica got streams: ${perReplica.join(', ')}`);
});

test.serial(
  'a replica killed with SIGKILL fails its streams UNAVAILABLE; new streams go to the survivors',
  async (t) => {
    const [a, b, killed] = await Promise.all([startTestService(t), startTestService(t), startReplicaProcess(t)]);
    const client = new FusionsegClient([a.address, b.address, killed.address].join(','));
    t.teardown(() => client.close());
    await client.getModelInfo({ deadlineMs: 10_000 });
    await sleep(500); // every replica's connection ready (see above: no per-replica event in grpc-js' API)

    const stop = new AbortController();
    t.teardown(() => stop.abort());
    const progress = Array.from({ length: 6 }, () => ({ results: 0 }));
    const running = progress.map((p) =>
      run(client.streamFrames(frames(0, 40, stop.signal), { deadlineMs: 40_000 }), p),
    );
    await until(() => progress.every((p) => p.results > 0), 15_000, 'results on every stream');
    const onKilled = opened(killed);
    t.true(onKilled >= 1, 'the replica to kill got streams');

    let failedSoFar = 0;
    for (const stream of running) void stream.then(({ error }) => (failedSoFar += error === undefined ? 0 : 1));
    killed.child.kill('SIGKILL');
    await within(killed.exited, 5000, 'the killed replica');
    // The client knows the replica is gone once its streams there have failed: only then do new streams
    // avoid it (one opened in between may still be sent down the dead connection).
    await until(() => failedSoFar >= onKilled, 10_000, 'the streams on the killed replica to fail');
    const before = (await streamsTotal(a.service)) + (await streamsTotal(b.service));
    const fresh = await within(
      Promise.all(Array.from({ length: 6 }, () => run(client.streamFrames(frames(3), { deadlineMs: 20_000 })))),
      20_000,
      'new streams after the kill',
    );
    for (const outcome of fresh) t.deepEqual(outcome, { results: 3, error: undefined });
    t.is((await streamsTotal(a.service)) + (await streamsTotal(b.service)), before + 6);

    stop.abort();
    const outcomes = await within(Promise.all(running), 15_000, 'the streams running at the kill');
    const failed = outcomes.filter((o) => o.error !== undefined);
    t.is(failed.length, onKilled, 'exactly the killed replica streams failed');
    for (const { error } of failed) {
      t.true(error instanceof FusionsegError && error.code === status.UNAVAILABLE, String(error));
    }
  },
);

test.serial(
  'one replica drained and one killed mid-run: every stream and job completes or ends UNAVAILABLE; none hangs',
  async (t) => {
    const dir = await tempDir(t);
    const [clip, survivor, drained, killed] = await Promise.all([
      makeTestClip(dir, { width: 320, height: 240, frames: 150, rate: 25 }),
      startTestService(t),
      startReplicaProcess(t, ['--drain-timeout-s', '20']),
      startReplicaProcess(t),
    ]);
    const addresses = [survivor.address, drained.address, killed.address].join(',');
    const client = new FusionsegClient(addresses);
    t.teardown(() => client.close());
    await client.getModelInfo({ deadlineMs: 10_000 });
    await sleep(500); // every replica's connection ready (see above)

    // Nine frame streams (60 frames, one every 40 ms) and three `fusionseg process` jobs (ProcessVideo
    // uploads, decoded by the replicas' ffmpeg), all at once over the three replicas.
    const progress = Array.from({ length: 9 }, () => ({ results: 0 }));
    const streams = progress.map((p) => run(client.streamFrames(frames(60, 40), { deadlineMs: 40_000 }), p));
    const jobs = [0, 1, 2].map((i) => {
      const json = join(dir, `job-${i}.ndjson`);
      const exited = fusionseg(['process', clip, '--server', addresses, '--json', json, '--quiet'], (child) =>
        t.teardown(() => child.kill('SIGKILL')),
      );
      return { json, exited };
    });
    await until(() => opened(drained) >= 2 && opened(killed) >= 2, 20_000, 'streams on both replicas to stop');
    await until(() => progress.every((p) => p.results > 0), 20_000, 'results on every frame stream');

    drained.child.kill('SIGTERM');
    killed.child.kill('SIGKILL');
    const outcomes = await within(Promise.all(streams), 40_000, 'the frame streams');
    const jobEnds = await within(Promise.all(jobs.map((job) => job.exited)), 60_000, 'the process jobs');
    t.is(await within(drained.exited, 30_000, 'the drained replica'), 0, 'drained, then exited cleanly');
    t.regex(drained.output(), /draining/);

    // Frame streams are not retried: each finished all its frames, or ended UNAVAILABLE (its replica died).
    const failed = outcomes.filter((outcome) => outcome.error !== undefined);
    for (const { error } of failed) {
      t.true(error instanceof FusionsegError && error.code === status.UNAVAILABLE, String(error));
    }
    for (const outcome of outcomes.filter((o) => o.error === undefined)) t.is(outcome.results, 60);
    t.true(failed.length <= opened(killed), `${failed.length} failed, ${opened(killed)} on the killed replica`);
    t.true(failed.length < outcomes.length, 'streams on the survivor and the drained replica finished');
    // Jobs are retried from the start: every one completes, with every frame exactly once.
    for (const [i, { code, stderr }] of jobEnds.entries()) {
      t.is(code, 0, stderr);
      t.deepEqual(
        await frameIndices(jobs[i]!.json),
        Array.from({ length: 150 }, (_, k) => k),
      );
    }
    // No decoder left behind on the survivor (its ffmpeg processes are this process's children).
    let ffmpegLeft = await childFfmpegCount();
    for (let tries = 0; ffmpegLeft > 0 && tries < 100; tries++) {
      await sleep(50);
      ffmpegLeft = await childFfmpegCount();
    }
    t.is(ffmpegLeft, 0);
    t.log(
      `streams: ${outcomes.length - failed.length} finished, ${failed.length} UNAVAILABLE; opened on the drained ` +
        `replica ${opened(drained)}, on the killed one ${opened(killed)}; jobs retried: ` +
        `${jobEnds.filter((end) => /retrying/.test(end.stderr)).length}`,
    );
  },
);

test.serial('fusionseg process retries a job whose replica died, on a live replica', async (t) => {
  const dir = await tempDir(t);
  const [clip, first, second] = await Promise.all([
    makeTestClip(dir, { width: 320, height: 240, frames: 150, rate: 25 }),
    startReplicaProcess(t),
    startReplicaProcess(t),
  ]);
  const json = join(dir, 'out.ndjson');
  const exited = fusionseg(
    ['process', clip, '--server', `${first.address},${second.address}`, '--json', json, '--quiet'],
    (child) => t.teardown(() => child.kill('SIGKILL')),
  );

  // The job's replica dies as soon as the job is on it.
  await until(() => opened(first) + opened(second) > 0, 20_000, 'the job to start');
  const [victim, survivor] = opened(first) > 0 ? [first, second] : [second, first];
  victim.child.kill('SIGKILL');

  const { code, stderr } = await within(exited, 40_000, 'fusionseg process');
  t.is(code, 0, stderr);
  t.regex(stderr, /UNAVAILABLE.*retrying from the start in 0\.5 s \(retry 1 of 3\)/);
  t.true(opened(survivor) >= 1);
  t.deepEqual(
    await frameIndices(json),
    Array.from({ length: 150 }, (_, i) => i),
  );
});

test.serial('fusionseg process --no-retry fails at the first UNAVAILABLE', async (t) => {
  // Nothing listens on port 1: the call ends UNAVAILABLE, and without retries the command exits with it.
  const dir = await tempDir(t);
  const clip = await makeTestClip(dir, { width: 64, height: 48, frames: 2 });
  const { code, stderr } = await within(
    fusionseg(['process', clip, '--server', '127.0.0.1:1', '--no-retry']),
    20_000,
    'fusionseg process',
  );
  t.is(code, status.UNAVAILABLE);
  t.notRegex(stderr, /retrying/);
});
