/**
 * Scale-out on one machine: N local replicas (each its own service on 127.0.0.1, port 0) driven through ONE
 * FusionsegClient over their address list, the round_robin path users get from `--server a,b,c`. What each
 * replica served is read from its own metrics (`fusionseg_frames_segmented_total`, `fusionseg_streams_total`),
 * not guessed from the client, so the figures show where the balancer really sent the streams.
 */
import type { Logger } from 'pino';
import { FusionsegClient } from '../../clients/src/client.js';
import { startService, type RunningService } from '../../server/src/service.js';
import type { FrameSet } from './frame-source.js';
import { MAX_REPLICAS } from './options.js';
import { driveStreams, type StreamLoad } from './stream-load.js';
import type { LoadSample } from './sample.js';

/** What one replica has answered so far, from its metrics. */
export interface ReplicaCounters {
  readonly frames: number;
  readonly streams: number;
}

/** One round through the replicas: the client's sample, and what each replica's counters moved by. */
export interface ReplicaRound {
  readonly sample: LoadSample;
  /** Wall time of the whole round, ms. */
  readonly wallMs: number;
  /** Streams and frames of the whole round (ramp-up and the last results included). */
  readonly perReplica: readonly ReplicaCounters[];
  /**
   * The steady part: each replica's frames answered between the start of the client's measured window and
   * the end of sending (timed rounds; a round measured by frames counts whole), and its length.
   */
  readonly window: { readonly ms: number; readonly frames: readonly number[] };
}

export interface ReplicaSet {
  readonly services: readonly RunningService[];
  readonly addresses: readonly string[];
  /** The balancing client: one channel over every replica's address, round_robin. */
  readonly client: FusionsegClient;
  /** Each replica's devices. */
  readonly devices: readonly string[];
  close(): Promise<void>;
}

/**
 * Starts one replica per entry of `devices` (each replica's device list), all with `maxBatch`. They start one
 * after another: loading several models at once on two cores only slows each down.
 */
export async function startReplicas(config: {
  readonly modelDir: string;
  readonly devices: readonly string[];
  readonly maxBatch: number;
  readonly log: Logger;
}): Promise<ReplicaSet> {
  const count = config.devices.length;
  if (count < 2 || count > MAX_REPLICAS) throw new RangeError(`replicas must be 2 to ${MAX_REPLICAS}, got ${count}`);
  const services: RunningService[] = [];
  try {
    for (const devices of config.devices) {
      services.push(
        await startService(
          {
            modelDir: config.modelDir,
            address: '127.0.0.1:0', // loopback only
            devices,
            maxBatch: config.maxBatch,
            maxQueue: 256,
          },
          { log: config.log },
        ),
      );
    }
  } catch (error: unknown) {
    await Promise.all(services.map((service) => service.stop()));
    throw error;
  }
  const addresses = services.map((service) => `127.0.0.1:${service.port}`);
  const client = new FusionsegClient(addresses.join(','));
  return {
    services,
    addresses,
    client,
    devices: config.devices,
    async close() {
      client.close();
      await Promise.all(services.map((service) => service.stop()));
    },
  };
}

async function counterSum(service: RunningService, name: string): Promise<number> {
  const metric = service.context.metrics.registry.getSingleMetric(name);
  if (metric === undefined) throw new Error(`the service has no ${name}`);
  return (await metric.get()).values.reduce((sum, { value }) => sum + value, 0);
}

/** Every replica's frames answered and streams ended, from its own metrics registry. */
export async function replicaCounters(set: ReplicaSet): Promise<ReplicaCounters[]> {
  return Promise.all(
    set.services.map(async (service) => ({
      frames: await counterSum(service, 'fusionseg_frames_segmented_total'),
      streams: await counterSum(service, 'fusionseg_streams_total'),
    })),
  );
}

const delta = (after: readonly ReplicaCounters[], before: readonly ReplicaCounters[]): ReplicaCounters[] =>
  after.map((c, i) => ({ frames: c.frames - before[i]!.frames, streams: c.streams - before[i]!.streams }));

/**
 * One round of `load` through the balancing client, and what each replica's counters moved by. A timed round
 * also reads the counters when the client's measured window opens (a third in) and when sending stops, so
 * that each replica's frames/s is of the same steady state as the client's. A server counts a stream when its
 * call has ended, which can be just after the client has seen the end: the round waits (bounded) until every
 * one of its streams is counted somewhere before it reads the totals.
 */
export async function driveReplicas(set: ReplicaSet, source: FrameSet, load: StreamLoad): Promise<ReplicaRound> {
  const before = await replicaCounters(set);
  const started = performance.now();
  const timed = load.frames === undefined;
  const at = (ms: number) =>
    new Promise<{ readonly time: number; readonly counters: ReplicaCounters[] }>((resolve, reject) => {
      setTimeout(() => {
        const time = performance.now();
        replicaCounters(set).then((counters) => resolve({ time, counters }), reject);
      }, ms);
    });
  const windowStart = timed ? at((load.seconds * 1000) / 3) : undefined;
  const windowEnd = timed ? at(load.seconds * 1000) : undefined;
  const sample = await driveStreams(set.client, source, load);
  const wallMs = performance.now() - started;
  const deadline = performance.now() + 10_000;
  let after = await replicaCounters(set);
  const ended = () => after.reduce((sum, c, i) => sum + c.streams - before[i]!.streams, 0);
  while (ended() < load.streams) {
    if (performance.now() > deadline) {
      throw new Error(`the replicas counted ${ended()} of ${load.streams} streams 10 s after the round ended`);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
    after = await replicaCounters(set);
  }
  const perReplica = delta(after, before);
  let window: ReplicaRound['window'] = { ms: wallMs, frames: perReplica.map((c) => c.frames) };
  if (windowStart !== undefined && windowEnd !== undefined) {
    const [from, to] = await Promise.all([windowStart, windowEnd]);
    window = { ms: to.time - from.time, frames: delta(to.counters, from.counters).map((c) => c.frames) };
  }
  return { sample, wallMs, perReplica, window };
}

/**
 * Warms the balancing client up: rounds of one stream per replica until one round reaches every replica (at
 * most `attempts`). round_robin picks among the subchannels that are ready, and a new channel's first
 * streams can all go to the replica that connected first; measured rounds should not start like that.
 * Returns the streams per replica of each warm-up round.
 */
export async function warmReplicas(
  set: ReplicaSet,
  source: FrameSet,
  load: Pick<StreamLoad, 'inFlight' | 'fusion'>,
  attempts = 3,
): Promise<number[][]> {
  const spreads: number[][] = [];
  for (let attempt = 0; attempt < attempts; attempt++) {
    const round = await driveReplicas(set, source, { ...load, streams: set.services.length, seconds: 1 });
    spreads.push(round.perReplica.map((replica) => replica.streams));
    if (round.perReplica.every((replica) => replica.streams > 0)) break;
  }
  return spreads;
}
