/**
 * The dynamic batcher: frames from every stream wait in one bounded queue; a batch leaves when it is full
 * (`maxBatch`) or its oldest frame has waited `maxDelayMs`, and goes to the least-loaded idle session.
 * Past `maxQueue` waiting frames, new ones are refused at once (RESOURCE_EXHAUSTED), never queued without
 * bound. Each frame's promise settles on its own, so a stream that awaits its frames in order gets its
 * results in order even when batches complete out of order.
 */
import { cancelled, resourceExhausted } from '../errors.js';
import type { FrameOutputs } from './postprocess.js';
import type { SessionPool } from './session-pool.js';

export interface BatchingOptions {
  /** Most frames in one inference batch. */
  readonly maxBatch: number;
  /** How long the first frame of a partial batch waits for more. */
  readonly maxDelayMs: number;
  /** Most frames waiting for a session, across all streams. */
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
  /** From submit to the batch leaving for a session. */
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

interface Waiting {
  readonly frame: Uint8Array;
  readonly enqueuedAt: number;
  readonly signal: AbortSignal | undefined;
  readonly resolve: (result: FrameInference) => void;
  readonly reject: (error: unknown) => void;
}

/** Told of every batch sent to a session: its size, the session's index and its device. */
export type BatchListener = (size: number, session: number, device: string) => void;

export class Batcher {
  readonly #queue: Waiting[] = [];
  readonly #batchListeners: BatchListener[] = [];
  readonly #maxBatch: number;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(
    private readonly pool: SessionPool,
    readonly options: BatchingOptions,
  ) {
    // A graph with a fixed batch size cannot take more frames than that in one run.
    this.#maxBatch = Math.min(options.maxBatch, pool.facts.fixedBatch ?? Infinity);
  }

  /** Frames waiting for a session. */
  get queued(): number {
    return this.#queue.length;
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
   * Queues one RGB24 frame at the model's input size. Its buffer is transferred to a session worker
   * (zero-copy): the caller must not touch it afterwards.
   */
  submit(frame: Uint8Array, signal?: AbortSignal): Promise<FrameInference> {
    if (this.#closed) return Promise.reject(cancelled('the inference engine is shut down'));
    if (signal?.aborted) return Promise.reject(cancelled('the stream was cancelled'));
    this.#dropCancelled(); // frames of streams that ended do not count against the bound
    if (this.#queue.length >= this.options.maxQueue) {
      return Promise.reject(
        resourceExhausted(
          `the inference queue is full (${this.options.maxQueue} frames waiting); slow down or retry later`,
        ),
      );
    }
    return new Promise<FrameInference>((resolve, reject) => {
      this.#queue.push({ frame, enqueuedAt: performance.now(), signal, resolve, reject });
      this.schedule();
    });
  }

  /** Sends batches to idle sessions while there is work; called on submit and when a session frees up. */
  schedule(): void {
    this.#dropCancelled();
    while (this.#queue.length > 0) {
      const slot = this.pool.idleSlot();
      if (slot === undefined) return;
      const waited = performance.now() - this.#queue[0]!.enqueuedAt;
      if (this.#queue.length < this.#maxBatch && waited < this.options.maxDelayMs) {
        this.#timer ??= setTimeout(() => {
          this.#timer = undefined;
          this.schedule();
        }, this.options.maxDelayMs - waited);
        return;
      }
      const batch = this.#queue.splice(0, this.#maxBatch);
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
    if (this.#timer !== undefined && this.#queue.length === 0) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
  }

  #dropCancelled(): void {
    for (let i = this.#queue.length - 1; i >= 0; i--) {
      const item = this.#queue[i]!;
      if (item.signal?.aborted) {
        this.#queue.splice(i, 1);
        item.reject(cancelled('the stream was cancelled'));
      }
    }
  }

  /** Refuses new frames and fails the waiting ones. */
  close(): void {
    this.#closed = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    for (const item of this.#queue.splice(0)) item.reject(cancelled('the inference engine is shut down'));
  }
}
