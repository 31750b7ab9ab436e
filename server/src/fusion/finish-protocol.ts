/** Messages between the engine's main thread and a finishing worker (fusion + encoding). */
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
}

/** A segment as fusion reports it. */
export type FinishedSegment = Segment;

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
  | { readonly type: 'finish-error'; readonly id: number; readonly message: string };
