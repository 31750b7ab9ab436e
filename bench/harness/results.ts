/** The benchmark's results: the JSON written to bench/results/, and what the Markdown and chart are made of. */
import type { MachineInfo } from './machine.js';
import type { OverloadFigures } from './overload-load.js';
import type { LatencyFigures, Stage } from './sample.js';
import type { TrackingCost } from './tracking-cost.js';

/** Which sweep a service measurement belongs to. */
export type Sweep = 'streams' | 'maxBatch' | 'sessions' | 'fusionOff' | 'trackingOn';

export interface ServiceRun {
  readonly sweep: Sweep;
  readonly mode: 'frames' | 'video';
  readonly streams: number;
  readonly sessions: number;
  readonly devices: string;
  readonly maxBatch: number;
  readonly fusion: boolean;
  /** Frames tracked (frames mode: only the trackingOn sweep; video mode: ProcessVideo's default, on). */
  readonly tracking: boolean;
  /** Median over rounds. */
  readonly fps: number;
  readonly fpsPerRound: readonly number[];
  readonly frames: number;
  /** Client-observed ms per frame (frames mode); null for video. */
  readonly latencyMs: LatencyFigures | null;
  /** Video mode: ms from a call's start to its first result. */
  readonly firstResultMs: LatencyFigures | null;
  /** Mean ms per frame; transport = client latency - server time (frames mode). */
  readonly stagesMs: Record<Stage | 'server', number> & { readonly transport: number | null };
  readonly meanBatchSize: number;
  /** Fusion's share of a frame's end-to-end time (client latency in frames mode, server time for video). */
  readonly fusionShare: number;
  /** fps / the model alone on the same sessions and maxBatch. */
  readonly efficiency: number | null;
}

export interface ModelAlone {
  readonly sessions: number;
  readonly devices: string;
  readonly maxBatch: number;
  readonly fps: number;
  readonly fpsPerRound: readonly number[];
}

export interface BenchResults {
  readonly format: 'fusionseg-bench/1';
  readonly date: string;
  readonly quick: boolean;
  readonly machine: MachineInfo;
  readonly model: {
    readonly name: string;
    readonly width: number;
    readonly height: number;
    /** The largest batch the sessions run (maxBatch capped by a fixed-batch graph); null for a remote server. */
    readonly maxBatch: number | null;
  };
  readonly workload: {
    readonly server: string;
    readonly video: string;
    readonly frameWidth: number;
    readonly frameHeight: number;
    readonly seconds: number;
    readonly rounds: number;
    readonly inFlight: number;
  };
  readonly bounds: {
    readonly modelAlone: readonly ModelAlone[];
    readonly decodeFps: number;
    readonly fusion: {
      readonly wasmMs: number;
      readonly referenceMs: number;
      readonly meanDetections: number;
      readonly width: number;
      readonly height: number;
    } | null;
    /**
     * What a user would write instead of this server (bench/peers/): a Python loop decoding with ffmpeg,
     * running the same weights in PyTorch eager and combining like Panoptic FPN; one frame after another.
     * Null when no Python with torch, torchvision and onnx is found.
     */
    readonly peer: {
      readonly fps: number;
      readonly fpsPerRound: readonly number[];
      readonly latencyMs: { readonly p50: number; readonly p95: number };
      readonly threads: number;
      readonly detectionsPerFrame: number;
      readonly torch: string;
    } | null;
    /** The tracker alone on synthetic moving scenes (bench/harness/tracking-cost.ts). */
    readonly tracking: readonly TrackingCost[];
    readonly transport: readonly {
      readonly streams: number;
      readonly fps: number;
      readonly latencyMs: LatencyFigures | null;
      readonly requestBytes: number;
      readonly responseBytes: number;
    }[];
  };
  readonly runs: readonly ServiceRun[];
  /** Eager streams past the model's capacity (base configuration); null when skipped. */
  readonly overload: (OverloadFigures & { readonly modelAloneFps: number; readonly efficiency: number }) | null;
  readonly summary: {
    /** Service fps / model alone at the largest stream count, base configuration, frames mode. */
    readonly efficiencyAtSaturation: number | null;
    readonly fusionShareAtSaturation: number | null;
    /** 1 - fps(fusion on) / fps(fusion off), same configuration. */
    readonly fusionThroughputLoss: number | null;
    /** 1 - fps(tracking on) / fps(tracking off), same configuration, frames mode at saturation. */
    readonly trackingThroughputLoss: number | null;
    /** Mean ms per frame in the track stage, tracking on at saturation. */
    readonly trackMsAtSaturation: number | null;
    /** Service fps at saturation / the PyTorch peer loop's fps, the same run. */
    readonly peerRatio: number | null;
    /** Spread of the saturated run's frames/s between rounds, relative to its median (0 with one round). */
    readonly noise: number;
    /** Model alone, the most sessions vs one. */
    readonly sessionsScaling: { readonly sessions: number; readonly ratio: number } | null;
    /** The non-inference stage that costs a frame the most time at saturation. */
    readonly largestLoss: { readonly stage: string; readonly ms: number } | null;
  };
}
