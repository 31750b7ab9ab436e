/**
 * The inference engine: a model's sessions (one per device, each in a worker thread) behind one dynamic
 * batcher shared by every stream.
 */
import { availableParallelism } from 'node:os';
import { createLogger, type Logger } from '../logger.js';
import {
  Batcher,
  batchingOptions,
  type BatchingOptions,
  type BatchListener,
  type FrameInference,
  type LaneKey,
} from './batcher.js';
import { defaultDeviceList, parseDevices, type DeviceSpec } from './devices.js';
import { loadManifest, type ModelManifest } from './model.js';
import { SessionPool, type SessionStats } from './session-pool.js';
import { assertDevicesAvailable, cudaProviderInstalled } from './session-options.js';

export interface EngineOptions {
  /** A model folder (models/README.md). */
  readonly modelDir: string;
  /** A device list such as "cpu,cpu" or "cuda:0,cuda:1"; the default depends on the host. */
  readonly devices?: string;
  readonly batching?: Partial<BatchingOptions>;
  /** Overrides the CUDA provider check (tests of hosts with and without it). */
  readonly cudaAvailable?: boolean;
  /** Where session restarts are logged (default: a new info-level JSON logger; servers pass theirs). */
  readonly log?: Logger;
  /**
   * The entry module of the session worker threads (default: the real one, `SESSION_WORKER_ENTRY`). It must
   * speak worker-protocol.ts; tests give a wrapper of the real worker that injects faults.
   */
  readonly sessionWorkerEntry?: URL;
}

export class Engine {
  private constructor(
    readonly model: ModelManifest,
    readonly devices: readonly DeviceSpec[],
    readonly batching: BatchingOptions,
    private readonly pool: SessionPool,
    private readonly batcher: Batcher,
  ) {}

  /** Loads the model on every device, checks the graph against the contract, and starts the batcher. */
  static async start(options: EngineOptions): Promise<Engine> {
    const batching = batchingOptions(options.batching);
    const cudaAvailable = options.cudaAvailable ?? cudaProviderInstalled();
    const environment = { cpuCount: availableParallelism(), cudaAvailable };
    const devices = parseDevices(options.devices ?? defaultDeviceList(environment), environment);
    assertDevicesAvailable(devices, cudaAvailable);
    const model = await loadManifest(options.modelDir);
    // Sessions report when they free up; the batcher they report to exists only once they are loaded.
    const ready: { batcher?: Batcher } = {};
    const pool = await SessionPool.start(model, devices, () => ready.batcher?.schedule(), {
      log: options.log ?? createLogger(),
      workerEntry: options.sessionWorkerEntry,
    });
    const batcher = (ready.batcher = new Batcher(pool, batching));
    return new Engine(model, devices, batching, pool, batcher);
  }

  /** Runs one RGB24 frame (model input size; its buffer is transferred) through a batch. */
  infer(frame: Uint8Array, signal?: AbortSignal, lane?: LaneKey): Promise<FrameInference> {
    const { width, height } = this.model.input;
    if (frame.length !== width * height * 3) {
      return Promise.reject(
        new TypeError(
          `a frame for this model must be ${width}x${height} RGB24 (${width * height * 3} bytes), got ${frame.length}`,
        ),
      );
    }
    return this.batcher.submit(frame, { signal, lane });
  }

  /** Drops the oldest frame of `lane` still waiting for a session (it rejects with FrameDropped); false if none. */
  dropOldest(lane: LaneKey): boolean {
    return this.batcher.dropOldest(lane);
  }

  /** The largest batch a session runs: `batching.maxBatch`, capped by a graph with a fixed batch size. */
  get maxBatch(): number {
    return this.batcher.maxBatch;
  }

  /** Calls `listener` with the size, session index and device of every batch sent to a session. */
  onBatch(listener: BatchListener): void {
    this.batcher.onBatch(listener);
  }

  /** Frames waiting for a session. */
  get queued(): number {
    return this.batcher.queued;
  }

  get sessionStats(): SessionStats[] {
    return this.pool.slots.map((slot) => slot.stats);
  }

  async close(): Promise<void> {
    this.batcher.close();
    await this.pool.close();
  }
}
