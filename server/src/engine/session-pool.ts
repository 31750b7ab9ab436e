/**
 * One ONNX Runtime session per device, each in its own worker thread. A worker that dies fails only the
 * batch it held (UNAVAILABLE, naming the device) and is started again; the others keep serving.
 */
import type { Worker } from 'node:worker_threads';
import { ServerError, Status } from '../errors.js';
import type { Logger } from '../logger.js';
import { startWorkerAt, workerEntry } from '../start-worker.js';
import type { DeviceSpec } from './devices.js';
import { checkGraph, type GraphFacts, type ModelManifest } from './model.js';
import type { FrameOutputs } from './postprocess.js';
import { sessionOptionsFor } from './session-options.js';
import type { FromWorker, ToWorker, WorkerInit } from './worker-protocol.js';

/** The real session worker's entry module (the compiled `.js` from dist/, the `.ts` source under tsx). */
export const SESSION_WORKER_ENTRY: URL = workerEntry(new URL('./session-worker', import.meta.url), import.meta.url);

export interface SessionPoolOptions {
  /** Where restarts and failed restarts are logged. */
  readonly log: Logger;
  /**
   * The entry module of every session's worker thread (default `SESSION_WORKER_ENTRY`). It must speak
   * worker-protocol.ts; a `.ts` module is run through tsx. Tests give a wrapper of the real worker that
   * injects faults.
   */
  readonly workerEntry?: URL;
}

export interface BatchResult {
  readonly frames: FrameOutputs[];
  readonly inferenceMs: number;
}

interface PendingBatch {
  readonly id: number;
  readonly size: number;
  readonly resolve: (result: BatchResult) => void;
  readonly reject: (error: unknown) => void;
}

/** A session's counters, for GetModelInfo, metrics and benchmarks. */
export interface SessionStats {
  readonly device: string;
  readonly batches: number;
  readonly frames: number;
  readonly busyMs: number;
  readonly restarts: number;
}

export class SessionSlot {
  #worker: Worker | undefined;
  #pending: PendingBatch | undefined;
  #ready = false;
  #closing = false;
  #nextId = 0;
  /** Settles (never rejects) when the batch in the worker is done. */
  #running: Promise<unknown> | undefined;
  #stats = { batches: 0, frames: 0, busyMs: 0, restarts: 0 };

  constructor(
    readonly device: DeviceSpec,
    private readonly model: ModelManifest,
    private readonly onAvailable: () => void,
    private readonly log: Logger,
    private readonly entry: URL = SESSION_WORKER_ENTRY,
  ) {}

  /** True when the worker is up and holds no batch. */
  get idle(): boolean {
    return this.#ready && this.#pending === undefined && !this.#closing;
  }

  /** Frames run so far: the measure of load when choosing between idle sessions. */
  get load(): number {
    return this.#stats.frames;
  }

  get stats(): SessionStats {
    return { device: this.device.name, ...this.#stats };
  }

  /** Starts the worker and resolves with what the graph check learnt, once the session is loaded. */
  start(): Promise<GraphFacts> {
    const init: WorkerInit = { graphs: this.model.graphs, sessionOptions: sessionOptionsFor(this.device) };
    const worker = startWorkerAt(this.entry, { workerData: init });
    this.#worker = worker;
    return new Promise<GraphFacts>((resolve, reject) => {
      let started = false;
      worker.on('message', (message: FromWorker) => {
        switch (message.type) {
          case 'ready': {
            try {
              const facts = this.model.graphs.map((graph, i) =>
                checkGraph(graph, message.graphs[i]?.inputs ?? [], message.graphs[i]?.outputs ?? []),
              );
              started = true;
              this.#ready = true;
              resolve({ fixedBatch: facts.map((fact) => fact.fixedBatch).find((batch) => batch !== undefined) });
            } catch (error: unknown) {
              this.#closing = true;
              void worker.terminate();
              reject(error instanceof Error ? error : new Error(String(error)));
            }
            return;
          }
          case 'init-error':
            this.#closing = true;
            void worker.terminate();
            reject(new Error(`could not load the model on ${this.device.name}: ${message.message}`));
            return;
          case 'result':
          case 'run-error':
            this.#settle(message);
            return;
        }
      });
      worker.on('error', (error) => {
        if (!started) reject(error);
      });
      worker.on('exit', (code) => {
        this.#ready = false;
        const pending = this.#pending;
        this.#pending = undefined;
        pending?.reject(
          new ServerError(
            Status.UNAVAILABLE,
            `the inference session on ${this.device.name} stopped (worker exit code ${code}) while running ` +
              `this frame's batch; it is being restarted, retry the frame`,
          ),
        );
        if (started && !this.#closing) this.#restart();
      });
    });
  }

  #restart(): void {
    this.#stats.restarts++;
    this.log.warn(
      { device: this.device.name, restarts: this.#stats.restarts },
      'inference session stopped; restarting it',
    );
    this.start().then(
      () => this.onAvailable(),
      (error: unknown) =>
        this.log.error({ err: error, device: this.device.name }, 'restarting an inference session failed'),
    );
  }

  #settle(message: Extract<FromWorker, { type: 'result' | 'run-error' }>): void {
    const pending = this.#pending;
    if (pending === undefined || pending.id !== message.id) return;
    this.#pending = undefined;
    if (message.type === 'result') {
      this.#stats.batches++;
      this.#stats.frames += pending.size;
      this.#stats.busyMs += message.inferenceMs;
      pending.resolve({ frames: message.frames, inferenceMs: message.inferenceMs });
    } else {
      pending.reject(new ServerError(Status.INTERNAL, `inference failed on ${this.device.name}: ${message.message}`));
    }
    this.onAvailable();
  }

  /** Runs one batch; the frames' buffers are transferred to the worker (the caller must not reuse them). */
  run(frames: readonly Uint8Array[], fixedBatch: number | undefined): Promise<BatchResult> {
    const worker = this.#worker;
    if (!this.idle || worker === undefined) throw new Error(`session ${this.device.name} is not idle`);
    const id = this.#nextId++;
    const result = new Promise<BatchResult>((resolve, reject) => {
      this.#pending = { id, size: frames.length, resolve, reject };
      // Frames that own their whole buffer move without a copy; a view into a larger buffer (say, a pooled
      // Node Buffer) is copied first, since transferring would take the whole buffer away from its owner.
      const owned = frames.map((frame) =>
        frame.byteOffset === 0 && frame.byteLength === frame.buffer.byteLength && !(frame instanceof Buffer)
          ? frame
          : new Uint8Array(frame),
      );
      const message: ToWorker = { type: 'run', id, frames: owned, fixedBatch };
      worker.postMessage(
        message,
        owned.map((frame) => frame.buffer as ArrayBuffer),
      );
    });
    this.#running = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  }

  /**
   * Stops the worker. A batch still running is let finish first (for up to `graceMs`): terminating a
   * worker inside ONNX Runtime's native run can abort the whole process.
   */
  async close(graceMs = 10_000): Promise<void> {
    this.#closing = true;
    this.#ready = false;
    const running = this.#running;
    if (running !== undefined) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([running, new Promise((resolve) => (timer = setTimeout(resolve, graceMs)))]);
      clearTimeout(timer);
    }
    await this.#worker?.terminate();
  }
}

/** The sessions of one model, one per device. */
export class SessionPool {
  private constructor(
    readonly slots: readonly SessionSlot[],
    readonly facts: GraphFacts,
  ) {}

  /** Starts one worker per device and resolves once every session is loaded and checked. */
  static async start(
    model: ModelManifest,
    devices: readonly DeviceSpec[],
    onAvailable: () => void,
    options: SessionPoolOptions,
  ): Promise<SessionPool> {
    const slots = devices.map(
      (device) => new SessionSlot(device, model, onAvailable, options.log, options.workerEntry),
    );
    const results = await Promise.allSettled(slots.map((slot) => slot.start()));
    const failure = results.find((result) => result.status === 'rejected');
    if (failure !== undefined) {
      await Promise.all(slots.map((slot) => slot.close()));
      throw failure.reason;
    }
    const first = results[0];
    const facts = first?.status === 'fulfilled' ? first.value : { fixedBatch: undefined };
    return new SessionPool(slots, facts);
  }

  /** The least-loaded idle session, if any. */
  idleSlot(): SessionSlot | undefined {
    let best: SessionSlot | undefined;
    for (const slot of this.slots) if (slot.idle && (best === undefined || slot.load < best.load)) best = slot;
    return best;
  }

  async close(): Promise<void> {
    await Promise.all(this.slots.map((slot) => slot.close()));
  }
}
