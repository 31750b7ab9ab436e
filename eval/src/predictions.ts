/**
 * What the service returned for one image, turned into what the metrics take: a semantic map, scored
 * instance masks and a panoptic segmentation, all at the ground truth's resolution.
 *
 * Before fusion: the semantic head's map; the detector's own masks (every detection, pasted with the
 * fusion's rule and thresholded); the heuristic combination of both (heuristic-combination.ts).
 * After fusion: the fused maps; each fused instance scored with its detection's score, and new instances
 * (components fusion found without a detection) with `newInstanceScore`.
 */
import { pasteMask } from '../../fusion-wasm/src/index.js';
import { SegmentSource, type Detection, type FrameResult } from '../../proto/generated/fusionseg/v1/segmentation.pb.js';
import { resizeLabels } from '../../server/src/encode/resize-labels.js';
import { combineHeuristically, type HeuristicOptions } from './heuristic-combination.js';
import type { EvalLabels } from './labels.js';
import type { PredictedInstance } from './metrics/instance-ap.js';
import type { PanopticPrediction } from './metrics/panoptic-quality.js';

export interface ImagePrediction {
  readonly width: number;
  readonly height: number;
  readonly semantic: Uint8Array;
  readonly instances: readonly PredictedInstance[];
  readonly panoptic: PanopticPrediction;
}

/** Pixel indices of each id of `ids` (1..maxId), by counting sort: one pass to count, one to place. */
export function pixelsById(ids: Uint16Array | Uint32Array, maxId: number): Int32Array[] {
  const counts = new Int32Array(maxId + 1);
  for (let p = 0; p < ids.length; p++) counts[ids[p]!]!++;
  const lists = Array.from({ length: maxId + 1 }, (_, id) => new Int32Array(id === 0 ? 0 : counts[id]!));
  const filled = new Int32Array(maxId + 1);
  for (let p = 0; p < ids.length; p++) {
    const id = ids[p]!;
    if (id !== 0) lists[id]![filled[id]!++] = p;
  }
  return lists;
}

function maskPixels(detection: Detection, result: FrameResult, threshold: number): Int32Array {
  const { modelWidth, modelHeight, width, height } = result;
  const probabilities = new Float32Array(
    detection.mask.buffer.slice(detection.mask.byteOffset, detection.mask.byteOffset + detection.mask.byteLength),
  );
  const bitmap = new Uint8Array(modelWidth * modelHeight);
  pasteMask(
    {
      box: [detection.x1, detection.y1, detection.x2, detection.y2],
      mask: probabilities,
      maskSize: detection.maskSize,
    },
    modelWidth,
    modelHeight,
    threshold,
    (p) => (bitmap[p] = 1),
  );
  // At the ground truth's size, by the same nearest-neighbour rule as the service's maps.
  const scaled = resizeLabels(bitmap, modelWidth, modelHeight, width, height);
  let count = 0;
  for (let p = 0; p < scaled.length; p++) count += scaled[p]!;
  const pixels = new Int32Array(count);
  for (let p = 0, i = 0; p < scaled.length; p++) if (scaled[p] === 1) pixels[i++] = p;
  return pixels;
}

export function beforeFusion(
  result: FrameResult,
  semantic: Uint8Array,
  labels: EvalLabels,
  maskThreshold: number,
  heuristic: HeuristicOptions,
): ImagePrediction {
  const instances = result.detections
    .filter((detection) => labels.isThing[detection.classId] === 1)
    .map((detection) => ({
      classId: detection.classId,
      score: detection.score,
      pixels: maskPixels(detection, result, maskThreshold),
    }));
  return {
    width: result.width,
    height: result.height,
    semantic,
    instances,
    panoptic: combineHeuristically(semantic, instances, labels.isThing, heuristic),
  };
}

/** Segment ids of stuff in the fused panoptic output: above every instance id (16 bits). */
const STUFF_SEGMENT_BASE = 65536;

export function afterFusion(
  result: FrameResult,
  semantic: Uint8Array,
  instance: Uint16Array | Uint32Array,
  labels: EvalLabels,
  newInstanceScore: number,
): ImagePrediction {
  const maxId = result.segments.reduce((max, segment) => Math.max(max, segment.id), 0);
  const pixels = pixelsById(instance, maxId);
  const instances: PredictedInstance[] = result.segments
    .filter((segment) => labels.isThing[segment.classId] === 1)
    .map((segment) => ({
      classId: segment.classId,
      score: segment.source === SegmentSource.SEGMENT_SOURCE_NEW ? newInstanceScore : segment.score,
      pixels: pixels[segment.id]!,
    }));
  const segmentIds = new Uint32Array(semantic.length);
  const classOf = new Map<number, number>();
  for (const segment of result.segments) classOf.set(segment.id, segment.classId);
  for (let p = 0; p < semantic.length; p++) {
    const c = semantic[p]!;
    if (c === 255) continue;
    if (labels.isThing[c] === 1) {
      segmentIds[p] = instance[p]!; // 0 (void) where fusion left a thing pixel without an instance
    } else {
      segmentIds[p] = STUFF_SEGMENT_BASE + c;
      classOf.set(STUFF_SEGMENT_BASE + c, c);
    }
  }
  return { width: result.width, height: result.height, semantic, instances, panoptic: { segmentIds, classOf } };
}
