/**
 * A stream's options (the `open` message), validated and resolved against the server's defaults.
 * Bad values are INVALID_ARGUMENT naming the field; an unknown model is NOT_FOUND.
 */
import {
  Consistency,
  MapEncoding,
  OverloadPolicy,
  type StreamOptions,
} from '../../../proto/generated/fusionseg/v1/segmentation.pb.js';
import { DEFAULT_FUSION_OPTIONS } from '../../../fusion-wasm/src/index.js';
import { invalidArgument, notFound } from '../errors.js';
import type { StreamFusionOptions, StreamOutputOptions } from '../fusion/finish-protocol.js';
import { DEFAULT_TRACKING, type TrackingParameters } from '../track/tracker.js';

/** A stream's tracking: off, or on with these parameters. */
export type StreamTracking = { readonly enabled: false } | ({ readonly enabled: true } & TrackingParameters);

/** The longest a lost track may be kept, in frames: its last mask is held that long. */
export const MAX_TRACKING_AGE = 600;

export interface StreamSettings {
  readonly fusion: StreamFusionOptions;
  readonly output: StreamOutputOptions;
  readonly tracking: StreamTracking;
  /** When the server cannot keep up: wait (flow control slows the client) or drop the oldest waiting frame. */
  readonly overload: 'wait' | 'drop-oldest';
}

/** Checks a proto3 enum value (which arrives as any integer) against the enum; the message names the field. */
export function knownEnum<E extends number>(enumeration: Record<string, string | number>, value: E, field: string): E {
  if (typeof value !== 'number' || value < 0 || typeof enumeration[value] !== 'string') {
    throw invalidArgument(`${field} has no value ${String(value)}`);
  }
  return value;
}

/**
 * The serving default of fusion's smallest new instance, as a share of the model's input area: fusion's own
 * default (1 pixel, the paper's rule) makes every isolated speck of a thing class an instance, and a
 * short-lived track. Chosen by the sweep in models/README.md (`npm run sweep`): 400 pixels at the default
 * model's 512x256, 0.3% of the frame.
 */
export const MIN_NEW_INSTANCE_AREA_SHARE = 400 / (512 * 256);

/** The server's fusion defaults for a model whose input is `width` x `height`. */
export function defaultFusion({
  width,
  height,
}: {
  readonly width: number;
  readonly height: number;
}): StreamFusionOptions {
  return {
    enabled: true,
    ...DEFAULT_FUSION_OPTIONS,
    minNewInstanceArea: Math.max(1, Math.round(MIN_NEW_INSTANCE_AREA_SHARE * width * height)),
  };
}

function unitInterval(value: number | undefined, field: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isFinite(value) || value < 0 || value > 1) {
    throw invalidArgument(`${field} must be between 0 and 1, got ${value}`);
  }
  return value;
}

function mapEncoding(value: MapEncoding, field: string): MapEncoding {
  knownEnum(MapEncoding, value, field);
  // Unset means run-length: compact and cheap to produce.
  return value === MapEncoding.MAP_ENCODING_UNSPECIFIED ? MapEncoding.MAP_ENCODING_RLE : value;
}

/** Whether a request's `model` names the served model: empty, "default" (the README's name for it) or its name. */
export function isServedModel(requested: string | undefined, modelName: string): boolean {
  return requested === undefined || requested === '' || requested === 'default' || requested === modelName;
}

/** A oneof case as the .proto spells the field (`videoChunk` -> `video_chunk`), for messages to clients. */
export function protoFieldName(tsCase: string | undefined): string {
  return tsCase === undefined ? 'empty' : tsCase.replace(/[A-Z]/g, (letter) => `_${letter.toLowerCase()}`);
}

/**
 * `trackedByDefault`: whether the call's frames are a video (ProcessVideo, encoded-video StreamFrames), so
 * tracking is on unless the client switches it off.
 */
export function resolveStreamSettings(
  options: StreamOptions | undefined,
  model: { readonly name: string; readonly input: { readonly width: number; readonly height: number } },
  trackedByDefault: boolean,
): StreamSettings {
  const modelName = model.name;
  if (!isServedModel(options?.model, modelName)) {
    throw notFound(`no model named "${options?.model ?? ''}" on this server (it serves "${modelName}")`);
  }
  const defaults = defaultFusion(model.input);
  const fusion = options?.fusion;
  knownEnum(Consistency, fusion?.consistency ?? Consistency.CONSISTENCY_UNSPECIFIED, 'options.fusion.consistency');
  const overload = knownEnum(
    OverloadPolicy,
    options?.overload ?? OverloadPolicy.OVERLOAD_POLICY_UNSPECIFIED,
    'options.overload',
  );
  const minArea = fusion?.minNewInstanceArea ?? defaults.minNewInstanceArea;
  if (minArea < 1) throw invalidArgument(`options.fusion.min_new_instance_area must be at least 1, got ${minArea}`);
  const output = options?.output;
  const tracking = options?.tracking;
  const iouThreshold = tracking?.iouThreshold ?? DEFAULT_TRACKING.iouThreshold;
  if (!Number.isFinite(iouThreshold) || iouThreshold <= 0 || iouThreshold > 1) {
    throw invalidArgument(`options.tracking.iou_threshold must be above 0 and at most 1, got ${iouThreshold}`);
  }
  const maxAge = tracking?.maxAge ?? DEFAULT_TRACKING.maxAge;
  if (maxAge > MAX_TRACKING_AGE) {
    throw invalidArgument(`options.tracking.max_age must be at most ${MAX_TRACKING_AGE} frames, got ${maxAge}`);
  }
  return {
    tracking: (tracking?.enabled ?? trackedByDefault) ? { enabled: true, iouThreshold, maxAge } : { enabled: false },
    overload: overload === OverloadPolicy.OVERLOAD_POLICY_DROP_OLDEST ? 'drop-oldest' : 'wait',
    fusion: {
      enabled: !(fusion?.disabled ?? false),
      scoreThreshold: unitInterval(fusion?.scoreThreshold, 'options.fusion.score_threshold', defaults.scoreThreshold),
      maskThreshold: unitInterval(fusion?.maskThreshold, 'options.fusion.mask_threshold', defaults.maskThreshold),
      consistency: fusion?.consistency === Consistency.CONSISTENCY_CLASS ? 'class' : 'category',
      regionGrowing: fusion?.regionGrowing ?? defaults.regionGrowing,
      newInstances: fusion?.newInstances ?? defaults.newInstances,
      minNewInstanceArea: minArea,
    },
    output: {
      semanticMap: mapEncoding(
        output?.semanticMap ?? MapEncoding.MAP_ENCODING_UNSPECIFIED,
        'options.output.semantic_map',
      ),
      instanceMap: mapEncoding(
        output?.instanceMap ?? MapEncoding.MAP_ENCODING_UNSPECIFIED,
        'options.output.instance_map',
      ),
      segments: output?.segments ?? true,
      panopticPng: output?.panopticPng ?? false,
      sourceResolution: output?.sourceResolution ?? false,
      detections: output?.detections ?? false,
    },
  };
}
