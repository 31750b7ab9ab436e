import type { ServerDuplexStream } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { Engine } from '../engine/engine.js';
import type { FinishPool } from '../fusion/finish-pool.js';
import { unavailable } from '../errors.js';
import { log as processLog } from '../logger.js';
import { ServiceMetrics, type CallName } from '../metrics/service-metrics.js';
import { StreamMonitor } from './stream-monitor.js';

/** Per-server limits of the streaming calls. */
export interface StreamLimits {
  /** Frames of one stream in flight (decoding, queued, inferring, fusing) at once. */
  readonly framesInFlight: number;
  /** The largest video upload spooled to disk, in bytes. */
  readonly maxUploadBytes: number;
  /** Folder under which ProcessVideo may open server-side files; undefined disables them. */
  readonly mediaRoot: string | undefined;
  /** URL schemes ProcessVideo may open (empty disables URLs). */
  readonly allowedUrlSchemes: readonly string[];
}

export const DEFAULT_STREAM_LIMITS: StreamLimits = {
  framesInFlight: 8,
  maxUploadBytes: 2 * 1024 ** 3,
  mediaRoot: undefined,
  allowedUrlSchemes: [],
};

/** What the streaming handlers share: the engine, the fusion workers, limits, metrics and the drain state. */
export class ServiceContext {
  #activeStreams = 0;
  #nextStreamId = 1;
  readonly metrics: ServiceMetrics;
  /** Frames segmented (inferred, fused and encoded) since start, across streams. */
  framesSegmented = 0;
  #draining = false;
  #idleWaiters: (() => void)[] = [];

  constructor(
    readonly engine: Engine,
    readonly finishers: FinishPool,
    readonly limits: StreamLimits,
    readonly log: Logger = processLog,
  ) {
    this.metrics = new ServiceMetrics(engine, () => this.#activeStreams);
  }

  get activeStreams(): number {
    return this.#activeStreams;
  }

  /** Registers a new stream and returns its monitor; UNAVAILABLE while the server drains. */
  openStream(call: CallName, grpcCall: ServerDuplexStream<unknown, unknown>): StreamMonitor {
    if (this.#draining) throw unavailable('the server is shutting down; connect to another replica or retry');
    this.#activeStreams++;
    return new StreamMonitor(call, this.#nextStreamId++, this.metrics, this.log, grpcCall.getPeer());
  }

  /** Ends a stream opened with openStream: counts and logs its outcome. */
  closeStream(monitor: StreamMonitor, grpcCall: ServerDuplexStream<unknown, unknown>): void {
    monitor.close(grpcCall);
    this.#activeStreams--;
    if (this.#activeStreams === 0) for (const resolve of this.#idleWaiters.splice(0)) resolve();
  }

  /** Refuses new streams from now on; resolves when the running ones have finished. */
  drain(): Promise<void> {
    this.#draining = true;
    if (this.#activeStreams === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }
}
