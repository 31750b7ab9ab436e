/**
 * Per-stream tracking: gives the instances of each fused frame track ids that persist across the frames of a
 * video stream. Fusion numbers the instances of every frame afresh (1..65535); a `Tracker` maps those ids to
 * track ids (1, 2, 3, ... never reused within the tracker), one frame at a time, in frame order.
 *
 * ## The algorithm (association `'mask'`, the default)
 *
 * A track holds its last mask (horizontal pixel runs), the centroid of that mask, a velocity (known from its
 * second sighting on: a track seen once has none yet), and the index of the frame it was last seen in
 * (`lastIndex`). For frame `index`:
 *
 * 1. **Expiry.** A track whose `index - lastIndex` exceeds `maxAge + 1` was missing from more than `maxAge`
 *    frames (dropped frames, the gaps in `index`, count): it ends and takes no part.
 * 2. **Prediction (constant velocity).** Every remaining track's mask is shifted by
 *    `round(velocity * (index - lastIndex))` pixels in x and y (integer shifts; pixels shifted out of the
 *    image are dropped): where a moving object should be now, also after frames in which it was hidden.
 * 3. **Overlaps, in one pass.** Each segment's pixels are gathered as runs, searched for in its box (a
 *    full-map scan replaces this when the pixels found in the boxes do not add up to the segments' areas),
 *    and filed by row. Then one pass over the tracks' shifted masks, run by run, intersects each run with the
 *    segment runs of its row (found by binary search) and counts the overlaps of every (track, segment) pair
 *    at the same time: no pixel loop per pair, and the masks' pixels are counted by runs instead of read one
 *    by one. Cost: the pixels of the segments' boxes, plus the runs of the masks.
 * 4. **Matching, stage 1.** A (track, segment) pair is a candidate when their classes agree and
 *    IoU = overlap / (predicted track area + segment area - overlap) is at least `iouThreshold`; for a track
 *    seen once (its mask stays where it was), also when the overlap is at least half the smaller of the two
 *    (one lies mostly within the other): an object coming into view, at the image's border or from behind
 *    another object, grows in place at first, so its first sighting is a small part of its second, and one
 *    going out of view shrinks in place; their IoU is small. Candidates are taken greedily by IoU, highest
 *    first; ties go to the track seen more recently, then to the lower track id, then to the segment earlier in
 *    the input; a pair is taken when neither its track nor its segment is taken yet (see `matchGreedy`).
 * 5. **Matching, stage 2 (partly hidden objects).** The tracks and segments left over are matched the same
 *    way, except that the predicted pixels lying on segments taken in stage 1 are left out of the track's area:
 *    those objects stand where this track was predicted, so that part of it is taken to be hidden behind them
 *    and not held against the match. An object sliding behind another, or coming out from behind it, shows
 *    only part of itself, whose plain IoU with the whole predicted object is small; this IoU is not.
 * 6. **Matching, stage 3 (motion not known yet).** A track seen once has no velocity, so an object moving
 *    more than about half its size per frame (a small or fast one) overlaps its first mask too little for
 *    stages 1-2, and would get a new id every frame, never learning its velocity. So the tracks left over that
 *    were seen once, and the segments left over, are matched by a motion-free affinity: a pair of the same
 *    class is a candidate when
 *    - the segment's centroid is within reach of the track's: at most `MOTION_FREE_REACH` (2) extents per
 *      frame since the track was seen, the extent being the larger box side of the track's mask or of the
 *      segment, whichever is larger; in any direction; and
 *    - with their centroids aligned (the track's mask shifted by the rounded centroid displacement), their
 *      overlap is at least half the smaller of the two: the same shape, or one a part of the other.
 *
 *    Candidates are taken greedily by nearness, 1 - distance / reach (ties as in stage 1): the smallest motion
 *    that explains the frame first. A track matched so keeps no hidden pixels (its predicted mask lies
 *    elsewhere); its velocity is learned from the displacement, and stages 1-2 follow it from the next frame.
 *    Why so: an object's speed and its size in the image both scale with the inverse of its distance, so a
 *    gate in extents per frame holds for near and far objects alike (2 extents per frame is generous for
 *    street objects at video rates, and leaves room for low frame rates and a turning camera). The gate is
 *    round, not horizontal: crossing traffic moves mostly sideways, but objects coming closer or going away,
 *    and a pitching camera, move them up and down too. Only tracks seen once take part: a track with a
 *    velocity is predicted, and when no segment meets its prediction, a segment elsewhere is more often
 *    another object (tried on the validation video: ended cars' ids went to new cars nearby).
 * 7. **Update.** A matched track takes its segment's pixels as its new mask, plus the predicted pixels that
 *    another segment of this frame now covers (at most as many as the predicted mask has more than the
 *    segment: what the object lost to occluders), so the mask of an object going behind another keeps its
 *    whole extent (amodal) and is found again when the object comes out. Its velocity becomes the centroid
 *    displacement per frame since it was last seen, smoothed: `v = d` at the second sighting, then
 *    `v = VELOCITY_SMOOTHING * d + (1 - VELOCITY_SMOOTHING) * v`. Every unmatched segment starts a new track
 *    (no velocity yet). An unmatched track keeps its last mask and velocity (it is *lost*, and can be matched in a
 *    later frame, predicted further along), until it has been missing from more than `maxAge` frames: it
 *    then ends, and is reported once in `ended`.
 *
 * Association `'box'` is the simpler baseline the evaluation compares with: the same expiry, constant-velocity
 * prediction (of the box, by the box centre's displacement), class check and greedy matching by IoU (stage 1's
 * IoU rule only: no containment rule, no stages 2-3), with the IoU of the (inclusive) boxes; no pixel is read.
 *
 * Masks are kept as horizontal runs sorted by row then column, runs that touch joined (an Int32Array per
 * track). Memory is bounded by the tracks alive (seen within `maxAge + 1` frames) and their masks, and their
 * number by `maxTracks` (past it, the lost tracks seen longest ago end early: a stream of noise cannot grow
 * it); nothing grows with the stream's length. Scratch arrays are reused across frames; no allocation
 * happens per pixel.
 */
import { MAX_TRACK_ID } from '../../../wire/src/panoptic.js';

/** How a stream's instances are tracked. */
export interface TrackingParameters {
  /** A segment continues a track when their masks' IoU is at least this, and their classes agree. In (0, 1]. */
  readonly iouThreshold: number;
  /**
   * Frames a lost track is kept (and can be found again) after its last frame; then it ends. A whole number
   * >= 0: a track may be missing from up to `maxAge` consecutive frames and go on with its id; missing from
   * `maxAge + 1`, it ends (0: a track must be seen in every frame).
   */
  readonly maxAge: number;
  /** 'mask' (default): mask-overlap IoU. 'box': box IoU, the simpler baseline the evaluation compares with. */
  readonly association?: 'mask' | 'box';
  /** Largest id to number (default MAX_TRACK_ID); past it update() throws TrackIdsExhausted. */
  readonly maxTrackId?: number;
  /**
   * Most tracks held, live and lost (default MAX_HELD_TRACKS): past it the lost tracks seen longest ago end
   * early, so a stream of noise (thousands of specks a frame, each a track kept for `maxAge` frames) cannot
   * grow the tracker's memory without bound. A frame's own instances are always tracked.
   */
  readonly maxTracks?: number;
  /**
   * Most instances of one frame associated (default MAX_TRACKED_SEGMENTS): past it the smallest ones get
   * new ids of their own, born and ended in that frame, so that association's cost (on the main thread)
   * stays bounded whatever a frame holds (a frame of noise can hold tens of thousands of specks).
   */
  readonly maxSegments?: number;
}

/** The default of `maxSegments`: street scenes hold a few hundred instances at most. */
export const MAX_TRACKED_SEGMENTS = 1024;

/** The default of `maxTracks`: far above the objects of any street scene, small enough to bound memory. */
export const MAX_HELD_TRACKS = 4096;

/**
 * One instance of a frame, as fusion reports it. `box` and `area` describe the instance's pixels in the map
 * (box: inclusive pixel bounds x0, y0, x1, y1); mask association searches the box for them, and scans the
 * whole map instead when the box does not hold `area` of them. `score` is not used.
 */
export interface TrackInput {
  /** The instance's id in this frame's map: an integer in 1..MAX_INPUT_ID, unique within the frame. */
  readonly id: number;
  /** Its class: a track only continues with segments of its own class. */
  readonly classId: number;
  /** Its detection score (not used by the tracker). */
  readonly score: number;
  /** Its pixels in the map. */
  readonly area: number;
  /** Inclusive pixel bounds of its pixels: x0, y0, x1, y1. */
  readonly box: readonly [number, number, number, number];
}

/** A track that ended: missing from more than `maxAge` frames, or ended by `finish()`. */
export interface EndedTrack {
  readonly trackId: number;
  readonly classId: number;
  /** The index of the frame the track began in. */
  readonly firstIndex: number;
  /** The index of the last frame the track was seen in. */
  readonly lastIndex: number;
  /** Frames the track was seen in (matched, or born), from firstIndex to lastIndex. */
  readonly framesSeen: number;
}

/** What tracking gave one frame. Its arrays are the caller's (not reused by the tracker). */
export interface TrackedFrame {
  /** trackOf[id] = the track id of input id `id` (0 for ids not among the segments). Length = max input id + 1. */
  readonly trackOf: Uint32Array;
  /**
   * For each input segment, by its input id (indexed like `trackOf`): firstIndexOf[id] = the index of the
   * frame its track began in (this frame's index for a track born now). 0 for ids not among the segments:
   * meaningful where trackOf[id] is not 0.
   */
  readonly firstIndexOf: Float64Array;
  /** Track ids that began in this frame, in the order of their segments in the input. */
  readonly born: readonly number[];
  /**
   * Tracks that ended at this frame: not seen for more than maxAge frames, lost ones ended early past
   * `maxTracks`, and this frame's instances past `maxSegments` (tracks of one frame). In track id order.
   */
  readonly ended: readonly EndedTrack[];
}

/** Thrown by `update()` when a new track would need an id above `maxTrackId`; the tracker is left unchanged. */
export class TrackIdsExhausted extends Error {
  constructor(maxTrackId: number, needed: number) {
    super(`track ids are exhausted: ${needed} new track(s) would pass the largest track id, ${maxTrackId}`);
    this.name = 'TrackIdsExhausted';
  }
}

/**
 * The defaults, chosen by the sweep in models/README.md (`npm run sweep`; STQ on the synthetic validation
 * video, every IoU threshold of 0.1, 0.2, 0.3, 0.5 with every max age of 0, 3, 10, 30):
 * - `iouThreshold` 0.1: the motion model puts a track's mask where its object should be, and classes must
 *   agree, so a low threshold mostly keeps objects that changed shape or were partly hidden; STQ fell and id
 *   switches rose at every step up (0.5 gave 4.5 times the switches).
 * - `maxAge` 30 frames: 3 s at 10 fps, 1 s at 30 fps, longer than an object passing behind another;
 *   0 (no occlusion handling) gave 4.6 times the id switches.
 */
export const DEFAULT_TRACKING: Required<
  Omit<TrackingParameters, 'association' | 'maxTrackId' | 'maxTracks' | 'maxSegments'>
> = Object.freeze({
  iouThreshold: 0.1,
  maxAge: 30,
});

/**
 * Stage 3's gate: a segment is within reach of a track seen once when its centroid lies within this many
 * extents (the larger box side of the track's mask or of the segment, whichever is larger) of the track's,
 * per frame since the track was seen.
 */
export const MOTION_FREE_REACH = 2;

/** Weight of the newest centroid displacement in a track's velocity (exponential smoothing). */
export const VELOCITY_SMOOTHING = 0.5;

/** The largest input (per-frame) instance id: `trackOf` and `firstIndexOf` are indexed by id. */
export const MAX_INPUT_ID = 2 ** 24 - 1;

/** Ints per run in a mask: row, first column, end column (exclusive). */
const RUN = 3;
/** Ints per piece (a run of a shifted track mask on one segment): row, first column, end column, slot. */
const PIECE = 4;

/** A track, live (seen in its last frame) or lost; its per-frame scratch is reset at every update. */
class Track {
  /** Horizontal runs (row, first column, end column exclusive) of the last mask; `runLength` ints are used. */
  runs: Int32Array<ArrayBuffer> = new Int32Array(0);
  runLength = 0;
  area = 0;
  /** Centroid of the last mask (mask association) or centre of the last box (box association). */
  cx = 0;
  cy = 0;
  vx = 0;
  vy = 0;
  /** Last box, inclusive (box association). */
  x0 = 0;
  y0 = 0;
  x1 = -1;
  y1 = -1;
  framesSeen = 1;

  // Per-frame scratch.
  dx = 0;
  dy = 0;
  predictedArea = 0;
  /** Its shifted mask's pieces on segments (PixelScratch.pieces). */
  pieceStart = 0;
  pieceEnd = 0;
  /** Overlap with all segments (mask association). */
  totalOverlap = 0;
  /** Overlap with the segments taken in stage 1. */
  coveredOverlap = 0;
  /** The segment matched this frame, or -1. */
  segment = -1;
  matchedOverlap = 0;
  /** Whether the segment was matched in stage 3 (away from the predicted mask: no hidden pixels are kept). */
  motionFree = false;

  constructor(
    readonly id: number,
    readonly classId: number,
    readonly firstIndex: number,
    public lastIndex: number,
  ) {}

  /** Takes `length` ints of `runs` as the mask (copied), and its centroid. */
  setMask(runs: Int32Array, length: number, area: number, cx: number, cy: number): void {
    // Reuse the buffer unless it is too small, or much too large (so a shrunken object frees memory).
    if (this.runs.length < length || this.runs.length > 4 * length + 64) this.runs = new Int32Array(length);
    this.runs.set(runs.subarray(0, length));
    this.runLength = length;
    this.area = area;
    this.cx = cx;
    this.cy = cy;
  }

  ended(): EndedTrack {
    return {
      trackId: this.id,
      classId: this.classId,
      firstIndex: this.firstIndex,
      lastIndex: this.lastIndex,
      framesSeen: this.framesSeen,
    };
  }
}

/** One candidate (track, segment) pair of the greedy matching. */
export interface MatchCandidate {
  /** The track's position among the tracks being matched (0-based). */
  readonly track: number;
  /** The segment's position in the input (0-based). */
  readonly segment: number;
  /** The pair's IoU: higher is taken first. */
  readonly score: number;
  /** The index of the last frame the track was seen in: on equal scores, the more recent track goes first. */
  readonly lastIndex: number;
  /** The track's id: then, the lower id goes first. */
  readonly trackId: number;
}

/** The greedy order: score descending, then lastIndex descending, then trackId and segment ascending. */
function greedyOrder(a: MatchCandidate, b: MatchCandidate): number {
  return b.score - a.score || b.lastIndex - a.lastIndex || a.trackId - b.trackId || a.segment - b.segment;
}

/**
 * Greedy matching (internal; exported for the tests): walks the candidates in the greedy order (score
 * descending; ties: the track seen more recently, then the lower track id, then the earlier segment) and takes
 * each whose track and segment are both still free. Returns the segment of each track (-1: none).
 */
export function matchGreedy(
  candidates: readonly MatchCandidate[],
  trackCount: number,
  segmentCount: number,
): Int32Array {
  const segmentOf = new Int32Array(trackCount).fill(-1);
  const segmentTaken = new Uint8Array(segmentCount);
  const sorted = [...candidates].sort(greedyOrder);
  for (const { track, segment } of sorted) {
    if (segmentOf[track] !== -1 || segmentTaken[segment] === 1) continue;
    segmentOf[track] = segment;
    segmentTaken[segment] = 1;
  }
  return segmentOf;
}

/** overlap / (a + b - overlap); 0 when both are empty. */
function iou(overlap: number, a: number, b: number): number {
  const union = a + b - overlap;
  return union > 0 ? overlap / union : 0;
}

/** A typed array at least `size` long, keeping the first `keep` values of `array`. */
function grown<T extends Int32Array<ArrayBuffer> | Float64Array<ArrayBuffer>>(array: T, size: number, keep = 0): T {
  if (array.length >= size) return array;
  const next = new (array.constructor as new (length: number) => T)(Math.max(size, 2 * array.length));
  if (keep > 0) next.set(array.subarray(0, keep));
  return next;
}

type InstanceMap = Uint16Array | Uint32Array;

/**
 * A 16-bit map seen two pixels at a time (one 32-bit word per pixel pair: the scans below compare pairs),
 * or undefined for a 32-bit map or one not aligned to 4 bytes. The view is cached for the map's buffer.
 */
function pairsOf(instance: InstanceMap): Uint32Array | undefined {
  if (!(instance instanceof Uint16Array) || instance.byteOffset % 4 !== 0) return undefined;
  if (pairsCache?.buffer === instance.buffer && pairsCache.byteOffset === instance.byteOffset) {
    if (pairsCache.length === instance.length >>> 1) return pairsCache;
  }
  pairsCache = new Uint32Array(instance.buffer, instance.byteOffset, instance.length >>> 1);
  return pairsCache;
}
let pairsCache: Uint32Array | undefined;

/** The first position in [p, end) whose id is not `v` (end if none). */
function sameUntil(instance: InstanceMap, pairs: Uint32Array | undefined, p: number, end: number, v: number): number {
  if (pairs !== undefined && end - p >= 8) {
    if ((p & 1) === 1) {
      if (instance[p] !== v) return p;
      p++;
    }
    // Both halves of a word equal v: the word equals v repeated (whatever the byte order).
    const pattern = (v | (v << 16)) >>> 0;
    let q = p >>> 1;
    const qEnd = end >>> 1;
    while (q < qEnd && pairs[q] === pattern) q++;
    p = q << 1;
  }
  while (p < end && instance[p] === v) p++;
  return p;
}

/** The first position in [p, end) whose id is `v` (end if none). */
function findId(instance: InstanceMap, pairs: Uint32Array | undefined, p: number, end: number, v: number): number {
  if (pairs !== undefined && end - p >= 8) {
    if ((p & 1) === 1) {
      if (instance[p] === v) return p;
      p++;
    }
    const pattern = v | (v << 16);
    let q = p >>> 1;
    const qEnd = end >>> 1;
    for (; q < qEnd; q++) {
      // A 16-bit half of x is zero where the word holds v: the classic has-a-zero-lane test.
      const x = pairs[q]! ^ pattern;
      if (((x - 0x10001) & ~x & 0x80008000) !== 0) break;
    }
    p = q << 1;
  }
  while (p < end && instance[p] !== v) p++;
  return p;
}

/**
 * The pixel work of mask association, with scratch arrays reused across frames: each segment's pixels as
 * runs, the (track, segment) overlaps of the shifted track masks, and a matched track's hidden pixels.
 */
class PixelScratch {
  /** slotOf[id] = 1 + the segment's input position, for the ids of the current frame; 0 elsewhere. */
  slotOf = new Int32Array(256);
  segmentRuns = new Int32Array(3 * 1024);
  segmentRunsLength = 0;
  segmentStart = new Int32Array(64);
  segmentEnd = new Int32Array(64);
  segmentArea = new Float64Array(64);
  segmentSumX = new Float64Array(64);
  segmentSumY = new Float64Array(64);
  counts = new Int32Array(65);
  touched = new Int32Array(65);
  pairTrack = new Int32Array(256);
  pairSegment = new Int32Array(256);
  pairOverlap = new Int32Array(256);
  pairCount = 0;
  /** The pieces of the tracks' shifted masks on segments, this frame; those of the last `overlap` call. */
  pieces = new Int32Array(4 * 1024);
  piecesLength = 0;
  pieceStart = 0;
  pieceEnd = 0;
  /** A mask being built (a matched track's new mask). */
  build = new Int32Array(3 * 1024);
  buildLength = 0;
  buildArea = 0;
  buildSumX = 0;
  buildSumY = 0;
  /** Whether the last `gather` needed the full-map scan. */
  fullScan = false;
  /**
   * The segments' runs by row: those of row y are rowRuns[3 * rowStart[y] .. 3 * rowStart[y + 1]], as
   * (first column, end column, slot), by column (disjoint: each pixel has one id).
   */
  readonly rowStart: Int32Array;
  readonly #rowCursor: Int32Array;
  rowRuns = new Int32Array(3 * 1024);

  constructor(
    readonly width: number,
    readonly height: number,
  ) {
    this.rowStart = new Int32Array(height + 1);
    this.#rowCursor = new Int32Array(height);
  }

  /** Numbers the frame's ids (slotOf); throws RangeError on a repeated id. Undo with `unbind`. */
  bind(segments: readonly TrackInput[], maxId: number): void {
    if (this.slotOf.length <= maxId) this.slotOf = new Int32Array(Math.max(maxId + 1, 2 * this.slotOf.length));
    const slotOf = this.slotOf;
    for (let s = 0; s < segments.length; s++) {
      const id = segments[s]!.id;
      const earlier = slotOf[id]! - 1;
      if (earlier !== -1) {
        this.unbind(segments, s);
        throw new RangeError(`segments[${s}].id ${id} repeats the id of segments[${earlier}]`);
      }
      slotOf[id] = s + 1;
    }
    const count = segments.length;
    if (this.counts.length <= count) {
      this.counts = new Int32Array(2 * count + 1);
      this.touched = new Int32Array(2 * count + 1);
    }
    if (this.segmentStart.length < count) {
      const size = 2 * count;
      this.segmentStart = new Int32Array(size);
      this.segmentEnd = new Int32Array(size);
      this.segmentArea = new Float64Array(size);
      this.segmentSumX = new Float64Array(size);
      this.segmentSumY = new Float64Array(size);
    }
    this.pairCount = 0;
    this.piecesLength = 0;
  }

  unbind(segments: readonly TrackInput[], count = segments.length): void {
    for (let s = 0; s < count; s++) this.slotOf[segments[s]!.id] = 0;
  }

  /** Appends one run to the segment runs. */
  #pushSegmentRun(y: number, start: number, end: number): void {
    if (this.segmentRunsLength + RUN > this.segmentRuns.length) {
      this.segmentRuns = grown(this.segmentRuns, this.segmentRunsLength + RUN, this.segmentRunsLength);
    }
    const runs = this.segmentRuns;
    const n = this.segmentRunsLength;
    runs[n] = y;
    runs[n + 1] = start;
    runs[n + 2] = end;
    this.segmentRunsLength = n + RUN;
  }

  /**
   * Each segment's pixels as runs (segmentRuns[segmentStart[s] .. segmentEnd[s]]), with their count and
   * coordinate sums: searched in the segment's box, or in the whole map when the boxes do not hold the
   * segments' areas.
   */
  gather(instance: InstanceMap, segments: readonly TrackInput[]): void {
    const { width, height } = this;
    const pairs = pairsOf(instance);
    this.segmentRunsLength = 0;
    this.fullScan = false;
    for (let s = 0; s < segments.length; s++) {
      const { id, box } = segments[s]!;
      const x0 = Math.max(0, Math.floor(box[0]));
      const y0 = Math.max(0, Math.floor(box[1]));
      const x1 = Math.min(width - 1, Math.ceil(box[2]));
      const y1 = Math.min(height - 1, Math.ceil(box[3]));
      this.segmentStart[s] = this.segmentRunsLength;
      let area = 0;
      let sumX = 0;
      let sumY = 0;
      for (let y = y0; y <= y1; y++) {
        const row = y * width;
        const end = row + x1 + 1;
        let p = row + x0;
        for (;;) {
          p = findId(instance, pairs, p, end, id);
          if (p === end) break;
          const start = p;
          p = sameUntil(instance, pairs, p + 1, end, id);
          this.#pushSegmentRun(y, start - row, p - row);
          const n = p - start;
          area += n;
          sumX += ((start - row + (p - row) - 1) * n) / 2;
          sumY += y * n;
        }
      }
      this.segmentEnd[s] = this.segmentRunsLength;
      this.segmentArea[s] = area;
      this.segmentSumX[s] = sumX;
      this.segmentSumY[s] = sumY;
      if (area !== segments[s]!.area) {
        this.#gatherFullScan(instance, segments);
        break;
      }
    }
    this.#indexRows(segments.length);
  }

  /** Files the segments' runs by row (a counting sort), each row's by column (an insertion sort). */
  #indexRows(count: number): void {
    const { height, rowStart, segmentRuns, segmentStart, segmentEnd } = this;
    const cursor = this.#rowCursor;
    rowStart.fill(0);
    for (let s = 0; s < count; s++) {
      for (let r = segmentStart[s]!; r < segmentEnd[s]!; r += RUN) rowStart[segmentRuns[r]! + 1]!++;
    }
    for (let y = 0; y < height; y++) {
      cursor[y] = rowStart[y]!;
      rowStart[y + 1] = rowStart[y + 1]! + rowStart[y]!;
    }
    const rowRuns = (this.rowRuns = grown(this.rowRuns, RUN * rowStart[height]!));
    for (let s = 0; s < count; s++) {
      for (let r = segmentStart[s]!; r < segmentEnd[s]!; r += RUN) {
        const k = RUN * cursor[segmentRuns[r]!]!++;
        rowRuns[k] = segmentRuns[r + 1]!;
        rowRuns[k + 1] = segmentRuns[r + 2]!;
        rowRuns[k + 2] = s + 1;
      }
    }
    for (let y = 0; y < height; y++) {
      const first = RUN * rowStart[y]!;
      const end = RUN * rowStart[y + 1]!;
      for (let i = first + RUN; i < end; i += RUN) {
        const start = rowRuns[i]!;
        if (rowRuns[i - RUN]! <= start) continue;
        const stop = rowRuns[i + 1]!;
        const slot = rowRuns[i + 2]!;
        let j = i - RUN;
        for (; j >= first && rowRuns[j]! > start; j -= RUN) {
          rowRuns[j + RUN] = rowRuns[j]!;
          rowRuns[j + RUN + 1] = rowRuns[j + 1]!;
          rowRuns[j + RUN + 2] = rowRuns[j + 2]!;
        }
        rowRuns[j + RUN] = start;
        rowRuns[j + RUN + 1] = stop;
        rowRuns[j + RUN + 2] = slot;
      }
    }
  }

  /** `gather` by scanning the whole map: two passes (count each segment's runs, then write them in place). */
  #gatherFullScan(instance: InstanceMap, segments: readonly TrackInput[]): void {
    this.fullScan = true;
    const { width, height, slotOf } = this;
    const count = segments.length;
    const limit = slotOf.length;
    const pairs = pairsOf(instance);
    const runCount = this.counts; // counts is zero between uses, and at least count + 1 long
    for (let y = 0; y < height; y++) {
      const row = y * width;
      let x = 0;
      while (x < width) {
        const v = instance[row + x]!;
        const start = x;
        x = sameUntil(instance, pairs, row + x + 1, row + width, v) - row;
        const slot = v < limit ? slotOf[v]! : 0;
        if (slot !== 0 && start < x) runCount[slot]!++;
      }
    }
    let total = 0;
    for (let s = 0; s < count; s++) {
      this.segmentStart[s] = total;
      this.segmentEnd[s] = total; // advanced as runs are written
      total += RUN * runCount[s + 1]!;
      runCount[s + 1] = 0;
      this.segmentArea[s] = 0;
      this.segmentSumX[s] = 0;
      this.segmentSumY[s] = 0;
    }
    this.segmentRuns = grown(this.segmentRuns, total);
    this.segmentRunsLength = total;
    const runs = this.segmentRuns;
    for (let y = 0; y < height; y++) {
      const row = y * width;
      let x = 0;
      while (x < width) {
        const v = instance[row + x]!;
        const start = x;
        x = sameUntil(instance, pairs, row + x + 1, row + width, v) - row;
        const slot = v < limit ? slotOf[v]! : 0;
        if (slot === 0) continue;
        const s = slot - 1;
        const n = this.segmentEnd[s]!;
        runs[n] = y;
        runs[n + 1] = start;
        runs[n + 2] = x;
        this.segmentEnd[s] = n + RUN;
        const length = x - start;
        this.segmentArea[s] = this.segmentArea[s]! + length;
        this.segmentSumX[s] = this.segmentSumX[s]! + ((start + x - 1) * length) / 2;
        this.segmentSumY[s] = this.segmentSumY[s]! + y * length;
      }
    }
  }

  /**
   * One track's mask, shifted by (dx, dy) and clipped, against the segments: appends a (track, segment,
   * overlap) pair for every segment it overlaps, and returns the shifted mask's area (its pixels inside the
   * image). One pass over the mask's runs, each intersected with the segment runs of its row (found by binary
   * search): the pixels are counted without being read one by one. The intersections are kept as pieces
   * (row, first column, end column, slot) in `pieces[pieceStart .. pieceEnd]`, for `buildMask`.
   */
  overlap(track: number, runs: Int32Array, runLength: number, dx: number, dy: number): number {
    const { width, height, counts, touched, rowStart, rowRuns } = this;
    let area = 0;
    let touchedCount = 0;
    let pieces = this.pieces;
    let n = this.piecesLength;
    this.pieceStart = n;
    for (let r = 0; r < runLength; r += RUN) {
      const y = runs[r]! + dy;
      if (y < 0 || y >= height) continue;
      let a = runs[r + 1]! + dx;
      let b = runs[r + 2]! + dx;
      if (a < 0) a = 0;
      if (b > width) b = width;
      if (a >= b) continue;
      area += b - a;
      // The first segment run of the row ending after a (ends increase with starts: the runs are disjoint).
      let lo = rowStart[y]!;
      let hi = rowStart[y + 1]!;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (rowRuns[RUN * mid + 1]! <= a) lo = mid + 1;
        else hi = mid;
      }
      const last = rowStart[y + 1]!;
      for (let k = RUN * lo, kEnd = RUN * last; k < kEnd; k += RUN) {
        const start = rowRuns[k]!;
        if (start >= b) break;
        const from = start > a ? start : a;
        const end = rowRuns[k + 1]!;
        const to = end < b ? end : b;
        const slot = rowRuns[k + 2]!;
        if (counts[slot] === 0) touched[touchedCount++] = slot;
        counts[slot] = counts[slot]! + to - from;
        if (n + PIECE > pieces.length) pieces = this.pieces = grown(pieces, n + PIECE, n);
        pieces[n] = y;
        pieces[n + 1] = from;
        pieces[n + 2] = to;
        pieces[n + 3] = slot;
        n += PIECE;
      }
    }
    this.piecesLength = n;
    this.pieceEnd = this.piecesLength;
    if (this.pairCount + touchedCount > this.pairTrack.length) {
      const size = 2 * (this.pairCount + touchedCount);
      this.pairTrack = grown(this.pairTrack, size, this.pairCount);
      this.pairSegment = grown(this.pairSegment, size, this.pairCount);
      this.pairOverlap = grown(this.pairOverlap, size, this.pairCount);
    }
    for (let k = 0; k < touchedCount; k++) {
      const slot = touched[k]!;
      const n = this.pairCount++;
      this.pairTrack[n] = track;
      this.pairSegment[n] = slot - 1;
      this.pairOverlap[n] = counts[slot]!;
      counts[slot] = 0;
    }
    return area;
  }

  /**
   * A new mask in `build`: segment `s`'s runs and, when `cap` > 0, the pixels of a track's shifted mask that
   * a segment other than `s` covers (an object in front of it), at most `cap` of them, in run order (the
   * track's pieces `pieces[from .. to]` from `overlap`). The two run lists, each by row then column, are
   * merged so, and runs that touch are joined: masks stay sorted and unfragmented.
   */
  buildMask(s: number, from = 0, to = 0, cap = 0): void {
    const start = this.segmentStart[s]!;
    const end = this.segmentEnd[s]!;
    const length = end - start;
    const runs = this.segmentRuns;
    this.buildArea = this.segmentArea[s]!;
    this.buildSumX = this.segmentSumX[s]!;
    this.buildSumY = this.segmentSumY[s]!;
    if (cap <= 0 || from === to) {
      this.build = grown(this.build, length);
      this.build.set(runs.subarray(start, end));
      this.buildLength = length;
      return;
    }
    const pieces = this.pieces;
    const ownSlot = s + 1;
    // Runs from the segment and at most one hidden piece per piece: room for both.
    const build = (this.build = grown(this.build, length + (RUN * (to - from)) / PIECE));
    let n = 0;
    let left = cap;
    let i = start;
    let k = from;
    let area = 0;
    let sumX = 0;
    let sumY = 0;
    for (;;) {
      // The next hidden piece: one on another segment, while the cap lasts.
      if (left <= 0) k = to;
      while (k < to && pieces[k + 3] === ownSlot) k += PIECE;
      let y: number;
      let a: number;
      let b: number;
      if (k < to && (i >= end || pieces[k]! < runs[i]! || (pieces[k] === runs[i] && pieces[k + 1]! < runs[i + 1]!))) {
        y = pieces[k]!;
        a = pieces[k + 1]!;
        b = Math.min(pieces[k + 2]!, a + left);
        left -= b - a;
        area += b - a;
        sumX += ((a + b - 1) * (b - a)) / 2;
        sumY += y * (b - a);
        k += PIECE;
      } else if (i < end) {
        y = runs[i]!;
        a = runs[i + 1]!;
        b = runs[i + 2]!;
        i += RUN;
      } else {
        break;
      }
      if (n > 0 && build[n - RUN] === y && build[n - 1] === a) {
        build[n - 1] = b;
      } else {
        build[n] = y;
        build[n + 1] = a;
        build[n + 2] = b;
        n += RUN;
      }
    }
    this.buildLength = n;
    this.buildArea += area;
    this.buildSumX += sumX;
    this.buildSumY += sumY;
  }

  /**
   * The overlap of a track's mask, shifted by (dx, dy) and clipped, with segment `s` alone; the shifted mask's
   * area inside the image is left in `shiftedArea`. One merge of the two run lists (both by row then column).
   */
  overlapWith(runs: Int32Array, runLength: number, dx: number, dy: number, s: number): number {
    const { width, height, segmentRuns } = this;
    const end = this.segmentEnd[s]!;
    let j = this.segmentStart[s]!;
    let area = 0;
    let overlap = 0;
    for (let r = 0; r < runLength; r += RUN) {
      const y = runs[r]! + dy;
      if (y < 0 || y >= height) continue;
      const a = Math.max(0, runs[r + 1]! + dx);
      const b = Math.min(width, runs[r + 2]! + dx);
      if (a >= b) continue;
      area += b - a;
      // Skip the segment's runs that end before this one (on rows above, or ending at or left of a).
      while (j < end && (segmentRuns[j]! < y || (segmentRuns[j] === y && segmentRuns[j + 2]! <= a))) j += RUN;
      for (let k = j; k < end && segmentRuns[k] === y && segmentRuns[k + 1]! < b; k += RUN) {
        overlap += Math.min(b, segmentRuns[k + 2]!) - Math.max(a, segmentRuns[k + 1]!);
      }
    }
    this.shiftedArea = area;
    return overlap;
  }
  shiftedArea = 0;
}

/** A shifted mask, for `pairwiseOverlaps`. */
export interface ShiftedMask {
  /** Runs: row, first column, end column (exclusive), 3 ints each. */
  readonly runs: Int32Array;
  readonly dx: number;
  readonly dy: number;
}

/** What `pairwiseOverlaps` found. */
export interface PairwiseOverlaps {
  /** Each mask's pixels inside the image after its shift. */
  readonly maskAreas: number[];
  /** Each segment's pixels in the map. */
  readonly segmentAreas: number[];
  /** Each segment's pixels, as runs. */
  readonly segmentRuns: Int32Array[];
  /** Every (mask, segment) pair that overlaps, with its plain IoU. */
  readonly pairs: { mask: number; segment: number; overlap: number; iou: number }[];
  /** Whether the segments were gathered by a full-map scan (their boxes did not hold their areas). */
  readonly fullScan: boolean;
}

/**
 * The tracker's pixel pass on its own (internal; exported for the tests): the segments' pixels gathered as
 * the tracker gathers them, and the overlap of every (mask, segment) pair counted in one pass over the
 * shifted masks' runs.
 */
export function pairwiseOverlaps(
  width: number,
  height: number,
  instance: InstanceMap,
  segments: readonly TrackInput[],
  masks: readonly ShiftedMask[],
): PairwiseOverlaps {
  const scratch = new PixelScratch(width, height);
  scratch.bind(segments, Math.max(0, ...segments.map((s) => s.id)));
  try {
    scratch.gather(instance, segments);
    const maskAreas = masks.map((m, t) => scratch.overlap(t, m.runs, m.runs.length, m.dx, m.dy));
    const segmentAreas = segments.map((_, s) => scratch.segmentArea[s]!);
    const pairs = Array.from({ length: scratch.pairCount }, (_, k) => {
      const mask = scratch.pairTrack[k]!;
      const segment = scratch.pairSegment[k]!;
      const overlap = scratch.pairOverlap[k]!;
      return { mask, segment, overlap, iou: iou(overlap, maskAreas[mask]!, segmentAreas[segment]!) };
    });
    const segmentRuns = segments.map((_, s) =>
      scratch.segmentRuns.slice(scratch.segmentStart[s], scratch.segmentEnd[s]),
    );
    return { maskAreas, segmentAreas, segmentRuns, pairs, fullScan: scratch.fullScan };
  } finally {
    scratch.unbind(segments);
  }
}

function checkInteger(name: string, value: number, min: number, max: number): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(`${name} must be a whole number from ${min} to ${max}, got ${String(value)}`);
  }
}

/** Matches `stage`'s candidates greedily and records them: each taken track's segment, and the segments taken. */
function takeMatches(
  stage: readonly MatchCandidate[],
  candidates: readonly { segment: number }[],
  taken: Uint8Array,
): void {
  if (stage.length === 0) return;
  const segmentOf = matchGreedy(stage, candidates.length, taken.length);
  for (let t = 0; t < candidates.length; t++) {
    const s = segmentOf[t]!;
    if (s === -1) continue;
    candidates[t]!.segment = s;
    taken[s] = 1;
  }
}

/**
 * The tracker of one stream (see the module's documentation for the algorithm). Frames are given in order;
 * `update` is synchronous and meant for the main thread: its cost is the pixels of the segments' boxes and
 * of the tracks' masks (well under a millisecond at 512x256 with 50 segments).
 */
export class Tracker {
  readonly #width: number;
  readonly #height: number;
  readonly #iouThreshold: number;
  readonly #maxAge: number;
  readonly #association: 'mask' | 'box';
  readonly #maxTrackId: number;
  readonly #maxTracks: number;
  readonly #maxSegments: number;
  readonly #pixels: PixelScratch;
  /** Live and lost tracks, by id ascending. */
  #tracks: Track[] = [];
  #nextId = 1;
  #lastIndex = -1;

  constructor(width: number, height: number, parameters: TrackingParameters) {
    checkInteger('width', width, 1, 2 ** 15);
    checkInteger('height', height, 1, 2 ** 15);
    const {
      iouThreshold,
      maxAge,
      association = 'mask',
      maxTrackId = MAX_TRACK_ID,
      maxTracks = MAX_HELD_TRACKS,
      maxSegments = MAX_TRACKED_SEGMENTS,
    } = parameters;
    if (typeof iouThreshold !== 'number' || !(iouThreshold > 0 && iouThreshold <= 1)) {
      throw new RangeError(`iouThreshold must be above 0 and at most 1, got ${String(iouThreshold)}`);
    }
    checkInteger('maxAge', maxAge, 0, Number.MAX_SAFE_INTEGER);
    if (association !== 'mask' && association !== 'box') {
      throw new RangeError(`association must be 'mask' or 'box', got ${String(association)}`);
    }
    checkInteger('maxTrackId', maxTrackId, 1, MAX_TRACK_ID);
    checkInteger('maxTracks', maxTracks, 1, MAX_TRACK_ID);
    checkInteger('maxSegments', maxSegments, 1, MAX_INPUT_ID);
    this.#width = width;
    this.#height = height;
    this.#iouThreshold = iouThreshold;
    this.#maxAge = maxAge;
    this.#association = association;
    this.#maxTrackId = maxTrackId;
    this.#maxTracks = maxTracks;
    this.#maxSegments = maxSegments;
    this.#pixels = new PixelScratch(width, height);
  }

  /** Tracks held: live ones and lost ones not yet ended. */
  get activeTracks(): number {
    return this.#tracks.length;
  }

  /**
   * The mask a live or lost track holds, a copy: runs (row, first column, end column exclusive, 3 ints
   * each) by row then column; undefined for a track that ended or never was. For tests and debugging.
   */
  maskOf(trackId: number): Int32Array | undefined {
    const track = this.#tracks.find((t) => t.id === trackId);
    return track?.runs.slice(0, track.runLength);
  }

  /** The id the next new track will get. */
  get nextTrackId(): number {
    return this.#nextId;
  }

  /**
   * Tracks one frame. `index`: the frame's position in the stream (strictly increasing; gaps are frames that
   * were dropped and count toward age). `instance`: the frame's instance map (width x height, row-major,
   * 0 = no instance). `segments`: its instances. Throws RangeError on bad input and TrackIdsExhausted when
   * the new tracks would pass `maxTrackId`; the tracker is unchanged when it throws.
   */
  update(index: number, instance: Uint16Array | Uint32Array, input: readonly TrackInput[]): TrackedFrame {
    const maxId = this.#validate(index, instance, input);
    const { segments, overflow } = this.#tracked(input);
    const mask = this.#association === 'mask';
    const tracks = this.#tracks;
    const pixels = this.#pixels;
    const maxAge = this.#maxAge;

    // Candidates: the tracks missing from at most maxAge frames before this one.
    const candidates: Track[] = [];
    for (const track of tracks) {
      track.segment = -1;
      track.motionFree = false;
      if (index - track.lastIndex <= maxAge + 1) candidates.push(track);
    }
    let births = 0;
    if (mask) pixels.bind(segments, maxId);
    try {
      if (mask) {
        pixels.gather(instance, segments);
        this.#matchMasks(candidates, segments, index);
      } else {
        this.#matchBoxes(candidates, segments, index);
      }
      const segmentTaken = new Uint8Array(segments.length);
      for (const track of candidates) if (track.segment !== -1) segmentTaken[track.segment] = 1;
      for (let s = 0; s < segments.length; s++) if (segmentTaken[s] === 0) births++;
      births += overflow.length;
      if (births > 0 && this.#nextId + births - 1 > this.#maxTrackId) {
        throw new TrackIdsExhausted(this.#maxTrackId, births);
      }

      // Commit.
      const trackOf = new Uint32Array(maxId + 1);
      const firstIndexOf = new Float64Array(maxId + 1);
      for (const track of candidates) {
        if (track.segment === -1) continue;
        const segment = segments[track.segment]!;
        if (mask) this.#continueMask(track, index);
        else this.#continueBox(track, segment, index);
        trackOf[segment.id] = track.id;
        firstIndexOf[segment.id] = track.firstIndex;
      }
      const ended: EndedTrack[] = [];
      const kept: Track[] = [];
      for (const track of tracks) {
        if (track.segment === -1 && index - track.lastIndex > maxAge) ended.push(track.ended());
        else kept.push(track);
      }
      const born: number[] = [];
      for (let s = 0; s < segments.length; s++) {
        if (segmentTaken[s] === 1) continue;
        const segment = segments[s]!;
        const track = new Track(this.#nextId++, segment.classId, index, index);
        if (mask) {
          pixels.buildMask(s);
          const area = pixels.buildArea;
          track.setMask(
            pixels.build,
            pixels.buildLength,
            area,
            area > 0 ? pixels.buildSumX / area : 0,
            area > 0 ? pixels.buildSumY / area : 0,
          );
        } else {
          this.#setBox(track, segment);
        }
        kept.push(track);
        born.push(track.id);
        trackOf[segment.id] = track.id;
        firstIndexOf[segment.id] = index;
      }
      this.#tracks = this.#withinCap(kept, index, ended);
      // Past maxSegments, the smallest instances get ids of their own, not followed: tracks of one frame.
      for (const segment of overflow) {
        const id = this.#nextId++;
        trackOf[segment.id] = id;
        firstIndexOf[segment.id] = index;
        born.push(id);
        ended.push({ trackId: id, classId: segment.classId, firstIndex: index, lastIndex: index, framesSeen: 1 });
      }
      this.#lastIndex = index;
      return { trackOf, firstIndexOf, born, ended };
    } finally {
      if (mask) pixels.unbind(segments);
    }
  }

  /** The instances to associate (the `maxSegments` largest, in input order) and the others. */
  #tracked(input: readonly TrackInput[]): { segments: readonly TrackInput[]; overflow: readonly TrackInput[] } {
    if (input.length <= this.#maxSegments) return { segments: input, overflow: [] };
    const order = input.map((_, s) => s).sort((a, b) => input[b]!.area - input[a]!.area || a - b);
    const keep = new Uint8Array(input.length);
    for (const s of order.slice(0, this.#maxSegments)) keep[s] = 1;
    return { segments: input.filter((_, s) => keep[s] === 1), overflow: input.filter((_, s) => keep[s] === 0) };
  }

  /**
   * `kept` (by id) within `maxTracks`: the lost tracks seen longest ago end first (added to `ended`, which
   * stays in id order); tracks seen in frame `index` always stay.
   */
  #withinCap(kept: Track[], index: number, ended: EndedTrack[]): Track[] {
    const excess = kept.length - this.#maxTracks;
    if (excess <= 0) return kept;
    const lost = kept.filter((track) => track.lastIndex !== index);
    lost.sort((a, b) => a.lastIndex - b.lastIndex || a.id - b.id);
    const ending = new Set(lost.slice(0, excess));
    if (ending.size === 0) return kept;
    for (const track of ending) ended.push(track.ended());
    ended.sort((a, b) => a.trackId - b.trackId);
    return kept.filter((track) => !ending.has(track));
  }

  /** Ends every live and lost track (the stream ended) and returns them, by id. Later ids stay unused. */
  finish(): EndedTrack[] {
    const ended = this.#tracks.map((track) => track.ended());
    this.#tracks = [];
    return ended;
  }

  /** Checks a frame's input; returns its largest id. */
  #validate(index: number, instance: Uint16Array | Uint32Array, segments: readonly TrackInput[]): number {
    if (!Number.isSafeInteger(index) || index < 0) {
      throw new RangeError(`index must be a whole number >= 0, got ${String(index)}`);
    }
    if (index <= this.#lastIndex) {
      throw new RangeError(`index must increase from frame to frame: got ${index} after ${this.#lastIndex}`);
    }
    if (instance.length !== this.#width * this.#height) {
      throw new RangeError(
        `the instance map has ${instance.length} pixels; the tracker's maps are ${this.#width}x${this.#height}`,
      );
    }
    let maxId = 0;
    for (let s = 0; s < segments.length; s++) {
      const { id, classId, box, area } = segments[s]!;
      if (!Number.isInteger(id) || id < 1 || id > MAX_INPUT_ID) {
        throw new RangeError(`segments[${s}].id must be a whole number from 1 to ${MAX_INPUT_ID}, got ${String(id)}`);
      }
      if (!Number.isInteger(classId)) throw new RangeError(`segments[${s}].classId must be a whole number`);
      if (!Number.isFinite(area) || !box.every(Number.isFinite)) {
        throw new RangeError(`segments[${s}] needs a finite area and box`);
      }
      if (id > maxId) maxId = id;
    }
    return maxId;
  }

  /** Stages 1 to 3 of mask association: sets `segment` (and `matchedOverlap`) of the matched candidates. */
  #matchMasks(candidates: readonly Track[], segments: readonly TrackInput[], index: number): void {
    const pixels = this.#pixels;
    const threshold = this.#iouThreshold;
    for (let t = 0; t < candidates.length; t++) {
      const track = candidates[t]!;
      predictShift(track, index);
      track.predictedArea = pixels.overlap(t, track.runs, track.runLength, track.dx, track.dy);
      track.pieceStart = pixels.pieceStart;
      track.pieceEnd = pixels.pieceEnd;
      track.totalOverlap = 0;
      track.coveredOverlap = 0;
    }
    const { pairTrack, pairSegment, pairOverlap, pairCount, segmentArea } = pixels;
    // Stage 1: plain IoU of the predicted mask and the segment.
    const stage1: MatchCandidate[] = [];
    for (let k = 0; k < pairCount; k++) {
      const t = pairTrack[k]!;
      const s = pairSegment[k]!;
      const overlap = pairOverlap[k]!;
      const track = candidates[t]!;
      track.totalOverlap += overlap;
      if (track.classId !== segments[s]!.classId) continue;
      const score = iou(overlap, track.predictedArea, segmentArea[s]!);
      if (score >= threshold || (motionUnknown(track) && 2 * overlap >= Math.min(track.predictedArea, segmentArea[s]!)))
        stage1.push({ track: t, segment: s, score, lastIndex: track.lastIndex, trackId: track.id });
    }
    const taken = new Uint8Array(segments.length);
    takeMatches(stage1, candidates, taken);
    // Stage 2: the leftovers, with the predicted pixels on segments taken in stage 1 left out (hidden).
    for (let k = 0; k < pairCount; k++) {
      if (taken[pairSegment[k]!] === 1) candidates[pairTrack[k]!]!.coveredOverlap += pairOverlap[k]!;
    }
    const stage2: MatchCandidate[] = [];
    for (let k = 0; k < pairCount; k++) {
      const t = pairTrack[k]!;
      const s = pairSegment[k]!;
      const track = candidates[t]!;
      if (track.segment !== -1 || taken[s] === 1 || track.coveredOverlap === 0) continue;
      if (track.classId !== segments[s]!.classId) continue;
      const score = iou(pairOverlap[k]!, track.predictedArea - track.coveredOverlap, segmentArea[s]!);
      if (score >= threshold)
        stage2.push({ track: t, segment: s, score, lastIndex: track.lastIndex, trackId: track.id });
    }
    takeMatches(stage2, candidates, taken);
    for (let k = 0; k < pairCount; k++) {
      const track = candidates[pairTrack[k]!]!;
      if (track.segment === pairSegment[k]) track.matchedOverlap = pairOverlap[k]!;
    }
    this.#matchMotionFree(candidates, segments, taken, index);
  }

  /**
   * Stage 3 of mask association: the tracks left over whose motion is not known yet, and the segments left
   * over, by centroid distance (gated) and centroid-aligned mask IoU. Sets `segment` and `motionFree`.
   */
  #matchMotionFree(
    candidates: readonly Track[],
    segments: readonly TrackInput[],
    taken: Uint8Array,
    index: number,
  ): void {
    const pixels = this.#pixels;
    const { segmentArea, segmentSumX, segmentSumY, segmentRuns, segmentStart, segmentEnd } = pixels;
    let segmentExtent: Float64Array | undefined;
    const stage3: MatchCandidate[] = [];
    for (let t = 0; t < candidates.length; t++) {
      const track = candidates[t]!;
      if (track.segment !== -1 || !motionUnknown(track) || track.area === 0) continue;
      const frames = index - track.lastIndex;
      const trackExtent = extentOf(track.runs, 0, track.runLength);
      for (let s = 0; s < segments.length; s++) {
        const area = segmentArea[s]!;
        if (taken[s] === 1 || area === 0 || segments[s]!.classId !== track.classId) continue;
        if (segmentExtent === undefined) {
          segmentExtent = new Float64Array(segments.length);
          for (let i = 0; i < segments.length; i++) {
            segmentExtent[i] = extentOf(segmentRuns, segmentStart[i]!, segmentEnd[i]!);
          }
        }
        const sx = segmentSumX[s]! / area;
        const sy = segmentSumY[s]! / area;
        const reach = MOTION_FREE_REACH * Math.max(trackExtent, segmentExtent[s]!) * frames;
        const distance = Math.hypot(sx - track.cx - track.dx, sy - track.cy - track.dy);
        if (distance > reach) continue;
        const dx = Math.round(sx - track.cx) | 0;
        const dy = Math.round(sy - track.cy) | 0;
        const overlap = pixels.overlapWith(track.runs, track.runLength, dx, dy, s);
        if (2 * overlap < Math.min(pixels.shiftedArea, area)) continue;
        stage3.push({
          track: t,
          segment: s,
          score: 1 - distance / reach,
          lastIndex: track.lastIndex,
          trackId: track.id,
        });
      }
    }
    if (stage3.length === 0) return;
    const segmentOf = matchGreedy(stage3, candidates.length, segments.length);
    for (let t = 0; t < candidates.length; t++) {
      const s = segmentOf[t]!;
      if (s === -1) continue;
      candidates[t]!.segment = s;
      candidates[t]!.motionFree = true;
      taken[s] = 1;
    }
  }

  /** Box association (stage 1 only): sets `segment` of the matched candidates. */
  #matchBoxes(candidates: readonly Track[], segments: readonly TrackInput[], index: number): void {
    const width = this.#width;
    const height = this.#height;
    const threshold = this.#iouThreshold;
    const boxes = segments.map((segment) => clippedBox(segment.box, segment.area, width, height));
    const pairs: MatchCandidate[] = [];
    for (let t = 0; t < candidates.length; t++) {
      const track = candidates[t]!;
      predictShift(track, index);
      const px0 = Math.max(0, track.x0 + track.dx);
      const py0 = Math.max(0, track.y0 + track.dy);
      const px1 = Math.min(width - 1, track.x1 + track.dx);
      const py1 = Math.min(height - 1, track.y1 + track.dy);
      if (px0 > px1 || py0 > py1) continue;
      const trackArea = (px1 - px0 + 1) * (py1 - py0 + 1);
      for (let s = 0; s < segments.length; s++) {
        const box = boxes[s];
        if (box === undefined || segments[s]!.classId !== track.classId) continue;
        const w = Math.min(px1, box[2]) - Math.max(px0, box[0]) + 1;
        const h = Math.min(py1, box[3]) - Math.max(py0, box[1]) + 1;
        if (w <= 0 || h <= 0) continue;
        const boxArea = (box[2] - box[0] + 1) * (box[3] - box[1] + 1);
        const score = iou(w * h, trackArea, boxArea);
        if (score >= threshold)
          pairs.push({ track: t, segment: s, score, lastIndex: track.lastIndex, trackId: track.id });
      }
    }
    if (pairs.length === 0) return;
    const segmentOf = matchGreedy(pairs, candidates.length, segments.length);
    for (let t = 0; t < candidates.length; t++) candidates[t]!.segment = segmentOf[t]!;
  }

  /** A matched track takes its segment's pixels, and the predicted ones now hidden by other segments. */
  #continueMask(track: Track, index: number): void {
    const pixels = this.#pixels;
    const s = track.segment;
    // Hidden pixels: at most what the object lost to occluders (when it overlaps other segments at all).
    const hiddenAtMost =
      !track.motionFree && track.totalOverlap > track.matchedOverlap ? track.predictedArea - pixels.segmentArea[s]! : 0;
    pixels.buildMask(s, track.pieceStart, track.pieceEnd, hiddenAtMost);
    const area = pixels.buildArea;
    const cx = pixels.buildSumX / area;
    const cy = pixels.buildSumY / area;
    moveTrack(track, cx, cy, index);
    track.setMask(pixels.build, pixels.buildLength, area, cx, cy);
  }

  #continueBox(track: Track, segment: TrackInput, index: number): void {
    const box = clippedBox(segment.box, segment.area, this.#width, this.#height)!;
    moveTrack(track, (box[0] + box[2]) / 2, (box[1] + box[3]) / 2, index);
    this.#setBox(track, segment);
  }

  #setBox(track: Track, segment: TrackInput): void {
    const box = clippedBox(segment.box, segment.area, this.#width, this.#height);
    if (box === undefined) {
      track.x0 = track.y0 = 0;
      track.x1 = track.y1 = -1;
      return;
    }
    [track.x0, track.y0, track.x1, track.y1] = box;
    track.cx = (box[0] + box[2]) / 2;
    track.cy = (box[1] + box[3]) / 2;
  }
}

/** Whether a track's motion is not known yet (stage 3 may match it): seen once, so it has no velocity. */
function motionUnknown(track: Track): boolean {
  return track.framesSeen === 1;
}

/** The larger side of the box of runs[start .. end] (row, first column, end column; by row): 0 when empty. */
function extentOf(runs: Int32Array, start: number, end: number): number {
  if (end <= start) return 0;
  let x0 = runs[start + 1]!;
  let x1 = runs[start + 2]!;
  for (let r = start + RUN; r < end; r += RUN) {
    if (runs[r + 1]! < x0) x0 = runs[r + 1]!;
    if (runs[r + 2]! > x1) x1 = runs[r + 2]!;
  }
  return Math.max(x1 - x0, runs[end - RUN]! - runs[start]! + 1);
}

/** The track's predicted shift at frame `index`: its velocity times the frames since it was last seen, rounded. */
function predictShift(track: Track, index: number): void {
  const frames = index - track.lastIndex;
  // As int32 (| 0), also turning -0 into 0: the pixel loops then stay in integer arithmetic.
  track.dx = Math.round(track.vx * frames) | 0;
  track.dy = Math.round(track.vy * frames) | 0;
}

/** A matched track's motion: its velocity from the displacement of its centre, smoothed; seen at `index`. */
function moveTrack(track: Track, cx: number, cy: number, index: number): void {
  const frames = index - track.lastIndex;
  const vx = (cx - track.cx) / frames;
  const vy = (cy - track.cy) / frames;
  if (track.framesSeen === 1) {
    track.vx = vx;
    track.vy = vy;
  } else {
    track.vx = VELOCITY_SMOOTHING * vx + (1 - VELOCITY_SMOOTHING) * track.vx;
    track.vy = VELOCITY_SMOOTHING * vy + (1 - VELOCITY_SMOOTHING) * track.vy;
  }
  track.cx = cx;
  track.cy = cy;
  track.lastIndex = index;
  track.framesSeen++;
}

/** A segment's box as whole pixels inside the image, or undefined when it is empty (or the segment has no pixels). */
function clippedBox(
  box: readonly [number, number, number, number],
  area: number,
  width: number,
  height: number,
): [number, number, number, number] | undefined {
  if (!(area > 0)) return undefined;
  const x0 = Math.max(0, Math.floor(box[0]));
  const y0 = Math.max(0, Math.floor(box[1]));
  const x1 = Math.min(width - 1, Math.ceil(box[2]));
  const y1 = Math.min(height - 1, Math.ceil(box[3]));
  return x0 > x1 || y0 > y1 ? undefined : [x0, y0, x1, y1];
}
