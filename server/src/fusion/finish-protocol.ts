/**
 * Messages between the engine's main thread and a finishing worker (fusion + encoding). An untracked frame
 * is fused and encoded in one request. A tracked frame takes two: `finish` with `fuseOnly` returns the fused
 * maps, the stream's tracker numbers its instances on the main thread (in frame order), and `encode` encodes
 * them with their track ids: decode -> batch -> infer -> fuse -> track -> encode.
 */
import type { ResolvedFusionOptions, Segment } from '../../../fusion-wasm/src/types.js';
import type { FrameOutputs } from '../engine/postprocess.js';
import type { MapEncoding } from '../../../proto/generated/fusionseg/v1/segmentation.pb.js';

/** Fusion settings of a stream, resolved against the defaults; `enabled: false` skips fusion. */
export type StreamFusionOptions = ResolvedFusionOptions & { readonly enabled: boolean };

/** What a stream wants back for each frame. */
export interface StreamOutputOptions {
  readonly semanticMap: MapEncoding;
  readonly instanceMap: MapEncoding;
  readonly segments: boolean;
  readonly panopticPng: boolean;
  readonly sourceResolution: boolean;
  /** The instance head's detections before fusion. */
  readonly detections: boolean;
}

export interface FinishRequest {
  readonly type: 'finish';
  readonly id: number;
  readonly frame: FrameOutputs;
  readonly fusion: StreamFusionOptions;
  readonly output: StreamOutputOptions;
  readonly sourceWidth: number;
  readonly sourceHeight: number;
  /** Return the fused maps (a `fused` reply) instead of encoding them: the frame is tracked first. */
  readonly fuseOnly: boolean;
}

/** A frame fused but not encoded: the maps at the model's input size, with per-frame instance ids. */
export interface FusedFrame {
  readonly width: number;
  readonly height: number;
  readonly semantic: Uint8Array;
  readonly instance: Uint16Array;
  readonly segments: readonly Segment[];
  readonly droppedComponents: number;
  readonly fusionUs: number;
}

/** What tracking gave a frame's instances, by per-frame instance id. */
export interface FrameTracks {
  /** trackOf[id]: the track id of instance `id` (0 for none). */
  readonly trackOf: Uint32Array;
  /** firstIndexOf[id]: the index of the first frame of instance `id`'s track. */
  readonly firstIndexOf: Float64Array;
}

export interface EncodeRequest {
  readonly type: 'encode';
  readonly id: number;
  readonly fused: FusedFrame;
  readonly tracks: FrameTracks;
  readonly output: StreamOutputOptions;
  readonly sourceWidth: number;
  readonly sourceHeight: number;
}

export type ToFinisher = FinishRequest | EncodeRequest;

/** A segment as fusion reports it; with tracking, `id` is its track id. */
export type FinishedSegment = Segment & {
  /** With tracking: the track id (= id) and the index of the track's first frame. */
  readonly track?: { readonly id: number; readonly firstIndex: number };
};

export interface FinishedMap {
  readonly encoding: MapEncoding;
  readonly width: number;
  readonly height: number;
  readonly bytesPerPixel: number;
  readonly data: Uint8Array;
}

export interface FinishedFrame {
  readonly width: number;
  readonly height: number;
  readonly semantic: FinishedMap | undefined;
  readonly instance: FinishedMap | undefined;
  readonly segments: readonly FinishedSegment[];
  readonly panopticPng: Uint8Array | undefined;
  readonly droppedComponents: number;
  readonly fusionUs: number;
  readonly encodeUs: number;
}

export type FromFinisher =
  | { readonly type: 'ready' }
  | { readonly type: 'init-error'; readonly message: string }
  | { readonly type: 'finished'; readonly id: number; readonly result: FinishedFrame }
  | { readonly type: 'fused'; readonly id: number; readonly result: FusedFrame }
  | { readonly type: 'finish-error'; readonly id: number; readonly message: string };
