/** What one measurement of the service collects, and how it becomes a row of figures. */
import { FrameResult } from '../../proto/generated/fusionseg/v1/segmentation.pb.js';
import {
  latencyPercentiles,
  stageMs,
  STAGES,
  zeroStages,
  type LatencyPercentiles,
  type Stage as TimedStage,
} from '../../clients/src/summary.js';

/** The stages a report lists on their own; the server's total is reported as `server`. */
export type Stage = Exclude<TimedStage, 'total'>;
export type LatencyFigures = LatencyPercentiles;

/** One measurement: frames answered in a time window, and what their results said about the server's time. */
export class LoadSample {
  /** Results counted in the measured window. */
  frames = 0;
  /** Every result received, the ramp-up included (what the servers' counters see). */
  answered = 0;
  /** From the first request sent to the last result received. */
  elapsedMs = 0;
  /** Client-observed ms from sending a frame to its result (frames mode). */
  readonly latencies: number[] = [];
  /** ProcessVideo: ms from the call's start to its first result. */
  readonly firstResults: number[] = [];
  readonly stageSums: Record<TimedStage, number> = zeroStages();
  batchSizes = 0;
  sizedResults = 0;
  resultBytes = 0;

  /** All of `samples` as one (rounds of the same measurement point). */
  static merge(samples: readonly LoadSample[]): LoadSample {
    const merged = new LoadSample();
    for (const sample of samples) {
      merged.frames += sample.frames;
      merged.answered += sample.answered;
      merged.elapsedMs += sample.elapsedMs;
      merged.latencies.push(...sample.latencies);
      merged.firstResults.push(...sample.firstResults);
      for (const stage of STAGES) merged.stageSums[stage] += sample.stageSums[stage];
      merged.batchSizes += sample.batchSizes;
      merged.sizedResults += sample.sizedResults;
      merged.resultBytes += sample.resultBytes;
    }
    return merged;
  }

  add(result: FrameResult, latencyMs?: number): void {
    this.frames++;
    if (latencyMs !== undefined) this.latencies.push(latencyMs);
    if (result.timings !== undefined) {
      const ms = stageMs(result.timings);
      for (const stage of STAGES) this.stageSums[stage] += ms[stage];
      this.batchSizes += result.timings.batchSize;
    }
    // Result sizes (for the transport bound) from a few results: encoding each one would cost the client.
    if (this.sizedResults < 8) {
      this.sizedResults++;
      this.resultBytes += FrameResult.encode(result).finish().length;
    }
  }

  get fps(): number {
    return this.elapsedMs > 0 ? (this.frames * 1000) / this.elapsedMs : 0;
  }

  /** Mean ms per frame of each server stage, the server's total, and transport (client latency - server). */
  stagesMs(): Record<Stage | 'server', number> & { transport: number | null } {
    const mean = (stage: TimedStage) => this.stageSums[stage] / Math.max(1, this.frames);
    const server = mean('total');
    const latency = this.latencies.length ? this.latencies.reduce((a, b) => a + b, 0) / this.latencies.length : null;
    return {
      decode: mean('decode'),
      queue: mean('queue'),
      inference: mean('inference'),
      fusion: mean('fusion'),
      track: mean('track'),
      encode: mean('encode'),
      server,
      transport: latency === null ? null : Math.max(0, latency - server),
    };
  }

  meanBatchSize(): number {
    return this.batchSizes / Math.max(1, this.frames);
  }

  meanResultBytes(): number {
    return this.resultBytes / Math.max(1, this.sizedResults);
  }
}

/** Latency percentiles, or null without any (ProcessVideo has no per-frame send time). */
export function latencyFigures(values: readonly number[]): LatencyFigures | null {
  return values.length === 0 ? null : latencyPercentiles(values);
}

/**
 * A measurement's extent: a time (`seconds`) or a number of frames (`frames`), of which the first third is
 * the ramp-up and not counted. Results report to `counts()` as they arrive.
 */
export class MeasurementWindow {
  readonly started = performance.now();
  readonly byFrames: boolean;
  /** Timed: when sending stops. */
  readonly deadline: number;
  #measureFrom: number;
  readonly #warmUpFrames: number;
  #received = 0;
  #lastCounted: number;

  constructor(load: { readonly seconds: number; readonly frames?: number | undefined }) {
    this.byFrames = load.frames !== undefined;
    this.deadline = this.byFrames ? Infinity : this.started + load.seconds * 1000;
    this.#measureFrom = this.byFrames ? Infinity : this.started + (load.seconds * 1000) / 3;
    this.#warmUpFrames = this.byFrames ? Math.floor(load.frames! / 3) : 0;
    this.#lastCounted = this.started;
  }

  /** Takes a result that arrived at `now`; true when it falls in the measured part. */
  counts(now: number): boolean {
    if (this.byFrames && ++this.#received === this.#warmUpFrames) this.#measureFrom = now;
    const counted = now >= this.#measureFrom && (!this.byFrames || this.#received > this.#warmUpFrames);
    if (counted) this.#lastCounted = now;
    return counted;
  }

  /** The measured part's length, up to `end` (default: the last counted result). */
  elapsedMs(end = this.#lastCounted): number {
    return Math.max(0, end - (Number.isFinite(this.#measureFrom) ? this.#measureFrom : this.started));
  }
}
