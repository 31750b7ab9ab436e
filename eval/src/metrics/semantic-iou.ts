/**
 * Semantic IoU as cityscapesScripts defines it: a confusion matrix over the pixels whose ground truth is not
 * void; per class IoU = TP / (TP + FP + FN), where a void prediction on a labelled pixel is a false negative;
 * the mean over the classes with ground truth or predictions (NaN classes are left out), and the same per
 * category (classes merged into their categories).
 */
export const VOID = 255;

export interface IouFigures {
  /** Per class, NaN where the class is neither in the ground truth nor predicted. */
  readonly perClass: readonly number[];
  readonly mean: number;
  readonly perCategory: readonly number[];
  readonly meanCategory: number;
}

export function nanMean(values: readonly number[]): number {
  const kept = values.filter((value) => !Number.isNaN(value));
  return kept.length === 0 ? Number.NaN : kept.reduce((a, b) => a + b, 0) / kept.length;
}

export class ConfusionMatrix {
  /** Rows: ground truth class; columns: predicted class, then one column for void predictions. */
  readonly counts: Float64Array;

  constructor(readonly classes: number) {
    this.counts = new Float64Array(classes * (classes + 1));
  }

  /** Adds one image: `truth` and `predicted` are class ids per pixel (VOID or any id >= classes is void). */
  add(truth: Uint8Array, predicted: Uint8Array): void {
    if (truth.length !== predicted.length) {
      throw new RangeError(`the prediction has ${predicted.length} pixels, the ground truth ${truth.length}`);
    }
    const n = this.classes;
    const counts = this.counts;
    for (let p = 0; p < truth.length; p++) {
      const t = truth[p]!;
      if (t >= n) continue;
      const q = predicted[p]!;
      counts[t * (n + 1) + (q < n ? q : n)]!++;
    }
  }

  /** IoU per class and per category (`categoryOf[class]` = category index). */
  iou(categoryOf: readonly number[]): IouFigures {
    const n = this.classes;
    const at = (t: number, q: number) => this.counts[t * (n + 1) + q]!;
    const iouOf = (members: (c: number) => boolean): number => {
      let tp = 0;
      let fp = 0;
      let fn = 0;
      for (let t = 0; t < n; t++) {
        for (let q = 0; q <= n; q++) {
          const count = at(t, q);
          const truthIn = members(t);
          const predictedIn = q < n && members(q);
          if (truthIn && predictedIn) tp += count;
          else if (truthIn) fn += count;
          else if (predictedIn) fp += count;
        }
      }
      return tp + fp + fn === 0 ? Number.NaN : tp / (tp + fp + fn);
    };
    const perClass = Array.from({ length: n }, (_, c) => iouOf((x) => x === c));
    const categories = Math.max(...categoryOf.slice(0, n)) + 1;
    const perCategory = Array.from({ length: categories }, (_, k) => iouOf((x) => categoryOf[x] === k));
    return { perClass, mean: nanMean(perClass), perCategory, meanCategory: nanMean(perCategory) };
  }
}
