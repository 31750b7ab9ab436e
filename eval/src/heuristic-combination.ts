/**
 * The usual way to combine a semantic and an instance head without fusion, as Panoptic FPN (Detectron2's
 * combine_semantic_and_instance_outputs) does: detections by descending score above a threshold, each taking
 * its pixels not already taken unless too much of it is taken already; then stuff classes of the semantic
 * map on the pixels left, if their area is large enough. Thing pixels no detection covers stay void. The
 * "before fusion" panoptic output the evaluation compares fusion with.
 */
import type { PanopticPrediction } from './metrics/panoptic-quality.js';

export interface HeuristicOptions {
  /** Detections below this score are dropped (Detectron2: 0.5). */
  readonly scoreThreshold: number;
  /** A detection whose mask is already taken more than this fraction is dropped (Detectron2: 0.5). */
  readonly overlapThreshold: number;
  /** Smallest stuff region kept, in pixels (Detectron2: 4096 on 1024x2048 Cityscapes images). */
  readonly stuffAreaLimit: number;
}

export const DEFAULT_HEURISTIC = {
  scoreThreshold: 0.5,
  overlapThreshold: 0.5,
  stuffAreaFraction: 4096 / (1024 * 2048),
};

export interface ScoredMask {
  readonly classId: number;
  readonly score: number;
  readonly pixels: ArrayLike<number>;
}

export function combineHeuristically(
  semantic: Uint8Array,
  instances: readonly ScoredMask[],
  isThing: Uint8Array,
  options: HeuristicOptions,
): PanopticPrediction {
  const segmentIds = new Uint32Array(semantic.length);
  const classOf = new Map<number, number>();
  let next = 1;
  const ranked = instances.filter((i) => i.score >= options.scoreThreshold).sort((a, b) => b.score - a.score);
  for (const instance of ranked) {
    const { pixels } = instance;
    if (pixels.length === 0) continue;
    let taken = 0;
    for (let i = 0; i < pixels.length; i++) if (segmentIds[pixels[i]!] !== 0) taken++;
    if (taken / pixels.length > options.overlapThreshold) continue;
    const id = next++;
    for (let i = 0; i < pixels.length; i++) if (segmentIds[pixels[i]!] === 0) segmentIds[pixels[i]!] = id;
    classOf.set(id, instance.classId);
  }
  const stuffArea = new Map<number, number>();
  for (let p = 0; p < semantic.length; p++) {
    const c = semantic[p]!;
    if (segmentIds[p] === 0 && c !== 255 && isThing[c] === 0) stuffArea.set(c, (stuffArea.get(c) ?? 0) + 1);
  }
  const stuffId = new Map<number, number>();
  for (const [c, area] of stuffArea) {
    if (area < options.stuffAreaLimit) continue;
    const id = next++;
    stuffId.set(c, id);
    classOf.set(id, c);
  }
  for (let p = 0; p < semantic.length; p++) {
    if (segmentIds[p] !== 0) continue;
    const id = stuffId.get(semantic[p]!);
    if (id !== undefined) segmentIds[p] = id;
  }
  return { segmentIds, classOf };
}
