/**
 * The dynamic batcher: frames wait in one lane per stream; a batch leaves when it is full (`maxBatch`) or
 * its oldest frame has waited `maxDelayMs`, and goes to the least-loaded idle session. Batches are formed
 * round-robin across lanes, so a stream that keeps many frames queued cannot starve one that keeps few.
 *
 * Overload slows streams down, it never fails them: past `maxQueue` frames in the lanes, a new frame waits
 * for admission (again round-robin across lanes) instead of being refused. Callers bound what waits (each
 * stream keeps a bounded window of frames in flight), and a stream whose frames wait stops reading from
 * its client, so the wait reaches the client through HTTP/2 flow control.
 *
 * Each frame's promise settles on its own, so a stream that awaits its frames in order gets its results in
 * order even when batches complete out of order.
 */
import { cancelled } from '../errors.js';
import type { FrameOutputs } from './postprocess.js';
import type { SessionPool } from './session-pool.js';

export interface BatchingOptions {
  /** Most frames in one inference batch. */
  readonly maxBatch: number;
  /** How long the first frame of a partial batch waits for more. */
  readonly maxDelayMs: number;
  /** Most frames queued for a session across all streams; more wait for admission, round-robin. */
  readonly maxQueue: number;
}

export const DEFAULT_BATCHING: BatchingOptions = { maxBatch: 4, maxDelayMs: 5, maxQueue: 64 };

/** Validates batching options; a TypeError names the option. */
export function batchingOptions(options: Partial<BatchingOptions> = {}): BatchingOptions {
  const merged = { ...DEFAULT_BATCHING, ...options };
  const check = (key: keyof BatchingOptions, min: number, max: number) => {
    const value = merged[key];
    if (!Number.isInteger(value) || value < min || value > max) {
      throw new TypeError(`${key} must be an integer from ${min} to ${max}, got ${String(value)}`);
    }
  };
  check('maxBatch', 1, 256);
  check('maxDelayMs', 0, 10_000);
  check('maxQueue', 1, 1_000_000);
  return merged;
}

export interface InferenceTimings {
  /** From submit to the batch leaving for a session (admission wait included). */
  readonly queueMs: number;
  /** The batch's inference time (all frames of a batch share it). */
  readonly inferenceMs: number;
  readonly batchSize: number;
  readonly device: string;
}

export interface FrameInference {
  readonly outputs: FrameOutputs;
  readonly timings: InferenceTimings;
}

/** A frame taken out of its lane before inference by `dropOldest` (a live stream catching up). */
export class FrameDropped extends Error {
  constructor() {
    super('the frame was dropped before inference: its stream fell behind');
    this.name = 'FrameDropped';
  }
}

/** Which lane (stream) a frame belongs to; frames without one share a default lane. */
export type LaneKey = object;

export interface SubmitOptions {
  /** Aborting drops the frame if it has not left for a session yet. */
  readonly signal?: AbortSignal | undefined;
  /** The stream the frame belongs to: lanes are served round-robin. */
  readonly lane?: LaneKey | undefined;
}

interface Waiting {
  readonly frame: Uint8Array;
  readonly enqueuedAt: number;
  readonly signal: AbortSignal | undefined;
  readonly resolve: (result: FrameInference) => void;
  readonly reject: (error: unknown) => void;
  /** Stops listening to the frame's signal (once it has left its lane). */
  detach: () => void;
}

interface Lane {
  /** Admitted frames, oldest first: batches take from here. */
  readonly queued: Waiting[];
  /** Frames waiting for admission (the queue was at maxQueue), oldest first. */
  readonly pending: Waiting[];
}

/** Told of every batch sent to a session: its size, the session's index and its device. */
export type BatchListener = (size: number, session: number, device: string) => void;

const DEFAULT_LANE: LaneKey = {};

export class Batcher {
  /** Lanes with frames, in round-robin order: the next frame comes from the first; a served lane moves last. */
  readonly #lanes = new Map<LaneKey, Lane>();
  readonly #batchListeners: BatchListener[] = [];
  readonly #maxBatch: number;
  #queued = 0;
  #pending = 0;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(
    private readonly pool: SessionPool,
    readonly options: BatchingOptions,
  ) {
    // A graph with a fixed batch size cannot take more frames than that in one run.
    this.#maxBatch = Math.min(options.maxBatch, pool.facts.fixedBatch ?? Infinity);
  }

  /** Frames waiting for a session (admitted or waiting for admission). */
  get queued(): number {
    return this.#queued + this.#pending;
  }

  /** Calls `listener` with the size, session index and device of every batch sent to a session. */
  onBatch(listener: BatchListener): void {
    this.#batchListeners.push(listener);
  }

  /** The largest batch formed: maxBatch, capped by the graph's fixed batch size. */
  get maxBatch(): number {
    return this.#maxBatch;
  }

  /**
   * Queues one RGB24 frame at the model's input size in its stream's lane. Its buffer is transferred to a
   * session worker (zero-copy): the caller must not touch it afterwards. Never refused for load: past
   * `maxQueue` the frame waits for admission.
   */
  submit(frame: Uint8Array, options: SubmitOptions = {}): Promise<FrameInference> {
    const { signal } = options;
    if (this.#closed) return Promise.reject(cancelled('the inference engine is shut down'));
    if (signal?.aborted) return Promise.reject(cancelled('the stream was cancelled'));
    return new Promise<FrameInference>((resolve, reject) => {
      const key = options.lane ?? DEFAULT_LANE;
      let lane = this.#lanes.get(key);
      if (lane === undefined) this.#lanes.set(key, (lane = { queued: [], pending: [] }));
      const item: Waiting = { frame, enqueuedAt: performance.now(), signal, resolve, reject, detach: () => {} };
      if (signal !== undefined) {
        const onAbort = () => this.#remove(key, item, cancelled('the stream was cancelled'));
        signal.addEventListener('abort', onAbort, { once: true });
        item.detach = () => signal.removeEventListener('abort', onAbort);
      }
      if (this.#queued < this.options.maxQueue && lane.pending.length === 0) {
        lane.queued.push(item);
        this.#queued++;
      } else {
        lane.pending.push(item);
        this.#pending++;
      }
      this.schedule();
    });
  }

  /**
   * Drops the oldest frame of `lane` that has not left for a session (its promise rejects with
   * FrameDropped). False when the lane has none: all its frames are already being inferred.
   */
  dropOldest(lane: LaneKey): boolean {
    const waiting = this.#lanes.get(lane);
    const oldest = waiting?.queued[0] ?? waiting?.pending[0];
    if (oldest === undefined) return false;
    this.#remove(lane, oldest, new FrameDropped());
    return true;
  }

  /** Sends batches to idle sessions while there is work; called on submit and when a session frees up. */
  schedule(): void {
    this.#admit();
    while (this.#queued > 0) {
      const slot = this.pool.idleSlot();
      if (slot === undefined) return;
      const waited = performance.now() - this.#oldestEnqueuedAt();
      if (this.#queued < this.#maxBatch && waited < this.options.maxDelayMs) {
        this.#timer ??= setTimeout(() => {
          this.#timer = undefined;
          this.schedule();
        }, this.options.maxDelayMs - waited);
        return;
      }
      const batch = this.#takeRoundRobin(this.#maxBatch);
      this.#admit();
      const leftAt = performance.now();
      const session = this.pool.slots.indexOf(slot);
      for (const listener of this.#batchListeners) listener(batch.length, session, slot.device.name);
      slot
        .run(
          batch.map((item) => item.frame),
          this.pool.facts.fixedBatch,
        )
        .then(
          (result) => {
            batch.forEach((item, i) =>
              item.resolve({
                outputs: result.frames[i]!,
                timings: {
                  queueMs: leftAt - item.enqueuedAt,
                  inferenceMs: result.inferenceMs,
                  batchSize: batch.length,
                  device: slot.device.name,
                },
              }),
            );
          },
          (error: unknown) => batch.forEach((item) => item.reject(error)),
        );
    }
    if (this.#timer !== undefined && this.#queued === 0) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
  }

  /** Refuses new frames and fails the waiting ones. */
  close(): void {
    this.#closed = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    const error = cancelled('the inference engine is shut down');
    for (const lane of this.#lanes.values()) {
      for (const item of [...lane.queued, ...lane.pending]) {
        item.detach();
        item.reject(error);
      }
    }
    this.#lanes.clear();
    this.#queued = this.#pending = 0;
  }

  /** Up to `count` admitted frames, one lane at a time in turn; a lane that gave one moves to the back. */
  #takeRoundRobin(count: number): Waiting[] {
    const taken: Waiting[] = [];
    while (taken.length < count && this.#queued > 0) {
      for (const [key, lane] of this.#lanes) {
        const item = lane.queued.shift();
        if (item === undefined) continue;
        item.detach();
        taken.push(item);
        this.#queued--;
        this.#requeue(key, lane);
        break;
      }
    }
    return taken;
  }

  /** Admits pending frames while the queue has room, one lane at a time in turn. */
  #admit(): void {
    while (this.#pending > 0 && this.#queued < this.options.maxQueue) {
      for (const [key, lane] of this.#lanes) {
        const item = lane.pending.shift();
        if (item === undefined) continue;
        lane.queued.push(item);
        this.#pending--;
        this.#queued++;
        this.#requeue(key, lane);
        break;
      }
    }
  }

  /** Moves a lane to the back of the round-robin order, or forgets it once empty. */
  #requeue(key: LaneKey, lane: Lane): void {
    this.#lanes.delete(key);
    if (lane.queued.length + lane.pending.length > 0) this.#lanes.set(key, lane);
  }

  #oldestEnqueuedAt(): number {
    let oldest = Infinity;
    for (const lane of this.#lanes.values()) oldest = Math.min(oldest, lane.queued[0]?.enqueuedAt ?? Infinity);
    return oldest;
  }

  /** Takes a frame out before inference (cancelled or dropped); a no-op once it has left for a session. */
  #remove(key: LaneKey, item: Waiting, error: unknown): void {
    const lane = this.#lanes.get(key);
    if (lane === undefined) return;
    let index = lane.queued.indexOf(item);
    if (index >= 0) {
      lane.queued.splice(index, 1);
      this.#queued--;
    } else {
      index = lane.pending.indexOf(item);
      if (index < 0) return;
      lane.pending.splice(index, 1);
      this.#pending--;
    }
    if (lane.queued.length + lane.pending.length === 0) this.#lanes.delete(key);
    item.detach();
    item.reject(error);
    this.schedule(); // room for a pending frame
  }
}
