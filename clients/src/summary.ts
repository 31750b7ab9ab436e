import type { FrameResult } from '../../proto/generated/fusionseg/v1/segmentation.pb.js';
import { STAGES, stageMs, zeroStages, type Stage } from '../../wire/src/stages.js';

// The stage names are shared with the server (its metrics): wire/src/stages.ts.
export { STAGES, stageMs, zeroStages, type Stage } from '../../wire/src/stages.js';

export interface LatencyPercentiles {
  readonly p50: number;
  readonly p90: number;
  readonly p95: number;
  readonly p99: number;
}

/** What a run measured: frames, throughput, latency percentiles, and where a frame's time went. */
export interface RunSummary {
  readonly frames: number;
  readonly seconds: number;
  readonly fps: number;
  /** Client-observed latency from sending a frame (or its first byte) to its result, ms. */
  readonly latencyMs: LatencyPercentiles;
  /** Mean server-side stage times per frame, ms. */
  readonly stagesMs: Readonly<Record<Stage, number>>;
  /** Fusion's share of the server-side time of a frame. */
  readonly fusionShare: number;
  /** What tracking found, when any result was tracked. */
  readonly tracks?: TrackSummaryCounts;
}

/** The tracks of a run's tracked results. */
export interface TrackSummaryCounts {
  /** Distinct track ids in the results' segments. */
  readonly seen: number;
  /** Tracks the results reported born (`tracksBorn`) and ended (`tracksEnded`). */
  readonly born: number;
  readonly ended: number;
  /** Mean number of frames a track was seen in (frames whose segments carry its id). */
  readonly meanFrames: number;
}

/** The middle value (the mean of the two middle ones for an even count). */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

/** p50, p90, p95 and p99 of `values` (any order); 0 for none. */
export function latencyPercentiles(values: readonly number[]): LatencyPercentiles {
  const sorted = [...values].sort((a, b) => a - b);
  return {
    p50: percentile(sorted, 50),
    p90: percentile(sorted, 90),
    p95: percentile(sorted, 95),
    p99: percentile(sorted, 99),
  };
}

export class SummaryBuilder {
  readonly #started = performance.now();
  readonly #latencies: number[] = [];
  readonly #sums: Record<Stage, number> = zeroStages();
  #frames = 0;
  /** Frames seen per track id, over the tracked results. */
  readonly #trackFrames = new Map<number, number>();
  #tracked = false;
  #born = 0;
  #ended = 0;

  add(result: FrameResult, latencyMs: number | undefined): void {
    this.#frames++;
    if (latencyMs !== undefined) this.#latencies.push(latencyMs);
    if (result.tracked) {
      this.#tracked = true;
      this.#born += result.tracksBorn.length;
      this.#ended += result.tracksEnded.length;
      for (const segment of result.segments) {
        const id = segment.trackId || segment.id;
        this.#trackFrames.set(id, (this.#trackFrames.get(id) ?? 0) + 1);
      }
    }
    if (result.timings === undefined) return;
    const ms = stageMs(result.timings);
    for (const stage of STAGES) this.#sums[stage] += ms[stage];
  }

  build(): RunSummary {
    const seconds = (performance.now() - this.#started) / 1000;
    const n = Math.max(1, this.#frames);
    return {
      frames: this.#frames,
      seconds,
      fps: seconds > 0 ? this.#frames / seconds : 0,
      latencyMs: latencyPercentiles(this.#latencies),
      stagesMs: Object.fromEntries(STAGES.map((stage) => [stage, this.#sums[stage] / n])) as Record<Stage, number>,
      fusionShare: this.#sums.total > 0 ? this.#sums.fusion / this.#sums.total : 0,
      ...(this.#tracked ? { tracks: this.#trackCounts() } : {}),
    };
  }

  #trackCounts(): TrackSummaryCounts {
    let frames = 0;
    for (const count of this.#trackFrames.values()) frames += count;
    const seen = this.#trackFrames.size;
    return { seen, born: this.#born, ended: this.#ended, meanFrames: seen > 0 ? frames / seen : 0 };
  }
}

export function formatSummary(summary: RunSummary): string {
  const s = summary.stagesMs;
  const l = summary.latencyMs;
  const t = summary.tracks;
  return [
    `frames      ${summary.frames} in ${summary.seconds.toFixed(2)} s (${summary.fps.toFixed(1)} fps)`,
    `latency     p50 ${l.p50.toFixed(1)} ms  p90 ${l.p90.toFixed(1)} ms  p95 ${l.p95.toFixed(1)} ms  p99 ${l.p99.toFixed(1)} ms`,
    `per frame   decode ${s.decode.toFixed(2)}  queue ${s.queue.toFixed(2)}  inference ${s.inference.toFixed(2)}  ` +
      `fusion ${s.fusion.toFixed(2)}  ${t === undefined ? '' : `track ${s.track.toFixed(2)}  `}` +
      `encode ${s.encode.toFixed(2)}  server total ${s.total.toFixed(2)} ms`,
    `fusion      ${(summary.fusionShare * 100).toFixed(2)}% of the server-side time of a frame`,
    ...(t === undefined
      ? []
      : [
          `tracks      ${t.seen} seen, ${t.born} born, ${t.ended} ended, ${t.meanFrames.toFixed(1)} frames each on average`,
        ]),
  ].join('\n');
}
