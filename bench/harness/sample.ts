/** What one measurement of the service collects, and how it becomes a row of figures. */
import { FrameResult } from '../../proto/generated/fusionseg/v1/segmentation.pb.js';
import { percentile } from '../../clients/src/summary.js';

export const STAGES = ['decode', 'queue', 'inference', 'fusion', 'encode'] as const;
export type Stage = (typeof STAGES)[number];

export interface LatencyFigures {
  readonly p50: number;
  readonly p90: number;
  readonly p95: number;
  readonly p99: number;
}

/** One measurement: frames answered in a time window, and what their results said about the server's time. */
export class LoadSample {
  frames = 0;
  /** From the first request sent to the last result received. */
  elapsedMs = 0;
  /** Client-observed ms from sending a frame to its result (frames mode). */
  readonly latencies: number[] = [];
  /** ProcessVideo: ms from the call's start to its first result. */
  readonly firstResults: number[] = [];
  readonly stageSums: Record<Stage | 'server', number> = {
    decode: 0,
    queue: 0,
    inference: 0,
    fusion: 0,
    encode: 0,
    server: 0,
  };
  batchSizes = 0;
  sizedResults = 0;
  resultBytes = 0;

  /** All of `samples` as one (rounds of the same measurement point). */
  static merge(samples: readonly LoadSample[]): LoadSample {
    const merged = new LoadSample();
    for (const sample of samples) {
      merged.frames += sample.frames;
      merged.elapsedMs += sample.elapsedMs;
      merged.latencies.push(...sample.latencies);
      merged.firstResults.push(...sample.firstResults);
      for (const key of Object.keys(merged.stageSums) as (keyof LoadSample['stageSums'])[]) {
        merged.stageSums[key] += sample.stageSums[key];
      }
      merged.batchSizes += sample.batchSizes;
      merged.sizedResults += sample.sizedResults;
      merged.resultBytes += sample.resultBytes;
    }
    return merged;
  }

  add(result: FrameResult, latencyMs?: number): void {
    this.frames++;
    if (latencyMs !== undefined) this.latencies.push(latencyMs);
    const t = result.timings;
    if (t !== undefined) {
      this.stageSums.decode += t.decodeUs / 1000;
      this.stageSums.queue += t.queueUs / 1000;
      this.stageSums.inference += t.inferenceUs / 1000;
      this.stageSums.fusion += t.fusionUs / 1000;
      this.stageSums.encode += t.encodeUs / 1000;
      this.stageSums.server += t.totalUs / 1000;
      this.batchSizes += t.batchSize;
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
    const n = Math.max(1, this.frames);
    const means = Object.fromEntries(Object.entries(this.stageSums).map(([k, v]) => [k, v / n])) as Record<
      Stage | 'server',
      number
    >;
    const latency = this.latencies.length ? this.latencies.reduce((a, b) => a + b, 0) / this.latencies.length : null;
    return { ...means, transport: latency === null ? null : Math.max(0, latency - means.server) };
  }

  meanBatchSize(): number {
    return this.batchSizes / Math.max(1, this.frames);
  }

  meanResultBytes(): number {
    return this.resultBytes / Math.max(1, this.sizedResults);
  }
}

export function latencyFigures(values: readonly number[]): LatencyFigures | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return {
    p50: percentile(sorted, 50),
    p90: percentile(sorted, 90),
    p95: percentile(sorted, 95),
    p99: percentile(sorted, 99),
  };
}

export function mean(values: readonly number[]): number {
  return values.length ? values.reduce((a, b) => a + b, 0) / values.length : 0;
}
