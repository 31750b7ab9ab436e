/**
 * The input of the video metrics (stq.ts, vpq.ts, id-switches.ts): one frame of a sequence, ground truth
 * and prediction alike, and the per-frame counting they share.
 *
 * Segments are keyed by one number, `class * TRACK_SPAN + track`, so a key fits in 32 bits (classes are
 * below 255, tracks below 2**24). Each frame's pixels are first numbered densely (keys -> 0, 1, 2, ... in
 * the order they appear) and then counted in typed arrays, so that no per-pixel Map lookup is needed on
 * ordinary label maps (runs of equal keys reuse the previous lookup).
 */
import { VOID } from './semantic-iou.js';

/** One frame of a video sequence, for the ground truth and for the prediction alike. */
export interface VideoPanopticFrame {
  readonly width: number;
  readonly height: number;
  /** Train id per pixel, 255 = void (every id at or above the metric's class count is void too). */
  readonly semantic: Uint8Array;
  /**
   * Track id per pixel for thing pixels (stable across the sequence; any positive integer < 2**24), 0 = none.
   * In the ground truth a thing pixel with track 0 is crowd; track ids on stuff pixels are ignored.
   */
  readonly tracks: Uint32Array;
}

/** Track ids stay below this; a segment key is `class * TRACK_SPAN + track`. */
export const TRACK_SPAN = 2 ** 24;
/** The key of ground truth void (a class no real class can have). */
export const VOID_KEY = VOID * TRACK_SPAN;

/** The class of a segment key. */
export const classOfKey = (key: number): number => Math.floor(key / TRACK_SPAN);
/** The track id of a segment key (0 for stuff, crowd and void). */
export const trackOfKey = (key: number): number => key % TRACK_SPAN;

/** Checks that both frames have the same size and consistent arrays; returns the pixel count. */
export function checkFramePair(gt: VideoPanopticFrame, pred: VideoPanopticFrame): number {
  const n = gt.width * gt.height;
  for (const [name, frame] of [
    ['ground truth', gt],
    ['prediction', pred],
  ] as const) {
    if (frame.semantic.length !== n || frame.tracks.length !== n) {
      throw new RangeError(
        `the ${name} has ${frame.semantic.length} semantic and ${frame.tracks.length} track pixels, expected ${gt.width} x ${gt.height}`,
      );
    }
  }
  if (pred.width !== gt.width || pred.height !== gt.height) {
    throw new RangeError(
      `the prediction is ${pred.width} x ${pred.height}, the ground truth ${gt.width} x ${gt.height}`,
    );
  }
  return n;
}

/** Numbers keys densely in the order they are first seen; a run of equal keys costs one comparison. */
export class KeyNumbering {
  readonly keys: number[] = [];
  readonly #index = new Map<number, number>();
  #lastKey = -1;
  #lastIndex = -1;

  indexOf(key: number): number {
    if (key === this.#lastKey) return this.#lastIndex;
    let index = this.#index.get(key);
    if (index === undefined) {
      if (key % 1 !== 0 || key < 0 || key >= 2 ** 32) throw new RangeError(`segment key ${key} is out of range`);
      index = this.keys.length;
      this.keys.push(key);
      this.#index.set(key, index);
    }
    this.#lastKey = key;
    this.#lastIndex = index;
    return index;
  }

  get size(): number {
    return this.keys.length;
  }
}

/**
 * Areas and intersections of one frame's segments (or of a whole window's): `gtKeys[i]` has `gtAreas[i]`
 * pixels, `predKeys[j]` has `predAreas[j]`, and pair `q` covers `pairCounts[q]` pixels of ground truth
 * segment `pairGt[q]` and predicted segment `pairPred[q]` (pairs with no pixels are left out).
 */
export interface SegmentOverlap {
  readonly gtKeys: readonly number[];
  readonly gtAreas: Float64Array;
  readonly predKeys: readonly number[];
  readonly predAreas: Float64Array;
  readonly pairGt: Int32Array;
  readonly pairPred: Int32Array;
  readonly pairCounts: Float64Array;
}

/** Above this many (ground truth x prediction) cells the intersections are counted in a Map instead. */
const DENSE_PAIR_LIMIT = 2 ** 20;

/**
 * Counts a frame's segment areas and intersections from per-pixel dense indices (-1 = no segment): areas
 * count every pixel of a segment, pairs only the pixels where both sides have one.
 */
export function countOverlap(
  gtIndex: Int32Array,
  gt: KeyNumbering,
  predIndex: Int32Array,
  pred: KeyNumbering,
  pixels: number,
): SegmentOverlap {
  const g = gt.size;
  const p = pred.size;
  const gtAreas = new Float64Array(g);
  const predAreas = new Float64Array(p);
  const pairGt: number[] = [];
  const pairPred: number[] = [];
  const counts: number[] = [];
  if (g * p <= DENSE_PAIR_LIMIT) {
    const cells = new Int32Array(g * p);
    for (let i = 0; i < pixels; i++) {
      const a = gtIndex[i]!;
      const b = predIndex[i]!;
      if (a >= 0) gtAreas[a]!++;
      if (b >= 0) predAreas[b]!++;
      if (a >= 0 && b >= 0) cells[a * p + b]!++;
    }
    for (let cell = 0; cell < cells.length; cell++) {
      const count = cells[cell]!;
      if (count === 0) continue;
      pairGt.push(Math.floor(cell / p));
      pairPred.push(cell % p);
      counts.push(count);
    }
  } else {
    const cells = new Map<number, number>();
    let lastCell = -1;
    let lastCount = 0;
    const flush = () => {
      if (lastCell >= 0) cells.set(lastCell, (cells.get(lastCell) ?? 0) + lastCount);
    };
    for (let i = 0; i < pixels; i++) {
      const a = gtIndex[i]!;
      const b = predIndex[i]!;
      if (a >= 0) gtAreas[a]!++;
      if (b >= 0) predAreas[b]!++;
      if (a < 0 || b < 0) continue;
      const cell = a * p + b;
      if (cell === lastCell) {
        lastCount++;
      } else {
        flush();
        lastCell = cell;
        lastCount = 1;
      }
    }
    flush();
    for (const [cell, count] of cells) {
      pairGt.push(Math.floor(cell / p));
      pairPred.push(cell % p);
      counts.push(count);
    }
  }
  return {
    gtKeys: gt.keys,
    gtAreas,
    predKeys: pred.keys,
    predAreas,
    pairGt: Int32Array.from(pairGt),
    pairPred: Int32Array.from(pairPred),
    pairCounts: Float64Array.from(counts),
  };
}

/**
 * A frame's panoptic segments as VPSNet's VPQ (and COCO panoptic) sees them. Ground truth: a thing pixel
 * keys `(class, track)`, a thing pixel with track 0 the class's crowd region `(class, 0)`, a stuff pixel its
 * class `(class, 0)`, void (or any class >= classCount) VOID_KEY. Prediction: thing `(class, track)`, stuff
 * `(class, 0)`; void and thing pixels without a track belong to no segment (as segment 0 in
 * panoptic-quality.ts).
 */
export function panopticOverlap(
  gt: VideoPanopticFrame,
  pred: VideoPanopticFrame,
  classCount: number,
  isThing: Uint8Array,
): SegmentOverlap {
  const n = checkFramePair(gt, pred);
  const gtNumbering = new KeyNumbering();
  const predNumbering = new KeyNumbering();
  const gtIndex = new Int32Array(n);
  const predIndex = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const cg = gt.semantic[i]!;
    let gtKey = VOID_KEY;
    if (cg < classCount) gtKey = cg * TRACK_SPAN + (isThing[cg] === 1 ? checkTrack(gt.tracks[i]!) : 0);
    gtIndex[i] = gtNumbering.indexOf(gtKey);
    const cp = pred.semantic[i]!;
    let predSegment = -1;
    if (cp < classCount) {
      if (isThing[cp] !== 1) predSegment = predNumbering.indexOf(cp * TRACK_SPAN);
      else {
        const track = checkTrack(pred.tracks[i]!);
        if (track !== 0) predSegment = predNumbering.indexOf(cp * TRACK_SPAN + track);
      }
    }
    predIndex[i] = predSegment;
  }
  return countOverlap(gtIndex, gtNumbering, predIndex, predNumbering, n);
}

/** Returns `track`, or throws if it does not fit a segment key. */
export function checkTrack(track: number): number {
  if (track >= TRACK_SPAN) throw new RangeError(`track id ${track} is not below ${TRACK_SPAN}`);
  return track;
}

/** Checks a label space: `classCount` train ids (below 255), `isThing` at least that long. */
export function checkLabelSpace(classCount: number, isThing: Uint8Array): void {
  if (!Number.isInteger(classCount) || classCount < 1 || classCount >= VOID) {
    throw new RangeError(`class count ${classCount} is not in 1..${VOID - 1}`);
  }
  if (isThing.length < classCount) {
    throw new RangeError(`isThing has ${isThing.length} entries for ${classCount} classes`);
  }
}
