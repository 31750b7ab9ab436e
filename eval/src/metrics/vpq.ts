/**
 * Video Panoptic Quality (VPQ; Kim et al. 2020, "Video Panoptic Segmentation") as VPSNet's evaluation
 * computes it on Cityscapes-VPS (mcahny/vps, tools/eval_vpq.py):
 *
 * - For each temporal window size k, every run of consecutive frames spanning k video frames is one
 *   "image": its frames are stacked, and a segment is the union of its pixels over the window's frames.
 *   Windows start at every frame (stride 1); a sequence shorter than a window gives no window of that size
 *   (no partial windows at its end). With `frameStep` s (the video frames between two frames given to
 *   addFrame: 5 on Cityscapes-VPS, whose annotated frames VPSNet stacks), a window holds k / s + 1 frames.
 * - Ground truth segments: `(class, track)` for thing pixels, one per class for stuff; a thing pixel with
 *   track 0 belongs to its class's crowd region; void (255 or any id >= classCount) is void. Predicted
 *   segments: `(class, track)` for thing pixels with a track, one per class for stuff; void pixels and thing
 *   pixels without a track belong to no segment (they only enlarge ground truth unions).
 * - Within a window, a predicted and a ground truth (non-crowd) segment of the same class match when
 *   IoU > 0.5, with the prediction's pixels on ground truth void left out of the union. An unmatched ground
 *   truth segment is a false negative; an unmatched prediction is a false positive unless more than half of
 *   it lies on void or on its class's crowd region (COCO panoptic's rule).
 * - TP, FP, FN and matched IoUs add up per class over all windows of all sequences. VPQ_k is the mean over
 *   the classes with TP + FP + FN > 0 of IoU sum / (TP + FP/2 + FN/2), for all classes, things and stuff;
 *   VPQ is the mean of VPQ_k over the window sizes (k = 0, 5, 10, 15 by default).
 *
 * Figures are fractions (0..1), as in panoptic-quality.ts. Memory: each frame is reduced, as it arrives, to
 * its segments' areas and overlaps, and only the last (largest window - 1) such summaries are kept.
 */
import { pqFigures, type PqClassFigures, type PqSummary } from './panoptic-quality.js';
import {
  checkLabelSpace,
  classOfKey,
  panopticOverlap,
  TRACK_SPAN,
  VOID_KEY,
  type SegmentOverlap,
  type VideoPanopticFrame,
} from './video-frame.js';

/** VPSNet's window sizes, in video frames. */
export const VPQ_WINDOWS: readonly number[] = [0, 5, 10, 15];

/** The figures of one window size. */
export interface VpqWindowFigures {
  /** The window size in video frames. */
  readonly k: number;
  /** Frames given to addFrame that make one window: k / frameStep + 1. */
  readonly windowFrames: number;
  /** Windows evaluated over all sequences. */
  readonly windows: number;
  /** VPQ_k over all classes (NaN when no class occurs). */
  readonly pq: number;
  readonly all: PqSummary;
  readonly things: PqSummary;
  readonly stuff: PqSummary;
  readonly perClass: ReadonlyMap<number, PqClassFigures>;
}

export interface VpqFigures {
  /** Mean of VPQ_k over the window sizes (NaN if any window size had no window or no class). */
  readonly vpq: number;
  readonly things: number;
  readonly stuff: number;
  readonly sequences: number;
  readonly frames: number;
  readonly perK: readonly VpqWindowFigures[];
}

interface Accumulator {
  readonly k: number;
  readonly frames: number;
  windows: number;
  readonly tp: Float64Array;
  readonly fp: Float64Array;
  readonly fn: Float64Array;
  readonly iou: Float64Array;
}

/** Accumulates VPQ over sequences given frame by frame. */
export class VideoPanopticQuality {
  readonly #accumulators: Accumulator[];
  readonly #longest: number;
  /** The summaries of the current sequence's last frames, oldest first. */
  #recent: SegmentOverlap[] = [];
  #open = false;
  #sequenceFrames = 0;
  #sequences = 0;
  #frames = 0;

  constructor(
    private readonly classCount: number,
    private readonly isThing: Uint8Array,
    ks: readonly number[] = VPQ_WINDOWS,
    frameStep = 1,
  ) {
    checkLabelSpace(classCount, isThing);
    if (!Number.isInteger(frameStep) || frameStep < 1)
      throw new RangeError(`frame step ${frameStep} is not a positive integer`);
    if (ks.length === 0) throw new RangeError('no window sizes');
    this.#accumulators = ks.map((k) => {
      if (!Number.isInteger(k) || k < 0 || k % frameStep !== 0) {
        throw new RangeError(`window size ${k} is not a non-negative multiple of the frame step ${frameStep}`);
      }
      return {
        k,
        frames: k / frameStep + 1,
        windows: 0,
        tp: new Float64Array(classCount),
        fp: new Float64Array(classCount),
        fn: new Float64Array(classCount),
        iou: new Float64Array(classCount),
      };
    });
    this.#longest = Math.max(...this.#accumulators.map((a) => a.frames));
  }

  /** Starts a sequence (ending one still open). Windows never span two sequences. */
  beginSequence(): void {
    this.endSequence();
    this.#open = true;
  }

  /** Adds the next frame of the current sequence (starting one if none is open) and scores the windows it ends. */
  addFrame(gt: VideoPanopticFrame, pred: VideoPanopticFrame): void {
    const summary = panopticOverlap(gt, pred, this.classCount, this.isThing);
    if (!this.#open) this.beginSequence();
    this.#recent.push(summary);
    this.#sequenceFrames++;
    this.#frames++;
    for (const accumulator of this.#accumulators) {
      if (this.#recent.length >= accumulator.frames)
        this.#scoreWindow(accumulator, this.#recent.slice(-accumulator.frames));
    }
    // Only the frames a later window can still use are kept.
    if (this.#recent.length === this.#longest) this.#recent.shift();
  }

  /** Ends the current sequence. */
  endSequence(): void {
    if (this.#open && this.#sequenceFrames > 0) this.#sequences++;
    this.#open = false;
    this.#recent = [];
    this.#sequenceFrames = 0;
  }

  #scoreWindow(accumulator: Accumulator, frames: readonly SegmentOverlap[]): void {
    accumulator.windows++;
    // Window-wide numbering of the frames' segments, then their areas and overlaps summed over the window.
    const gtIndex = new Map<number, number>();
    const predIndex = new Map<number, number>();
    const gtKeys: number[] = [];
    const predKeys: number[] = [];
    const gtAreas: number[] = [];
    const predAreas: number[] = [];
    let predBound = 0;
    for (const frame of frames) predBound += frame.predKeys.length;
    const pairs = new Map<number, number>();
    const number = (index: Map<number, number>, keys: number[], areas: number[], key: number, area: number) => {
      let i = index.get(key);
      if (i === undefined) {
        i = keys.length;
        index.set(key, i);
        keys.push(key);
        areas.push(0);
      }
      areas[i]! += area;
      return i;
    };
    for (const frame of frames) {
      const gtMap = frame.gtKeys.map((key, i) => number(gtIndex, gtKeys, gtAreas, key, frame.gtAreas[i]!));
      const predMap = frame.predKeys.map((key, i) => number(predIndex, predKeys, predAreas, key, frame.predAreas[i]!));
      for (let q = 0; q < frame.pairCounts.length; q++) {
        const cell = gtMap[frame.pairGt[q]!]! * predBound + predMap[frame.pairPred[q]!]!;
        pairs.set(cell, (pairs.get(cell) ?? 0) + frame.pairCounts[q]!);
      }
    }
    const { isThing, classCount } = this;
    const isCrowd = (key: number) => key !== VOID_KEY && isThing[classOfKey(key)] === 1 && key % TRACK_SPAN === 0;
    // Per prediction: its pixels on void, and on the crowd region of its own class.
    const onVoid = new Float64Array(predKeys.length);
    const onCrowd = new Float64Array(predKeys.length);
    for (const [cell, count] of pairs) {
      const gtKey = gtKeys[Math.floor(cell / predBound)]!;
      const p = cell % predBound;
      if (gtKey === VOID_KEY) onVoid[p]! += count;
      else if (isCrowd(gtKey) && classOfKey(gtKey) === classOfKey(predKeys[p]!)) onCrowd[p]! += count;
    }
    const gtMatched = new Uint8Array(gtKeys.length);
    const predMatched = new Uint8Array(predKeys.length);
    for (const [cell, intersection] of pairs) {
      const g = Math.floor(cell / predBound);
      const p = cell % predBound;
      const gtKey = gtKeys[g]!;
      if (gtKey === VOID_KEY || isCrowd(gtKey)) continue;
      const classId = classOfKey(gtKey);
      if (classOfKey(predKeys[p]!) !== classId) continue;
      const iou = intersection / (predAreas[p]! + gtAreas[g]! - intersection - onVoid[p]!);
      if (iou > 0.5) {
        accumulator.tp[classId]!++;
        accumulator.iou[classId]! += iou;
        gtMatched[g] = 1;
        predMatched[p] = 1;
      }
    }
    gtKeys.forEach((key, g) => {
      if (gtMatched[g] === 0 && key !== VOID_KEY && !isCrowd(key)) accumulator.fn[classOfKey(key)]!++;
    });
    predKeys.forEach((key, p) => {
      if (predMatched[p] === 1) return;
      if ((onVoid[p]! + onCrowd[p]!) / predAreas[p]! > 0.5) return;
      const classId = classOfKey(key);
      if (classId < classCount) accumulator.fp[classId]!++;
    });
  }

  /** Figures over every ended sequence; throws while a sequence is open. */
  result(): VpqFigures {
    if (this.#open) throw new Error('a sequence is still open: call endSequence() first');
    const perK = this.#accumulators.map((accumulator) => this.#figures(accumulator));
    const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length;
    return {
      vpq: mean(perK.map((f) => f.all.pq)),
      things: mean(perK.map((f) => f.things.pq)),
      stuff: mean(perK.map((f) => f.stuff.pq)),
      sequences: this.#sequences,
      frames: this.#frames,
      perK,
    };
  }

  #figures(accumulator: Accumulator): VpqWindowFigures {
    const { all, things, stuff, perClass } = pqFigures(accumulator, this.classCount, this.isThing);
    return {
      k: accumulator.k,
      windowFrames: accumulator.frames,
      windows: accumulator.windows,
      pq: all.pq,
      all,
      things,
      stuff,
      perClass,
    };
  }
}
