/**
 * Instance-level mask AP as cityscapesScripts (evalInstanceLevelSemanticLabeling) defines it:
 * - ground truth instances are the pixels of one instance id (label id * 1000 + n) of a thing class; regions
 *   with a bare label id are groups ("cargroup"), never counted as objects;
 * - per overlap threshold (0.50:0.05:0.95), a prediction matches an instance when IoU > threshold; a second
 *   match of the same instance is a false positive at the lower score; instances under `minRegionSize` pixels
 *   are left out;
 * - an unmatched prediction is a false positive unless more than `threshold` of its pixels lie on void, on
 *   groups or on small instances of its class; void is a bare ignored label id (as assignGt2Preds compares raw
 *   ids with the ignored label ids), so instance ids of ignored classes (caravan 29xxx, trailer 30xxx) are not;
 * - AP integrates precision over recall stepwise at every distinct score; per class it is NaN without ground
 *   truth, 0 with ground truth and no predictions; the overall AP is the mean over classes and thresholds.
 */
import { nanMean } from './semantic-iou.js';

export const OVERLAPS = Array.from({ length: 10 }, (_, i) => 0.5 + 0.05 * i);
export const MIN_REGION_SIZE = 100;
/** The train id of ignored labels (labels.ts' VOID). */
const VOID = 255;

export interface PredictedInstance {
  /** Train id of a thing class. */
  readonly classId: number;
  readonly score: number;
  /** Pixel indices (row-major) of the instance's mask. */
  readonly pixels: ArrayLike<number>;
}

interface GtRecord {
  readonly pixelCount: number;
  readonly group: boolean;
  /** Predictions of this class that overlap it: index into the image's predictions, and the overlap. */
  readonly matched: { pred: number; intersection: number }[];
}

interface PredRecord {
  readonly score: number;
  readonly pixelCount: number;
  readonly voidIntersection: number;
  readonly matched: { gt: number; intersection: number }[];
}

interface ImageRecords {
  /** Per class: its ground truth regions and its predictions. */
  readonly gts: Map<number, GtRecord[]>;
  readonly preds: Map<number, PredRecord[]>;
}

export interface ApFigures {
  /** Per thing class: AP over the thresholds and AP at 0.5 (NaN without ground truth). */
  readonly perClass: ReadonlyMap<number, { readonly ap: number; readonly ap50: number }>;
  readonly ap: number;
  readonly ap50: number;
}

export class InstanceAp {
  readonly #images: ImageRecords[] = [];

  /**
   * @param trainIdOf label id -> train id (VOID for ignored labels)
   * @param thingIds the thing classes (train ids) evaluated
   */
  constructor(
    private readonly trainIdOf: Uint8Array,
    private readonly thingIds: readonly number[],
    private readonly minRegionSize = MIN_REGION_SIZE,
  ) {}

  /** Adds one image: `gtInstanceIds` holds Cityscapes instance ids per pixel (label id, or label id * 1000 + n). */
  addImage(gtInstanceIds: ArrayLike<number>, predictions: readonly PredictedInstance[]): void {
    const things = new Set(this.thingIds);
    // Ground truth regions of thing classes, by their id value.
    const regionOf = new Map<number, { classId: number; index: number }>();
    const gts = new Map<number, GtRecord[]>(this.thingIds.map((c) => [c, []]));
    const pixelCounts = new Map<number, number>();
    for (let p = 0; p < gtInstanceIds.length; p++) {
      const value = gtInstanceIds[p]!;
      pixelCounts.set(value, (pixelCounts.get(value) ?? 0) + 1);
    }
    for (const [value, pixelCount] of pixelCounts) {
      const classId = this.trainIdOf[value >= 1000 ? Math.floor(value / 1000) : value] ?? 255;
      if (!things.has(classId)) continue;
      const list = gts.get(classId)!;
      regionOf.set(value, { classId, index: list.length });
      list.push({ pixelCount, group: value < 1000, matched: [] });
    }
    const preds = new Map<number, PredRecord[]>(this.thingIds.map((c) => [c, []]));
    for (const prediction of predictions) {
      const list = preds.get(prediction.classId);
      if (list === undefined || prediction.pixels.length === 0) continue;
      const overlaps = new Map<number, number>();
      let voidIntersection = 0;
      for (let i = 0; i < prediction.pixels.length; i++) {
        const value = gtInstanceIds[prediction.pixels[i]!]!;
        if (this.#isVoid(value)) voidIntersection++;
        const region = regionOf.get(value);
        if (region?.classId === prediction.classId) overlaps.set(region.index, (overlaps.get(region.index) ?? 0) + 1);
      }
      const predIndex = list.length;
      const matched = [...overlaps].map(([gt, intersection]) => ({ gt, intersection }));
      for (const { gt, intersection } of matched)
        gts.get(prediction.classId)![gt]!.matched.push({ pred: predIndex, intersection });
      list.push({ score: prediction.score, pixelCount: prediction.pixels.length, voidIntersection, matched });
    }
    this.#images.push({ gts, preds });
  }

  /**
   * cityscapesScripts' void test (assignGt2Preds): the raw id is one of the ignored label ids. An instance id
   * (label id * 1000 + n) is never void, even of an ignored class: a caravan (29xxx) or trailer (30xxx) is
   * no void region that excuses a prediction on it.
   */
  #isVoid(value: number): boolean {
    return value < 1000 && (this.trainIdOf[value] ?? VOID) === VOID;
  }

  get images(): number {
    return this.#images.length;
  }

  /** AP of one class at one overlap threshold. */
  #apAt(classId: number, threshold: number): number {
    const yTrue: number[] = [];
    const yScore: number[] = [];
    let hardFns = 0;
    let haveGt = false;
    let havePred = false;
    for (const image of this.#images) {
      const allGts = image.gts.get(classId)!;
      const preds = image.preds.get(classId)!;
      const counted = (gt: GtRecord) => !gt.group && gt.pixelCount >= this.minRegionSize;
      const gts = allGts.filter(counted);
      if (gts.length > 0) haveGt = true;
      if (preds.length > 0) havePred = true;
      for (const gt of gts) {
        let matched = false;
        let best = -Infinity;
        for (const { pred, intersection } of gt.matched) {
          const p = preds[pred]!;
          const overlap = intersection / (gt.pixelCount + p.pixelCount - intersection);
          if (overlap <= threshold) continue;
          if (matched) {
            // The lower-scored of two matches is a false positive.
            yTrue.push(0);
            yScore.push(Math.min(best, p.score));
            best = Math.max(best, p.score);
          } else {
            matched = true;
            best = p.score;
          }
        }
        if (matched) {
          yTrue.push(1);
          yScore.push(best);
        } else {
          hardFns++;
        }
      }
      for (const pred of preds) {
        const foundGt = pred.matched.some(({ gt, intersection }) => {
          const region = allGts[gt]!;
          return intersection / (region.pixelCount + pred.pixelCount - intersection) > threshold;
        });
        if (foundGt) continue;
        let ignored = pred.voidIntersection;
        for (const { gt, intersection } of pred.matched) {
          const region = allGts[gt]!;
          if (region.group) ignored += intersection;
          if (region.pixelCount < this.minRegionSize) ignored += intersection;
        }
        if (ignored / pred.pixelCount <= threshold) {
          yTrue.push(0);
          yScore.push(pred.score);
        }
      }
    }
    if (!haveGt) return Number.NaN;
    if (!havePred) return 0;
    return stepwiseAp(yTrue, yScore, hardFns);
  }

  figures(): ApFigures {
    const perClass = new Map<number, { ap: number; ap50: number }>();
    const all: number[] = [];
    const at50: number[] = [];
    for (const classId of this.thingIds) {
      const aps = OVERLAPS.map((threshold) => this.#apAt(classId, threshold));
      all.push(...aps);
      at50.push(aps[0]!);
      perClass.set(classId, { ap: nanMean(aps), ap50: aps[0]! });
    }
    return { perClass, ap: nanMean(all), ap50: nanMean(at50) };
  }
}

/**
 * Area under the precision-recall curve, integrated stepwise over the distinct scores (cityscapesScripts'
 * rule): `hardFns` are ground truth instances no prediction matched.
 */
export function stepwiseAp(yTrue: readonly number[], yScore: readonly number[], hardFns: number): number {
  const order = yScore.map((_, i) => i).sort((a, b) => yScore[a]! - yScore[b]! || a - b);
  const scores = order.map((i) => yScore[i]!);
  const cumsum: number[] = [];
  let running = 0;
  for (const i of order) cumsum.push((running += yTrue[i]!));
  const examples = scores.length;
  const trueExamples = running;
  // First index of each distinct score, ascending.
  const firsts = scores.flatMap((score, i) => (i === 0 || score !== scores[i - 1] ? [i] : []));
  const precision: number[] = [];
  const recall: number[] = [];
  for (const first of firsts) {
    const below = first > 0 ? cumsum[first - 1]! : 0;
    const tp = trueExamples - below;
    const fp = examples - first - tp;
    const fn = below + hardFns;
    precision.push(tp / (tp + fp));
    recall.push(tp + fn === 0 ? 0 : tp / (tp + fn));
  }
  precision.push(1);
  recall.push(0);
  // Step widths: half the recall difference to the neighbours on either side (first and last padded).
  const padded = [recall[0]!, ...recall, 0];
  let ap = 0;
  for (let i = 0; i < precision.length; i++) ap += precision[i]! * ((padded[i]! - padded[i + 2]!) / 2);
  return ap;
}
