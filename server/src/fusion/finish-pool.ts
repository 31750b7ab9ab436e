/**
 * Finishing workers (fusion + encoding), so that no frame's CPU work blocks the event loop or the
 * inference sessions: while a session runs the next batch, these fuse the last one. A worker that dies
 * fails the frames it held (UNAVAILABLE) and is started again.
 */
import type { Worker } from 'node:worker_threads';
import type { LabelSpace } from '../../../fusion-wasm/src/index.js';
import { ServerError, Status } from '../errors.js';
import { createLogger, type Logger } from '../logger.js';
import { startWorker } from '../start-worker.js';
import type {
  EncodeRequest,
  FinishedFrame,
  FinishRequest,
  FromFinisher,
  FusedFrame,
  ToFinisher,
} from './finish-protocol.js';

const workerModule = new URL('./finish-worker', import.meta.url);

interface Pending {
  readonly resolve: (frame: FinishedFrame | FusedFrame) => void;
  readonly reject: (error: unknown) => void;
}

class Finisher {
  #worker: Worker | undefined;
  readonly #pending = new Map<number, Pending>();
  #closing = false;
  restarts = 0;

  get inFlight(): number {
    return this.#pending.size;
  }

  constructor(
    private readonly labelSpace: LabelSpace,
    private readonly log: Logger,
  ) {}

  start(): Promise<void> {
    const worker = startWorker(workerModule, import.meta.url, { workerData: this.labelSpace });
    this.#worker = worker;
    return new Promise((resolve, reject) => {
      let ready = false;
      worker.on('message', (message: FromFinisher) => {
        switch (message.type) {
          case 'ready':
            ready = true;
            resolve();
            return;
          case 'init-error':
            reject(new Error(`could not start a fusion worker: ${message.message}`));
            return;
          case 'finished':
          case 'fused':
          case 'finish-error': {
            const pending = this.#pending.get(message.id);
            this.#pending.delete(message.id);
            if (message.type !== 'finish-error') pending?.resolve(message.result);
            else pending?.reject(new ServerError(Status.INTERNAL, `fusion failed: ${message.message}`));
            return;
          }
        }
      });
      worker.on('error', (error) => {
        if (!ready) reject(error);
      });
      worker.on('exit', (code) => {
        for (const pending of this.#pending.values()) {
          pending.reject(
            new ServerError(Status.UNAVAILABLE, `a fusion worker stopped (exit code ${code}); retry the frame`),
          );
        }
        this.#pending.clear();
        if (ready && !this.#closing) {
          this.restarts++;
          this.log.warn({ restarts: this.restarts }, 'a fusion worker stopped; restarting it');
          this.start().catch((error: unknown) => this.log.error({ err: error }, 'restarting a fusion worker failed'));
        }
      });
    });
  }

  post(request: ToFinisher, transfer: ArrayBuffer[]): Promise<FinishedFrame | FusedFrame> {
    const worker = this.#worker;
    if (worker === undefined) return Promise.reject(new Error('fusion worker not started'));
    return new Promise((resolve, reject) => {
      this.#pending.set(request.id, { resolve, reject });
      worker.postMessage(request, transfer);
    });
  }

  async close(): Promise<void> {
    this.#closing = true;
    await this.#worker?.terminate();
  }
}

export interface FinishPoolOptions {
  /** Where worker restarts are logged (default: a new info-level JSON logger; servers pass theirs). */
  readonly log?: Logger;
}

export class FinishPool {
  #nextId = 0;
  private constructor(private readonly finishers: readonly Finisher[]) {}

  /** `size` workers fusing in `labelSpace` (the model's). */
  static async start(size: number, labelSpace: LabelSpace, options: FinishPoolOptions = {}): Promise<FinishPool> {
    if (!Number.isInteger(size) || size < 1 || size > 64) {
      throw new TypeError(`fusionWorkers must be an integer from 1 to 64, got ${String(size)}`);
    }
    const log = options.log ?? createLogger();
    const finishers = Array.from({ length: size }, () => new Finisher(labelSpace, log));
    await Promise.all(finishers.map((finisher) => finisher.start()));
    return new FinishPool(finishers);
  }

  get size(): number {
    return this.finishers.length;
  }

  /** Fuses and encodes one frame on the least busy worker; the frame's arrays are transferred. */
  async finish(request: Omit<FinishRequest, 'type' | 'id' | 'fuseOnly'>): Promise<FinishedFrame> {
    return (await this.#post(
      { type: 'finish', id: this.#nextId++, fuseOnly: false, ...request },
      request,
    )) as FinishedFrame;
  }

  /** Fuses one frame on the least busy worker and returns its maps unencoded (to be tracked, then encoded). */
  async fuse(request: Omit<FinishRequest, 'type' | 'id' | 'fuseOnly'>): Promise<FusedFrame> {
    return (await this.#post(
      { type: 'finish', id: this.#nextId++, fuseOnly: true, ...request },
      request,
    )) as FusedFrame;
  }

  /** Encodes a fused, tracked frame on the least busy worker; its maps are transferred. */
  async encode(request: Omit<EncodeRequest, 'type' | 'id'>): Promise<FinishedFrame> {
    const { fused, tracks } = request;
    const transfer = [
      ...new Set([fused.semantic.buffer, fused.instance.buffer, tracks.trackOf.buffer, tracks.firstIndexOf.buffer]),
    ];
    return (await this.#leastBusy().post(
      { type: 'encode', id: this.#nextId++, ...request },
      transfer as ArrayBuffer[],
    )) as FinishedFrame;
  }

  #post(request: FinishRequest, { frame }: Pick<FinishRequest, 'frame'>): Promise<FinishedFrame | FusedFrame> {
    const transfer = [
      ...new Set([frame.semantic.buffer as ArrayBuffer, ...frame.detections.map((d) => d.mask.buffer as ArrayBuffer)]),
    ];
    return this.#leastBusy().post(request, transfer);
  }

  #leastBusy(): Finisher {
    let best = this.finishers[0]!;
    for (const finisher of this.finishers) if (finisher.inFlight < best.inFlight) best = finisher;
    return best;
  }

  async close(): Promise<void> {
    await Promise.all(this.finishers.map((finisher) => finisher.close()));
  }
}
