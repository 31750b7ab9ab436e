/**
 * Identity switches of predicted tracks against ground truth tracks (the count CLEAR MOT calls IDSW):
 *
 * - a ground truth track is `(class, track id)` over the thing pixels of a sequence (track 0 is crowd and is
 *   not a track);
 * - in each frame where it appears, a ground truth track matches the predicted track of the same class with
 *   IoU > 0.5 in that frame (at most one can), the prediction's pixels on ground truth void left out of the
 *   union as in panoptic-quality.ts; predicted thing pixels without a track are no track;
 * - a switch is a frame whose matched predicted track differs from the one the ground truth track matched
 *   last (frames without a match neither count nor reset that memory);
 * - switches per 100 tracks = 100 * switches / ground truth tracks (NaN without tracks).
 */
import { VOID } from './semantic-iou.js';
import { classOfKey, panopticOverlap, trackOfKey, VOID_KEY, type VideoPanopticFrame } from './video-frame.js';

export interface IdSwitchFigures {
  readonly switches: number;
  /** Ground truth tracks over all sequences. */
  readonly tracks: number;
  /** Switches per 100 ground truth tracks: 100 * switches / tracks (NaN without tracks). */
  readonly per100: number;
  /** Frames where a ground truth track appears, and of those, the ones where it matched a predicted track. */
  readonly trackFrames: number;
  readonly matchedTrackFrames: number;
  readonly sequences: number;
  readonly frames: number;
}

/** Counts identity switches over sequences given frame by frame. */
export class IdSwitches {
  /** Current sequence: ground truth track key -> predicted track id it matched last (0 = none yet). */
  #lastMatch: Map<number, number> | undefined;
  #sequenceFrames = 0;
  #switches = 0;
  #tracks = 0;
  #trackFrames = 0;
  #matchedTrackFrames = 0;
  #sequences = 0;
  #frames = 0;

  /** `isThing[trainId]` is 1 for thing classes; ids >= 255 and 255 itself are void. */
  constructor(private readonly isThing: Uint8Array) {}

  /** Starts a sequence (ending one still open). */
  beginSequence(): void {
    this.endSequence();
    this.#lastMatch = new Map();
  }

  /** Adds the next frame of the current sequence (starting one if none is open). */
  addFrame(gt: VideoPanopticFrame, pred: VideoPanopticFrame): void {
    const overlap = panopticOverlap(gt, pred, VOID, this.isThing);
    if (this.#lastMatch === undefined) this.beginSequence();
    const lastMatch = this.#lastMatch!;
    const isTrack = (key: number) => key !== VOID_KEY && this.isThing[classOfKey(key)] === 1 && trackOfKey(key) !== 0;
    const onVoid = new Float64Array(overlap.predKeys.length);
    for (let q = 0; q < overlap.pairCounts.length; q++) {
      if (overlap.gtKeys[overlap.pairGt[q]!] === VOID_KEY) onVoid[overlap.pairPred[q]!]! += overlap.pairCounts[q]!;
    }
    const matched = new Map<number, number>();
    for (let q = 0; q < overlap.pairCounts.length; q++) {
      const g = overlap.pairGt[q]!;
      const p = overlap.pairPred[q]!;
      const gtKey = overlap.gtKeys[g]!;
      const predKey = overlap.predKeys[p]!;
      if (!isTrack(gtKey) || !isTrack(predKey) || classOfKey(predKey) !== classOfKey(gtKey)) continue;
      const intersection = overlap.pairCounts[q]!;
      const union = overlap.gtAreas[g]! + overlap.predAreas[p]! - intersection - onVoid[p]!;
      if (intersection / union > 0.5) matched.set(gtKey, trackOfKey(predKey));
    }
    for (const gtKey of overlap.gtKeys) {
      if (!isTrack(gtKey)) continue;
      this.#trackFrames++;
      const last = lastMatch.get(gtKey);
      if (last === undefined) lastMatch.set(gtKey, 0);
      const now = matched.get(gtKey);
      if (now === undefined) continue;
      this.#matchedTrackFrames++;
      if (last !== undefined && last !== 0 && last !== now) this.#switches++;
      lastMatch.set(gtKey, now);
    }
    this.#sequenceFrames++;
    this.#frames++;
  }

  /** Ends the current sequence. */
  endSequence(): void {
    if (this.#lastMatch !== undefined && this.#sequenceFrames > 0) {
      this.#tracks += this.#lastMatch.size;
      this.#sequences++;
    }
    this.#lastMatch = undefined;
    this.#sequenceFrames = 0;
  }

  /** Figures over every ended sequence; throws while a sequence is open. */
  result(): IdSwitchFigures {
    if (this.#lastMatch !== undefined) throw new Error('a sequence is still open: call endSequence() first');
    return {
      switches: this.#switches,
      tracks: this.#tracks,
      per100: this.#tracks > 0 ? (100 * this.#switches) / this.#tracks : Number.NaN,
      trackFrames: this.#trackFrames,
      matchedTrackFrames: this.#matchedTrackFrames,
      sequences: this.#sequences,
      frames: this.#frames,
    };
  }
}
