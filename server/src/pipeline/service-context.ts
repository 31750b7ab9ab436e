import type { Logger } from 'pino';
import type { Engine } from '../engine/engine.js';
import type { FinishPool } from '../fusion/finish-pool.js';
import { resourceExhausted, unavailable } from '../errors.js';
import { ServiceMetrics, type CallName } from '../metrics/service-metrics.js';
import { DEFAULT_CONTAINERS } from '../video/containers.js';
import type { MediaPolicy } from './video-source.js';

/** Per-server limits of the streaming calls. */
export interface StreamLimits extends MediaPolicy {
  /** Frames of one stream in flight (decoding, queued, inferring, fusing, writing) at once. */
  readonly framesInFlight: number;
  /** Streams open at once; one more is refused at open (RESOURCE_EXHAUSTED), never dropped later. */
  readonly maxStreams: number;
  /** ffmpeg decoders at once; a video stream past it is refused at open (RESOURCE_EXHAUSTED). */
  readonly maxDecoders: number;
  /** A stream with no client message and nothing in flight for this long ends; 0 = never. */
  readonly streamIdleTimeoutMs: number;
}

export const DEFAULT_STREAM_LIMITS: StreamLimits = {
  framesInFlight: 8,
  maxStreams: 64,
  maxDecoders: 32,
  streamIdleTimeoutMs: 60_000,
  maxUploadBytes: 2 * 1024 ** 3,
  mediaRoot: undefined,
  allowedUrlSchemes: [],
  allowUrlHosts: [],
  urlTimeoutMs: 10_000,
  allowContainers: DEFAULT_CONTAINERS,
  maxPixels: 4096 * 2160,
};

/**
 * After the drain timeout, how long streams get to answer the frames they have in flight (a full window of
 * every stream at the model's pace) before they are aborted: a client that does not read cannot hold the
 * shutdown.
 */
export const DRAIN_ANSWER_GRACE_MS = 10_000;

/** What the service asks of a running stream when it shuts down. */
export interface StreamControl {
  /** Stop taking frames; answer those in flight; end UNAVAILABLE. */
  stopIntake(): void;
  /** Give up on the stream at once (its client is not reading): end UNAVAILABLE without waiting. */
  abort(): void;
}

/** A stream admitted by `admit`: release it exactly once when it has ended. */
export interface Admission {
  readonly id: number;
  /** Takes a decoder slot for this stream (released with the stream); RESOURCE_EXHAUSTED when none is free. */
  useDecoder(): void;
  release(): void;
}

/**
 * What the streaming calls share: the engine, the fusion workers, limits, metrics, admission (the stream
 * and decoder caps) and shutdown (drain, then stop intake, then abort).
 */
export class ServiceContext {
  readonly #streams = new Set<StreamControl>();
  #nextStreamId = 1;
  #decoders = 0;
  readonly metrics: ServiceMetrics;
  /** Frames segmented (inferred, fused and encoded) since start, across streams. */
  framesSegmented = 0;
  #draining = false;
  #idleWaiters: (() => void)[] = [];

  constructor(
    readonly engine: Engine,
    readonly finishers: FinishPool,
    readonly limits: StreamLimits,
    readonly log: Logger,
  ) {
    this.metrics = new ServiceMetrics(engine, () => this.#streams.size);
  }

  get activeStreams(): number {
    return this.#streams.size;
  }

  /** Decoders (ffmpeg processes of streams) in use. */
  get decodersInUse(): number {
    return this.#decoders;
  }

  get draining(): boolean {
    return this.#draining;
  }

  /**
   * Admits a new stream, before anything of it is read: UNAVAILABLE while draining, RESOURCE_EXHAUSTED at
   * the stream cap. An admitted stream is never refused later for load.
   */
  admit(call: CallName, control: StreamControl): Admission {
    if (this.#draining) throw unavailable('the server is shutting down; connect to another replica or retry');
    if (this.#streams.size >= this.limits.maxStreams) {
      throw resourceExhausted(
        `this server runs its maximum of ${this.limits.maxStreams} streams; retry later or use another replica`,
      );
    }
    this.#streams.add(control);
    let decoder = false;
    let released = false;
    return {
      id: this.#nextStreamId++,
      useDecoder: () => {
        if (decoder) return;
        if (this.#decoders >= this.limits.maxDecoders) {
          throw resourceExhausted(
            `this server runs its maximum of ${this.limits.maxDecoders} video decoders; retry later (${call})`,
          );
        }
        decoder = true;
        this.#decoders++;
      },
      release: () => {
        if (released) return;
        released = true;
        if (decoder) this.#decoders--;
        this.#streams.delete(control);
        if (this.#streams.size === 0) for (const resolve of this.#idleWaiters.splice(0)) resolve();
      },
    };
  }

  /**
   * Shuts the streams down: refuses new ones at once; lets running ones finish for up to `timeoutMs`;
   * then stops their intake (frames in flight are answered, then they end UNAVAILABLE); streams that
   * still have not ended `graceMs` later (a client that does not read) are aborted. Resolves when none is left.
   */
  async drain(timeoutMs: number, graceMs = DRAIN_ANSWER_GRACE_MS): Promise<void> {
    this.#draining = true;
    if (await this.#idleWithin(timeoutMs)) return;
    this.log.warn({ streams: this.#streams.size }, 'drain timeout: ending the remaining streams');
    for (const stream of this.#streams) stream.stopIntake();
    if (await this.#idleWithin(graceMs)) return;
    for (const stream of this.#streams) stream.abort();
    await this.#idleWithin(Infinity);
  }

  #idleWithin(ms: number): Promise<boolean> {
    if (this.#streams.size === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = Number.isFinite(ms) ? setTimeout(() => resolve(false), ms) : undefined;
      this.#idleWaiters.push(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }
}
