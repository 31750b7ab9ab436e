/** The benchmark's results: the JSON written to bench/results/, and what the Markdown and chart are made of. */
import type { MachineInfo } from './machine.js';
import type { OverloadFigures } from './overload-load.js';
import type { LatencyFigures, Stage } from './sample.js';
import type { TrackingCost } from './tracking-cost.js';

/** Which sweep a service measurement belongs to. */
export type Sweep = 'streams' | 'maxBatch' | 'sessions' | 'fusionOff' | 'trackingOn' | 'replicas';

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

/** One replica of the replicas run: what its own metrics counted. */
export interface ReplicaShare {
  /** Its address (127.0.0.1:port), as the balancing client was given it. */
  readonly address: string;
  /** Streams it served (`fusionseg_streams_total`), over all rounds. */
  readonly streams: number;
  /** Frames it answered (`fusionseg_frames_segmented_total`), over all rounds, ramp-up included. */
  readonly frames: number;
  /** Its frames answered in the rounds' steady windows / their length (see ReplicaFigures.windowSeconds). */
  readonly fps: number;
  /** Its part of all the replicas' frames. */
  readonly share: number;
}

/**
 * N replicas on this machine behind one round_robin client (`--replicas N`), StreamFrames at the largest
 * stream count. On a machine whose replicas share its cores this shows how the client spreads streams, not a
 * speed-up: N replicas split the cores one service would have.
 */
export interface ReplicaFigures {
  readonly replicas: number;
  /** Each replica's devices (one session), and their maxBatch. */
  readonly devices: string;
  readonly maxBatch: number;
  /** Concurrent streams of each round, across all replicas. */
  readonly streams: number;
  readonly rounds: number;
  /** Wall time of all rounds, s. */
  readonly wallSeconds: number;
  /**
   * The rounds' steady windows, s, added up: from the client's measured window opening to the end of sending
   * (timed rounds; a round measured by frames counts whole). The per-replica and total frames/s are over it.
   */
  readonly windowSeconds: number;
  readonly perReplica: readonly ReplicaShare[];
  /** Sums over the replicas. */
  readonly total: { readonly streams: number; readonly frames: number; readonly fps: number };
  /** Results the client received over all rounds, ramp-up included: equal to total.frames when nothing is lost. */
  readonly clientAnswered: number;
  /** The client's steady-state frames/s, median of rounds (the `replicas` run of `runs`). */
  readonly clientFps: number;
  /** The one-service run at the same streams (base configuration, `streams` sweep), when measured. */
  readonly oneServiceFps: number | null;
  /** Most streams on one replica minus fewest. */
  readonly streamSpread: number;
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
  /** `--replicas N`: N local replicas through one balancing client; null without it. */
  readonly replicas: ReplicaFigures | null;
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
