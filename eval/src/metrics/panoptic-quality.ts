/**
 * Panoptic quality as the COCO panoptic API (pq_compute) defines it, on Cityscapes ground truth:
 * - ground truth segments: one per instance id of a thing class, one per stuff class; thing regions with a
 *   bare label id are crowd regions ("group"); void labels are void;
 * - a predicted segment matches a ground truth segment of the same class when IoU > 0.5, with the pixels the
 *   prediction puts on void left out of the union;
 * - unmatched ground truth (not crowd) is a false negative; an unmatched prediction is a false positive unless
 *   more than half of it lies on void or on a crowd region of its class;
 * - PQ = sum of matched IoUs / (TP + FP/2 + FN/2) per class, SQ = IoU sum / TP, RQ = TP / (TP + FP/2 + FN/2),
 *   averaged over the classes that occur (TP + FP + FN > 0): all, things and stuff.
 */
import { nanMean } from './semantic-iou.js';

/** A panoptic prediction: a segment id per pixel (0 = none) and each segment's class. */
export interface PanopticPrediction {
  readonly segmentIds: Uint32Array;
  /** Segment id -> train id. */
  readonly classOf: ReadonlyMap<number, number>;
}

export interface PqClassFigures {
  readonly pq: number;
  readonly sq: number;
  readonly rq: number;
  readonly tp: number;
  readonly fp: number;
  readonly fn: number;
}

export interface PqSummary {
  readonly pq: number;
  readonly sq: number;
  readonly rq: number;
  readonly classes: number;
}

export interface PqFigures {
  readonly all: PqSummary;
  readonly things: PqSummary;
  readonly stuff: PqSummary;
  readonly perClass: ReadonlyMap<number, PqClassFigures>;
}

const VOID_SEGMENT = -1;
/** Segment ids of a prediction stay below this; pairs are keyed (gtKey + GT_OFFSET) * SEGMENT_SPAN + segment. */
const SEGMENT_SPAN = 2 ** 24;
const GT_OFFSET = 512;
const pairKey = (gtKey: number, segment: number) => (gtKey + GT_OFFSET) * SEGMENT_SPAN + segment;

export class PanopticQuality {
  readonly #tp: Float64Array;
  readonly #fp: Float64Array;
  readonly #fn: Float64Array;
  readonly #iou: Float64Array;

  constructor(
    private readonly trainIdOf: Uint8Array,
    private readonly isThing: Uint8Array,
    private readonly classCount: number,
  ) {
    this.#tp = new Float64Array(classCount);
    this.#fp = new Float64Array(classCount);
    this.#fn = new Float64Array(classCount);
    this.#iou = new Float64Array(classCount);
  }

  /** Adds one image: `gtInstanceIds` holds Cityscapes instance ids per pixel (label id, or label id * 1000 + n). */
  addImage(gtInstanceIds: ArrayLike<number>, prediction: PanopticPrediction): void {
    const n = gtInstanceIds.length;
    if (prediction.segmentIds.length !== n) {
      throw new RangeError(`the prediction has ${prediction.segmentIds.length} pixels, the ground truth ${n}`);
    }
    // Ground truth segment key per pixel: stuff classes merge into one segment, things keep their instance id.
    const gtKeyOf = (value: number): number => {
      const label = value >= 1000 ? Math.floor(value / 1000) : value;
      const classId = this.trainIdOf[label] ?? 255;
      if (classId === 255) return VOID_SEGMENT;
      return this.isThing[classId] ? value : -2 - classId; // stuff: one key per class
    };
    const gtClass = new Map<number, { classId: number; crowd: boolean; area: number }>();
    const predArea = new Map<number, number>();
    const pairs = new Map<number, number>();
    const gtKeyCache = new Map<number, number>();
    for (let p = 0; p < n; p++) {
      const value = gtInstanceIds[p]!;
      let gtKey = gtKeyCache.get(value);
      if (gtKey === undefined) {
        gtKey = gtKeyOf(value);
        gtKeyCache.set(value, gtKey);
      }
      if (gtKey !== VOID_SEGMENT) {
        let info = gtClass.get(gtKey);
        if (info === undefined) {
          const label = value >= 1000 ? Math.floor(value / 1000) : value;
          const classId = this.trainIdOf[label]!;
          info = { classId, crowd: this.isThing[classId] === 1 && value < 1000, area: 0 };
          gtClass.set(gtKey, info);
        }
        info.area++;
      }
      const segment = prediction.segmentIds[p]!;
      if (segment !== 0) predArea.set(segment, (predArea.get(segment) ?? 0) + 1);
      if (segment >= SEGMENT_SPAN) throw new RangeError(`segment id ${segment} is not below ${SEGMENT_SPAN}`);
      if (segment !== 0 || gtKey !== VOID_SEGMENT) {
        const key = pairKey(gtKey, segment);
        pairs.set(key, (pairs.get(key) ?? 0) + 1);
      }
    }
    const matchedGt = new Set<number>();
    const matchedPred = new Set<number>();
    const voidOf = (segment: number) => pairs.get(pairKey(VOID_SEGMENT, segment)) ?? 0;
    for (const [key, intersection] of pairs) {
      const gtKey = Math.floor(key / SEGMENT_SPAN) - GT_OFFSET;
      const segment = key % SEGMENT_SPAN;
      if (gtKey === VOID_SEGMENT || segment === 0) continue;
      const gt = gtClass.get(gtKey)!;
      if (gt.crowd || prediction.classOf.get(segment) !== gt.classId) continue;
      const union = predArea.get(segment)! + gt.area - intersection - voidOf(segment);
      const iou = intersection / union;
      if (iou > 0.5) {
        this.#tp[gt.classId]!++;
        this.#iou[gt.classId]! += iou;
        matchedGt.add(gtKey);
        matchedPred.add(segment);
      }
    }
    const crowdOf = new Map<number, number>(); // class -> crowd key
    for (const [gtKey, gt] of gtClass) {
      if (gt.crowd) crowdOf.set(gt.classId, gtKey);
      else if (!matchedGt.has(gtKey)) this.#fn[gt.classId]!++;
    }
    for (const [segment, area] of predArea) {
      if (matchedPred.has(segment)) continue;
      const classId = prediction.classOf.get(segment);
      if (classId === undefined || classId >= this.classCount) continue;
      let ignored = voidOf(segment);
      const crowd = crowdOf.get(classId);
      if (crowd !== undefined) ignored += pairs.get(pairKey(crowd, segment)) ?? 0;
      if (ignored / area > 0.5) continue;
      this.#fp[classId]!++;
    }
  }

  figures(): PqFigures {
    return pqFigures({ tp: this.#tp, fp: this.#fp, fn: this.#fn, iou: this.#iou }, this.classCount, this.isThing);
  }
}

/**
 * PQ, SQ and RQ per class from matched-IoU sums and TP / FP / FN counts (classes with none of them are left
 * out), and their means over all classes, things and stuff. Shared with VPQ (vpq.ts), which counts per window.
 */
export function pqFigures(
  counts: {
    readonly tp: ArrayLike<number>;
    readonly fp: ArrayLike<number>;
    readonly fn: ArrayLike<number>;
    readonly iou: ArrayLike<number>;
  },
  classCount: number,
  isThing: Uint8Array,
): PqFigures {
  const perClass = new Map<number, PqClassFigures>();
  for (let c = 0; c < classCount; c++) {
    const tp = counts.tp[c]!;
    const fp = counts.fp[c]!;
    const fn = counts.fn[c]!;
    if (tp + fp + fn === 0) continue;
    const sq = tp === 0 ? 0 : counts.iou[c]! / tp;
    const rq = tp / (tp + fp / 2 + fn / 2);
    perClass.set(c, { pq: sq * rq, sq, rq, tp, fp, fn });
  }
  const summary = (keep: (c: number) => boolean): PqSummary => {
    const rows = [...perClass].filter(([c]) => keep(c)).map(([, figures]) => figures);
    return {
      pq: nanMean(rows.map((r) => r.pq)),
      sq: nanMean(rows.map((r) => r.sq)),
      rq: nanMean(rows.map((r) => r.rq)),
      classes: rows.length,
    };
  };
  return {
    all: summary(() => true),
    things: summary((c) => isThing[c] === 1),
    stuff: summary((c) => isThing[c] !== 1),
    perClass,
  };
}
