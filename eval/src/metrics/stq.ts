/**
 * Segmentation and Tracking Quality (STQ; Weber et al. 2021, "STEP: Segmenting and Tracking Every Pixel")
 * as deeplab2 computes it (evaluation/segmentation_and_tracking_quality.py and its numpy twin):
 *
 * - STQ = sqrt(AQ * SQ).
 * - SQ is the mean class IoU of the semantic labels over every frame of every sequence. Pixels whose ground
 *   truth is void are left out. A void prediction (255, or any id >= classCount) on a labelled pixel is a
 *   false negative of the ground truth class, and, as in deeplab2, the void prediction column then counts as
 *   one more class, of IoU 0, in the mean (deeplab2 maps the ignore label to an extra confusion matrix
 *   column and averages over every entry with a non-zero union).
 * - AQ is computed per sequence on tracks keyed `(class, track id)`, as deeplab2 keys them by the whole
 *   panoptic label. Ground truth tracks are the thing pixels with a track id; thing pixels with track 0 are
 *   crowd and are left out of both sides (a prediction on crowd counts nowhere in AQ). Predicted tracks are
 *   all pixels predicted as a thing class, track 0 included (one track per class), wherever the ground
 *   truth is not crowd: on stuff and on void too, so such pixels enlarge the predicted track (false positive
 *   associations). Ground truth pixels predicted as stuff or void enlarge only the ground truth track.
 *   For each ground truth track g: (1 / |g|) * sum over predicted tracks p of TPA(p, g) * IoU(p, g), with
 *   TPA the pixels they share over the sequence and IoU = TPA / (|p| + |g| - TPA), class-agnostic (any
 *   predicted class may overlap a ground truth track). AQ = the sum over all tracks of all sequences divided
 *   by the number of tracks; 0 when there are none, as in deeplab2.
 *
 * Figures are fractions (0..1), as in panoptic-quality.ts. Memory: per sequence, one confusion matrix and
 * the areas of its tracks and of their overlaps; pixels are counted frame by frame.
 */
import {
  checkFramePair,
  checkLabelSpace,
  checkTrack,
  countOverlap,
  KeyNumbering,
  TRACK_SPAN,
  type VideoPanopticFrame,
} from './video-frame.js';

/** STQ figures of one sequence (deeplab2's `*_per_seq`). */
export interface StqSequenceFigures {
  readonly stq: number;
  readonly aq: number;
  readonly sq: number;
  readonly frames: number;
  /** Ground truth tracks: distinct `(class, track id)` of non-crowd thing pixels. */
  readonly tracks: number;
}

export interface StqFigures {
  readonly stq: number;
  readonly aq: number;
  /** Mean IoU over every frame (NaN when no class has a union). */
  readonly sq: number;
  /** IoU per class over every frame, NaN where the class is neither in the ground truth nor predicted on labelled pixels. */
  readonly perClassIou: readonly number[];
  readonly sequences: number;
  readonly frames: number;
  readonly tracks: number;
  readonly perSequence: readonly StqSequenceFigures[];
}

interface SequenceState {
  frames: number;
  readonly confusion: Float64Array;
  readonly gtAreas: Map<number, number>;
  readonly predAreas: Map<number, number>;
  /** Ground truth track key -> predicted track key -> shared pixels. */
  readonly intersections: Map<number, Map<number, number>>;
}

/** Mean IoU of a (classCount) x (classCount + 1) confusion matrix whose last column is void predictions. */
function meanIou(confusion: Float64Array, classCount: number): { mean: number; perClass: number[] } {
  const columns = classCount + 1;
  const rowSums = new Float64Array(classCount);
  const columnSums = new Float64Array(columns);
  for (let t = 0; t < classCount; t++) {
    for (let q = 0; q < columns; q++) {
      const count = confusion[t * columns + q]!;
      rowSums[t]! += count;
      columnSums[q]! += count;
    }
  }
  const perClass: number[] = [];
  let sum = 0;
  let classes = 0;
  for (let c = 0; c < classCount; c++) {
    const tp = confusion[c * columns + c]!;
    const union = rowSums[c]! + columnSums[c]! - tp;
    perClass.push(union > 0 ? tp / union : Number.NaN);
    if (union > 0) {
      sum += tp / union;
      classes++;
    }
  }
  // deeplab2: the void prediction column is an entry of the mean too, with no true positives.
  if (columnSums[classCount]! > 0) classes++;
  return { mean: classes === 0 ? Number.NaN : sum / classes, perClass };
}

/** Accumulates STQ over sequences given frame by frame. */
export class SegmentationTrackingQuality {
  readonly #total: Float64Array;
  #sequence: SequenceState | undefined;
  #aqSum = 0;
  #tracks = 0;
  #frames = 0;
  readonly #perSequence: StqSequenceFigures[] = [];

  constructor(
    private readonly classCount: number,
    private readonly isThing: Uint8Array,
  ) {
    checkLabelSpace(classCount, isThing);
    this.#total = new Float64Array(classCount * (classCount + 1));
  }

  /** Starts a sequence (ending one still open). Track ids are only compared within a sequence. */
  beginSequence(): void {
    this.endSequence();
    this.#sequence = {
      frames: 0,
      confusion: new Float64Array(this.classCount * (this.classCount + 1)),
      gtAreas: new Map(),
      predAreas: new Map(),
      intersections: new Map(),
    };
  }

  /** Adds the next frame of the current sequence (starting one if none is open). */
  addFrame(gt: VideoPanopticFrame, pred: VideoPanopticFrame): void {
    const n = checkFramePair(gt, pred);
    if (this.#sequence === undefined) this.beginSequence();
    const sequence = this.#sequence!;
    const { classCount, isThing } = this;
    const columns = classCount + 1;
    const confusion = sequence.confusion;
    const gtNumbering = new KeyNumbering();
    const predNumbering = new KeyNumbering();
    const gtIndex = new Int32Array(n);
    const predIndex = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      const cg = gt.semantic[i]!;
      const cp = pred.semantic[i]!;
      const labelled = cg < classCount;
      if (labelled) confusion[cg * columns + (cp < classCount ? cp : classCount)]!++;
      const gtThing = labelled && isThing[cg] === 1;
      const gtTrack = gtThing ? checkTrack(gt.tracks[i]!) : 0;
      const crowd = gtThing && gtTrack === 0;
      gtIndex[i] = gtThing && !crowd ? gtNumbering.indexOf(cg * TRACK_SPAN + gtTrack) : -1;
      predIndex[i] =
        cp < classCount && isThing[cp] === 1 && !crowd
          ? predNumbering.indexOf(cp * TRACK_SPAN + checkTrack(pred.tracks[i]!))
          : -1;
    }
    const overlap = countOverlap(gtIndex, gtNumbering, predIndex, predNumbering, n);
    const add = (map: Map<number, number>, key: number, count: number) => map.set(key, (map.get(key) ?? 0) + count);
    overlap.gtKeys.forEach((key, i) => add(sequence.gtAreas, key, overlap.gtAreas[i]!));
    overlap.predKeys.forEach((key, i) => add(sequence.predAreas, key, overlap.predAreas[i]!));
    for (let q = 0; q < overlap.pairCounts.length; q++) {
      const gtKey = overlap.gtKeys[overlap.pairGt[q]!]!;
      let row = sequence.intersections.get(gtKey);
      if (row === undefined) {
        row = new Map();
        sequence.intersections.set(gtKey, row);
      }
      add(row, overlap.predKeys[overlap.pairPred[q]!]!, overlap.pairCounts[q]!);
    }
    sequence.frames++;
  }

  /** Ends the current sequence: its association figures are final. A sequence without frames counts for nothing. */
  endSequence(): void {
    const sequence = this.#sequence;
    this.#sequence = undefined;
    if (sequence === undefined || sequence.frames === 0) return;
    let outer = 0;
    for (const [gtKey, gtArea] of sequence.gtAreas) {
      let inner = 0;
      for (const [predKey, tpa] of sequence.intersections.get(gtKey) ?? []) {
        const union = sequence.predAreas.get(predKey)! + gtArea - tpa;
        inner += tpa * (tpa / union);
      }
      outer += inner / gtArea;
    }
    const tracks = sequence.gtAreas.size;
    const aq = tracks > 0 ? outer / tracks : 0;
    const sq = meanIou(sequence.confusion, this.classCount).mean;
    this.#perSequence.push({ stq: Math.sqrt(aq * sq), aq, sq, frames: sequence.frames, tracks });
    for (let i = 0; i < this.#total.length; i++) this.#total[i]! += sequence.confusion[i]!;
    this.#aqSum += outer;
    this.#tracks += tracks;
    this.#frames += sequence.frames;
  }

  /** Figures over every ended sequence; throws while a sequence is open. */
  result(): StqFigures {
    if (this.#sequence !== undefined) throw new Error('a sequence is still open: call endSequence() first');
    const aq = this.#tracks > 0 ? this.#aqSum / this.#tracks : 0;
    const { mean: sq, perClass } = meanIou(this.#total, this.classCount);
    return {
      stq: Math.sqrt(aq * sq),
      aq,
      sq,
      perClassIou: perClass,
      sequences: this.#perSequence.length,
      frames: this.#frames,
      tracks: this.#tracks,
      perSequence: [...this.#perSequence],
    };
  }
}
