/** A detection from the instance head, in the semantic label space, before its mask is pasted. */
export interface Detection {
  /** Semantic class id (a thing class; detections of other classes are ignored). */
  readonly classId: number;
  readonly score: number;
  /** x1, y1, x2, y2 in pixels (float). A pixel belongs to the box when its centre lies in [x1, x2) x [y1, y2). */
  readonly box: readonly [number, number, number, number];
  /** maskSize * maskSize probabilities, row-major, covering the box. */
  readonly mask: Float32Array;
  readonly maskSize: number;
}

/** One frame's network outputs. */
export interface FusionInput {
  readonly width: number;
  readonly height: number;
  /** Semantic class id per pixel, row-major (255 = void). */
  readonly semantic: Uint8Array;
  readonly detections: readonly Detection[];
}

export interface FusionOptions {
  /** Detections scoring below this are ignored. Default 0.5. */
  readonly scoreThreshold?: number;
  /** A pasted mask covers a pixel when its bilinear sample is at least this. Default 0.5. */
  readonly maskThreshold?: number;
  /** Pixel-to-pixel matching keeps a mask pixel whose semantic category ('category') or class ('class') matches. */
  readonly consistency?: 'category' | 'class';
  /** Grow instances over unlabelled foreground pixels of their category. Default true. */
  readonly regionGrowing?: boolean;
  /** Give still-unlabelled foreground components new instances. Default true. */
  readonly newInstances?: boolean;
  /** Smallest component that becomes a new instance, in pixels. Default 1. */
  readonly minNewInstanceArea?: number;
}

export type ResolvedFusionOptions = Required<FusionOptions>;

export interface Segment {
  /** The instance id in `instance`. */
  readonly id: number;
  readonly classId: number;
  /** The detection's score; 0 for new instances. */
  readonly score: number;
  /** Pixels with this id. */
  readonly area: number;
  /** Inclusive pixel bounds: x0, y0, x1, y1. */
  readonly box: readonly [number, number, number, number];
  readonly source: 'detected' | 'new';
  /** Pixels gained by region growing. */
  readonly grownArea: number;
}

export interface FusionResult {
  readonly width: number;
  readonly height: number;
  /** Fused class per pixel. */
  readonly semantic: Uint8Array;
  /** Instance id per pixel; 0 = none. */
  readonly instance: Uint16Array;
  /** The instances with at least one pixel, by id. */
  readonly segments: Segment[];
  /** Foreground components left unlabelled because the 16-bit ids ran out. */
  readonly droppedComponents: number;
}

/** Milliseconds spent in each phase of the last frame (WASM fusion). */
export interface PhaseTimings {
  readonly prepare: number;
  readonly paste: number;
  readonly grow: number;
  /** New instances, fused classes and segment statistics, in one pass. */
  readonly finish: number;
  /** Copying the outputs out of linear memory. */
  readonly output: number;
}

export interface Fusion {
  /**
   * Fuses one frame. Synchronous. The returned maps belong to the caller, except with `outputs: 'view'`
   * (createFusion): they are then read-only views into the module's memory, valid until the next `fuse`
   * call (which clears only the instance map's labelled spans it left there).
   */
  fuse(input: FusionInput, options?: FusionOptions): FusionResult;
  /** Phase timings of the last `fuse` call. */
  readonly lastTimings: PhaseTimings | undefined;
}

export const DEFAULT_FUSION_OPTIONS: ResolvedFusionOptions = {
  scoreThreshold: 0.5,
  maskThreshold: 0.5,
  consistency: 'category',
  regionGrowing: true,
  newInstances: true,
  minNewInstanceArea: 1,
};

/** Largest instance id (ids are 16-bit). */
export const MAX_INSTANCE_ID = 65535;
