/**
 * A stream's options (the `open` message), validated and resolved against the server's defaults.
 * Bad values are INVALID_ARGUMENT naming the field; an unknown model is NOT_FOUND.
 */
import { Consistency, MapEncoding, type StreamOptions } from '../../../proto/generated/fusionseg/v1/segmentation.pb.js';
import { DEFAULT_FUSION_OPTIONS } from '../../../fusion-wasm/src/index.js';
import { invalidArgument, notFound } from '../errors.js';
import type { StreamFusionOptions, StreamOutputOptions } from '../fusion/finish-protocol.js';

export interface StreamSettings {
  readonly fusion: StreamFusionOptions;
  readonly output: StreamOutputOptions;
}

export const DEFAULT_FUSION: StreamFusionOptions = { enabled: true, ...DEFAULT_FUSION_OPTIONS };

function unitInterval(value: number | undefined, field: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isFinite(value) || value < 0 || value > 1) {
    throw invalidArgument(`${field} must be between 0 and 1, got ${value}`);
  }
  return value;
}

function mapEncoding(value: MapEncoding, field: string): MapEncoding {
  if (value === MapEncoding.UNRECOGNIZED || !(value in MapEncoding)) {
    throw invalidArgument(`${field} is not a known MapEncoding (${String(value)})`);
  }
  // Unset means run-length: compact and cheap to produce.
  return value === MapEncoding.MAP_ENCODING_UNSPECIFIED ? MapEncoding.MAP_ENCODING_RLE : value;
}

export function resolveStreamSettings(options: StreamOptions | undefined, modelName: string): StreamSettings {
  if (options?.model !== undefined && options.model !== '' && options.model !== modelName) {
    throw notFound(`no model named "${options.model}" on this server (it serves "${modelName}")`);
  }
  const fusion = options?.fusion;
  if (fusion?.consistency === Consistency.UNRECOGNIZED) throw invalidArgument('options.fusion.consistency is unknown');
  const minArea = fusion?.minNewInstanceArea ?? DEFAULT_FUSION.minNewInstanceArea;
  if (minArea < 1) throw invalidArgument(`options.fusion.min_new_instance_area must be at least 1, got ${minArea}`);
  const output = options?.output;
  return {
    fusion: {
      enabled: !(fusion?.disabled ?? false),
      scoreThreshold: unitInterval(
        fusion?.scoreThreshold,
        'options.fusion.score_threshold',
        DEFAULT_FUSION.scoreThreshold,
      ),
      maskThreshold: unitInterval(fusion?.maskThreshold, 'options.fusion.mask_threshold', DEFAULT_FUSION.maskThreshold),
      consistency: fusion?.consistency === Consistency.CONSISTENCY_CLASS ? 'class' : 'category',
      regionGrowing: fusion?.regionGrowing ?? DEFAULT_FUSION.regionGrowing,
      newInstances: fusion?.newInstances ?? DEFAULT_FUSION.newInstances,
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
