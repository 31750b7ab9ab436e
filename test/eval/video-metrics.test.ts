import test from 'ava';
import { seededRandom } from '../../fusion-wasm/src/synthetic-scenes.js';
import { IdSwitches } from '../../eval/src/metrics/id-switches.js';
import { SegmentationTrackingQuality } from '../../eval/src/metrics/stq.js';
import type { VideoPanopticFrame } from '../../eval/src/metrics/video-frame.js';
import { VideoPanopticQuality } from '../../eval/src/metrics/vpq.js';

// A small label space: road and sky are stuff, car and person are things (isThing is 256 long, as in labels.ts).
const ROAD = 0;
const SKY = 1;
const CAR = 2;
const PERSON = 3;
const CLASSES = 4;
const isThing = new Uint8Array(256);
isThing[CAR] = 1;
isThing[PERSON] = 1;
const close = (a: number, b: number, tolerance = 1e-9) => Math.abs(a - b) < tolerance;

const CLASS_OF: Record<string, number> = { r: ROAD, s: SKY, c: CAR, p: PERSON, v: 255, x: 7 };

/**
 * One frame, one row of pixels, written as tokens: a class letter (r road, s sky, c car, p person, v void,
 * x an id >= the class count) and a track id (none = 0): 'r r c1 c1 c0' is road, road, car 1, car 1, car crowd.
 */
function row(pixels: string): VideoPanopticFrame {
  const tokens = pixels.trim().split(/\s+/);
  const semantic = new Uint8Array(tokens.length);
  const tracks = new Uint32Array(tokens.length);
  tokens.forEach((token, i) => {
    const classId = CLASS_OF[token[0]!];
    if (classId === undefined) throw new Error(`bad token ${token}`);
    semantic[i] = classId;
    tracks[i] = token.length > 1 ? Number(token.slice(1)) : 0;
  });
  return { width: tokens.length, height: 1, semantic, tracks };
}

/** The same frame `count` times. */
const repeat = (frame: VideoPanopticFrame, count: number) => Array.from({ length: count }, () => frame);

interface Sequence {
  readonly gt: readonly VideoPanopticFrame[];
  readonly pred: readonly VideoPanopticFrame[];
}

function score(sequences: readonly Sequence[], ks?: readonly number[], frameStep?: number) {
  const stq = new SegmentationTrackingQuality(CLASSES, isThing);
  const vpq = new VideoPanopticQuality(CLASSES, isThing, ks, frameStep);
  const switches = new IdSwitches(isThing);
  for (const { gt, pred } of sequences) {
    stq.beginSequence();
    vpq.beginSequence();
    switches.beginSequence();
    gt.forEach((frame, i) => {
      stq.addFrame(frame, pred[i]!);
      vpq.addFrame(frame, pred[i]!);
      switches.addFrame(frame, pred[i]!);
    });
    stq.endSequence();
    vpq.endSequence();
    switches.endSequence();
  }
  return { stq: stq.result(), vpq: vpq.result(), switches: switches.result() };
}

// --- hand-made sequences --------------------------------------------------------------------------

test('a perfect prediction: STQ = AQ = SQ = 1, VPQ = 1 at every window size, no id switch', (t) => {
  const frames = repeat(row('r r s c1 c1 p4 c2'), 16);
  const { stq, vpq, switches } = score([{ gt: frames, pred: frames }]);
  t.is(stq.stq, 1);
  t.is(stq.aq, 1);
  t.is(stq.sq, 1);
  t.deepEqual([stq.sequences, stq.frames, stq.tracks], [1, 16, 3]);
  t.is(vpq.vpq, 1);
  t.is(vpq.things, 1);
  t.is(vpq.stuff, 1);
  // 16 frames: 16 one-frame windows, 11 of 6 frames, 6 of 11, 1 of 16.
  t.deepEqual(
    vpq.perK.map((f) => [f.k, f.windowFrames, f.windows, f.pq]),
    [
      [0, 1, 16, 1],
      [5, 6, 11, 1],
      [10, 11, 6, 1],
      [15, 16, 1, 1],
    ],
  );
  t.is(vpq.perK[3]!.perClass.get(CAR)!.tp, 2); // one tube per car over the whole window
  t.deepEqual([switches.switches, switches.tracks, switches.per100], [0, 3, 0]);
});

test('ids swapped halfway: AQ drops to 1/3, SQ stays 1, VPQ_0 stays 1 and VPQ_5 drops to 9/14', (t) => {
  // Two cars of 2 px, 10 frames; the prediction swaps their ids from frame 5 on.
  const gt = repeat(row('r c1 c1 c2 c2'), 10);
  const pred = [...repeat(row('r c1 c1 c2 c2'), 5), ...repeat(row('r c2 c2 c1 c1'), 5)];
  const { stq, vpq, switches } = score([{ gt, pred }], [0, 5]);
  // AQ: each ground truth track (20 px) shares 10 px with each predicted track (20 px): IoU 10 / 30.
  // Per track (10 * 1/3 + 10 * 1/3) / 20 = 1/3, so AQ = 1/3.
  t.true(close(stq.aq, 1 / 3));
  t.is(stq.sq, 1);
  t.true(close(stq.stq, Math.sqrt(1 / 3)));
  // VPQ_0: every frame on its own is perfect.
  t.is(vpq.perK[0]!.pq, 1);
  // VPQ_5: 5 windows of 6 frames, starting at 0..4, all across the swap. A window starting at s has
  // 2 (5 - s) px of car 1 under predicted id 1 and 2 (s + 1) under id 2; the tube IoU is
  // 2 (5 - s) / (24 - 2 (5 - s)): 10/14 at s = 0, then 8/16 = 0.5 (not > 0.5), 6/18, 4/20, and at s = 4
  // the other id has 10/14. So car: 4 TP of IoU 5/7, 6 FN, 6 FP: PQ = (20/7) / (4 + 3 + 3) = 2/7; road 1.
  const k5 = vpq.perK[1]!;
  t.is(k5.windows, 5);
  t.deepEqual([k5.perClass.get(CAR)!.tp, k5.perClass.get(CAR)!.fp, k5.perClass.get(CAR)!.fn], [4, 6, 6]);
  t.true(close(k5.things.pq, 2 / 7));
  t.is(k5.stuff.pq, 1);
  t.true(close(k5.pq, 9 / 14));
  t.true(close(vpq.vpq, (1 + 9 / 14) / 2));
  // Each ground truth car switches once.
  t.deepEqual([switches.switches, switches.tracks, switches.per100], [2, 2, 100]);
});

test('a sequence shorter than a window gives no window of that size (VPQ_k NaN)', (t) => {
  const frames = repeat(row('r c1'), 10);
  const { vpq } = score([{ gt: frames, pred: frames }]);
  t.deepEqual(
    vpq.perK.map((f) => f.windows),
    [10, 5, 0, 0],
  );
  t.true(Number.isNaN(vpq.perK[2]!.pq));
  t.true(Number.isNaN(vpq.vpq));
  // With Cityscapes-VPS's 5-frame step, k = 15 is 4 given frames: 7 windows.
  const stepped = score([{ gt: frames, pred: frames }], undefined, 5).vpq;
  t.deepEqual(
    stepped.perK.map((f) => [f.windowFrames, f.windows]),
    [
      [1, 10],
      [2, 9],
      [3, 8],
      [4, 7],
    ],
  );
  t.is(stepped.vpq, 1);
});

test('a class error lowers SQ; AQ is class-agnostic', (t) => {
  // road IoU 1/2 (1 of 2 road px, sky takes one), sky 1/2, car 1: SQ = 2/3. The car is tracked: AQ = 1.
  const { stq } = score([{ gt: [row('r r s c1')], pred: [row('r s s c5')] }]);
  t.true(close(stq.sq, 2 / 3));
  t.is(stq.aq, 1);
  t.true(close(stq.stq, Math.sqrt(2 / 3)));
  // A car predicted as a person with a stable id: SQ 0 (both classes IoU 0), yet AQ 1.
  const wrongClass = score([{ gt: repeat(row('c1 c1'), 3), pred: repeat(row('p8 p8'), 3) }]);
  t.is(wrongClass.stq.sq, 0);
  t.is(wrongClass.stq.aq, 1);
  t.is(wrongClass.vpq.perK[0]!.pq, 0); // VPQ needs the class: 3 FN car + 3 FP person per window
  // Without ground truth tracks AQ is 0, as in deeplab2.
  const noTracks = score([{ gt: [row('r s')], pred: [row('r s')] }]).stq;
  t.deepEqual([noTracks.aq, noTracks.sq, noTracks.stq, noTracks.tracks], [0, 1, 0, 0]);
});

test('crowd: left out of AQ on both sides; a prediction mostly on crowd is no false positive', (t) => {
  // Car 1 (2 px) next to a car crowd region (3 px).
  const gt = [row('r c0 c0 c0 c1 c1')];
  // Predicted track 1 spills over the crowd: without the crowd rule its size would be 5 and AQ 2/5.
  const spill = score([{ gt, pred: [row('r c1 c1 c1 c1 c1')] }]);
  t.is(spill.stq.aq, 1);
  t.is(spill.stq.tracks, 1);
  // VPQ: the tube IoU is 2/5, so car 1 is a false negative; the prediction (3/5 on crowd) is no false positive.
  const spillCar = spill.vpq.perK[0]!.perClass.get(CAR)!;
  t.deepEqual([spillCar.tp, spillCar.fp, spillCar.fn], [0, 0, 1]);
  // A separate predicted car on the crowd: AQ 1 and VPQ 1 (it would be a false positive on road).
  const separate = score([{ gt, pred: [row('r c5 c5 c5 c1 c1')] }]);
  t.is(separate.stq.aq, 1);
  t.is(separate.vpq.perK[0]!.pq, 1);
  const onRoad = score([{ gt: [row('r r r r c1 c1')], pred: [row('r c5 c5 c5 c1 c1')] }]);
  t.is(onRoad.vpq.perK[0]!.perClass.get(CAR)!.fp, 1);
});

test('void: left out of SQ and of VPQ unions, counted in predicted track sizes, a void prediction is one more SQ class', (t) => {
  // A predicted car track covering its car and two void pixels.
  const { stq, vpq } = score([{ gt: [row('r r v v c1 c1')], pred: [row('r r c7 c7 c7 c7')] }]);
  t.is(stq.sq, 1); // predictions on void ground truth do not count in SQ
  // deeplab2 counts every predicted thing pixel outside crowd in the track: |p| = 4, TPA 2, IoU 1/2, AQ = 2 * 1/2 / 2.
  t.is(stq.aq, 0.5);
  // VPQ: the void pixels leave the union: IoU 2 / (4 + 2 - 2 - 2) = 1.
  t.is(vpq.perK[0]!.pq, 1);
  t.is(vpq.perK[0]!.perClass.get(CAR)!.sq, 1);
  // A stuff prediction entirely on void is no false positive (sky never occurs otherwise).
  const onVoid = score([{ gt: [row('r r r v v v')], pred: [row('r r r s s s')] }]);
  t.is(onVoid.vpq.perK[0]!.pq, 1);
  t.is(onVoid.vpq.perK[0]!.perClass.has(SKY), false);
  t.is(onVoid.stq.sq, 1);
  // Void predicted on a road pixel: road IoU 3/4, and deeplab2's void column is one more class of IoU 0: SQ 3/8.
  // Ids >= the class count (x = 7) are void too.
  for (const voidToken of ['v', 'x']) {
    const voidPrediction = score([{ gt: [row('r r r r')], pred: [row(`r r r ${voidToken}`)] }]);
    t.is(voidPrediction.stq.sq, 3 / 8);
    t.is(voidPrediction.stq.perClassIou[ROAD], 3 / 4);
    t.is(voidPrediction.vpq.perK[0]!.pq, 3 / 4); // road matches at IoU 3/4
  }
});

test("deeplab2's published STQ examples (numpy test_basic_examples: STQ, AQ, IoU)", (t) => {
  // Two classes there: cars (class 0, thing) and sky (class 1); here car and sky of the same space.
  const cases: [string, string, [number, number, number]][] = [
    ['c1 c1 c1 c1 c1', 'c1 c1 c1 c1 c1', [1, 1, 1]],
    ['c1 c1 c1 c1 c1', 'c1 c1 c2 c2 c2', [0.72111026, 0.52, 1]],
    ['c1 c1 c1 c1 c1', 'c1 c2 c2 c2 c2', [0.82462113, 0.68, 1]],
    ['c1 c1 c1 c1 c1', 'c1 c2 c3 c4 c5', [0.447213596, 0.2, 1]],
    ['c1 c1 c1 c1 c1', 'c1 c2 c1 c2 c2', [0.72111026, 0.52, 1]],
    ['c1 c1 c1 c1 c1', 's c1 c1 c1 c1', [0.50596443, 0.64, 0.4]],
    ['c0 c1 c1 c1 c1 c1', 'c1 c1 c1 c1 c1 c1', [1, 1, 1]],
    ['c0 c1 c1 c1 c1 c1', 'c2 c2 c2 c2 c1 c1', [0.72111026, 0.52, 1]],
    ['c0 c1 c1 c1 c1 c1', 'c2 c2 s c1 c1 c1', [0.40824829, 0.4, 5 / 12]],
    ['s c1 c1 c1 c1', 'c1 c1 c1 c1 c1', [0.56568542, 0.8, 0.4]],
    ['s c1 c1 c1 c1', 'c2 c2 c2 c1 c1', [0.42426407, 0.45, 0.4]],
    ['s c1 c1 c1 c1', 'c2 c2 s c1 c1', [0.3, 0.3, 0.3]],
  ];
  for (const [gt, pred, [expectedStq, expectedAq, expectedIou]] of cases) {
    const { stq } = score([{ gt: [row(gt)], pred: [row(pred)] }]);
    const message = `${gt} / ${pred}: ${stq.stq} ${stq.aq} ${stq.sq}`;
    t.true(close(stq.stq, expectedStq, 1e-7), message);
    t.true(close(stq.aq, expectedAq, 1e-7), message);
    t.true(close(stq.sq, expectedIou, 1e-7), message);
  }
});

test('AQ sums over all tracks of all sequences; ids are compared within a sequence only', (t) => {
  // Sequence 1: one track, perfect (1). Sequence 2: two tracks, one perfect, one split in halves (1/2).
  // Track ids reused across sequences do not interact. AQ = (1 + 1 + 1/2) / 3.
  const { stq } = score([
    { gt: repeat(row('c1 c1'), 2), pred: repeat(row('c1 c1'), 2) },
    { gt: repeat(row('c1 c1 p2 p2'), 2), pred: [row('c1 c1 p3 p3'), row('c1 c1 p4 p4')] },
  ]);
  t.true(close(stq.aq, 2.5 / 3));
  t.deepEqual([stq.sequences, stq.frames, stq.tracks], [2, 4, 3]);
  t.deepEqual(
    stq.perSequence.map((s) => [s.aq, s.tracks, s.frames]),
    [
      [1, 1, 2],
      [0.75, 2, 2],
    ],
  );
});

// --- id switches ----------------------------------------------------------------------------------

test('id switches: a change of matched id counts, a frame without a match neither counts nor resets', (t) => {
  const gt = repeat(row('r c1 c1 r'), 6);
  const pred = [
    row('r c1 c1 r'), // matches 1
    row('r c1 c1 r'), // 1
    row('r c3 r r'), // IoU 1/2: no match
    row('r c2 c2 r'), // 2: switch
    row('r c2 c2 c2'), // IoU 2/3: 2
    row('r c1 c1 r'), // 1: switch
  ];
  // A second sequence reuses id 1 (no switch across sequences) and has a person predicted as a car (no match).
  const second = { gt: repeat(row('c1 c1 p4 p4'), 2), pred: repeat(row('c9 c9 c4 c4'), 2) };
  const { switches } = score([{ gt, pred }, second]);
  t.is(switches.switches, 2);
  t.is(switches.tracks, 3);
  t.true(close(switches.per100, 200 / 3));
  t.deepEqual([switches.trackFrames, switches.matchedTrackFrames], [10, 7]);
  t.deepEqual([switches.sequences, switches.frames], [2, 8]);
});

test('inputs are checked', (t) => {
  const stq = new SegmentationTrackingQuality(CLASSES, isThing);
  t.throws(() => stq.addFrame(row('r r'), row('r r r')), { instanceOf: RangeError });
  const big = row('c1 c1');
  big.tracks[0] = 2 ** 24;
  t.throws(() => new VideoPanopticQuality(CLASSES, isThing).addFrame(big, row('c1 c1')), { instanceOf: RangeError });
  t.throws(() => new VideoPanopticQuality(CLASSES, isThing, [0, 3], 5), { instanceOf: RangeError });
  stq.beginSequence();
  t.throws(() => stq.result());
});

// --- brute force on random sequences ---------------------------------------------------------------

const WIDTH = 6;
const HEIGHT = 5;
const PIXELS = WIDTH * HEIGHT;

/** Random sequences whose prediction is a noisy, sometimes re-identified copy of the ground truth. */
function randomSequence(random: () => number): Sequence {
  const frames = 4 + Math.floor(random() * 17);
  const pick = <T>(items: readonly T[]) => items[Math.floor(random() * items.length)]!;
  const randomPixel = (): [number, number] => {
    const classId = pick([ROAD, ROAD, SKY, CAR, CAR, PERSON, 255]);
    const track = random() < 0.15 ? 0 : 1 + Math.floor(random() * 3);
    return [classId, track];
  };
  // A ground truth layout that drifts: a few pixels change every frame.
  const semantic = new Uint8Array(PIXELS);
  const tracks = new Uint32Array(PIXELS);
  for (let p = 0; p < PIXELS; p++) [semantic[p], tracks[p]] = randomPixel();
  let idMap = [0, 1, 2, 3];
  const gt: VideoPanopticFrame[] = [];
  const pred: VideoPanopticFrame[] = [];
  for (let f = 0; f < frames; f++) {
    for (let p = 0; p < PIXELS; p++) if (random() < 0.08) [semantic[p], tracks[p]] = randomPixel();
    gt.push({ width: WIDTH, height: HEIGHT, semantic: semantic.slice(), tracks: tracks.slice() });
    if (random() < 0.15) idMap = [0, ...[1, 2, 3].sort(() => random() - 0.5)];
    const predSemantic = semantic.slice();
    const predTracks = tracks.map((track) => (track < idMap.length ? idMap[track]! : track));
    for (let p = 0; p < PIXELS; p++) {
      if (random() < 0.12) predSemantic[p] = pick([ROAD, SKY, CAR, PERSON, 255, 7]);
      if (random() < 0.1) predTracks[p] = Math.floor(random() * 5);
    }
    pred.push({ width: WIDTH, height: HEIGHT, semantic: predSemantic, tracks: predTracks });
  }
  return { gt, pred };
}

/** STQ by the definition, with explicit loops over every pixel of every frame for every (prediction, track) pair. */
function naiveStq(sequences: readonly Sequence[]): { stq: number; aq: number; sq: number } {
  const labelled = (c: number) => c < CLASSES;
  const thing = (c: number) => labelled(c) && isThing[c] === 1;
  let aqSum = 0;
  let trackCount = 0;
  for (const { gt, pred } of sequences) {
    const crowd = (f: number, p: number) => thing(gt[f]!.semantic[p]!) && gt[f]!.tracks[p] === 0;
    const gtTrack = (f: number, p: number) =>
      thing(gt[f]!.semantic[p]!) && !crowd(f, p) ? `${gt[f]!.semantic[p]}/${gt[f]!.tracks[p]}` : undefined;
    const predTrack = (f: number, p: number) =>
      thing(pred[f]!.semantic[p]!) && !crowd(f, p) ? `${pred[f]!.semantic[p]}/${pred[f]!.tracks[p]}` : undefined;
    const gtTracks = new Set<string>();
    const predTracks = new Set<string>();
    for (let f = 0; f < gt.length; f++) {
      for (let p = 0; p < PIXELS; p++) {
        const g = gtTrack(f, p);
        const q = predTrack(f, p);
        if (g !== undefined) gtTracks.add(g);
        if (q !== undefined) predTracks.add(q);
      }
    }
    for (const g of gtTracks) {
      let sum = 0;
      let gSize = 0;
      for (let f = 0; f < gt.length; f++) for (let p = 0; p < PIXELS; p++) if (gtTrack(f, p) === g) gSize++;
      for (const q of predTracks) {
        let tpa = 0;
        let qSize = 0;
        for (let f = 0; f < gt.length; f++) {
          for (let p = 0; p < PIXELS; p++) {
            if (predTrack(f, p) === q) qSize++;
            if (predTrack(f, p) === q && gtTrack(f, p) === g) tpa++;
          }
        }
        if (tpa > 0) sum += tpa * (tpa / (qSize + gSize - tpa));
      }
      aqSum += sum / gSize;
      trackCount++;
    }
  }
  let iouSum = 0;
  let classes = 0;
  let voidOnLabelled = 0;
  for (let c = 0; c < CLASSES; c++) {
    let tp = 0;
    let fp = 0;
    let fn = 0;
    for (const { gt, pred } of sequences) {
      for (let f = 0; f < gt.length; f++) {
        for (let p = 0; p < PIXELS; p++) {
          const t = gt[f]!.semantic[p]!;
          const q = pred[f]!.semantic[p]!;
          if (!labelled(t)) continue; // void ground truth: ignored
          if (t === c && q === c) tp++;
          else if (t === c) fn++;
          else if (q === c) fp++;
          if (c === 0 && !labelled(q)) voidOnLabelled++;
        }
      }
    }
    if (tp + fp + fn > 0) {
      iouSum += tp / (tp + fp + fn);
      classes++;
    }
  }
  if (voidOnLabelled > 0) classes++; // deeplab2's void column
  const aq = trackCount > 0 ? aqSum / trackCount : 0;
  const sq = iouSum / classes;
  return { stq: Math.sqrt(aq * sq), aq, sq };
}

/** VPQ by the definition: each window's frames concatenated into one image, then PQ by enumerating segment pairs. */
function naiveVpq(sequences: readonly Sequence[], ks: readonly number[], frameStep: number) {
  const perK = ks.map((k) => {
    const length = k / frameStep + 1;
    const tp = new Array<number>(CLASSES).fill(0);
    const fp = new Array<number>(CLASSES).fill(0);
    const fn = new Array<number>(CLASSES).fill(0);
    const iouSum = new Array<number>(CLASSES).fill(0);
    for (const { gt, pred } of sequences) {
      for (let start = 0; start + length <= gt.length; start++) {
        // The window as one image.
        const gtSem: number[] = [];
        const gtTr: number[] = [];
        const prSem: number[] = [];
        const prTr: number[] = [];
        for (let f = start; f < start + length; f++) {
          gtSem.push(...gt[f]!.semantic);
          gtTr.push(...gt[f]!.tracks);
          prSem.push(...pred[f]!.semantic);
          prTr.push(...pred[f]!.tracks);
        }
        const n = gtSem.length;
        const gtSegment = (i: number) => {
          const c = gtSem[i]!;
          if (c >= CLASSES) return undefined; // void
          return isThing[c] ? `${c}/${gtTr[i]}` : `${c}`;
        };
        const predSegment = (i: number) => {
          const c = prSem[i]!;
          if (c >= CLASSES) return undefined;
          if (!isThing[c]) return `${c}`;
          return prTr[i] === 0 ? undefined : `${c}/${prTr[i]}`;
        };
        const classOf = (segment: string) => Number(segment.split('/')[0]);
        const isCrowd = (segment: string) => isThing[classOf(segment)] === 1 && segment.endsWith('/0');
        const gtSegments = new Set<string>();
        const predSegments = new Set<string>();
        for (let i = 0; i < n; i++) {
          const g = gtSegment(i);
          const p = predSegment(i);
          if (g !== undefined) gtSegments.add(g);
          if (p !== undefined) predSegments.add(p);
        }
        const area = (segmentOf: (i: number) => string | undefined, s: string) => {
          let count = 0;
          for (let i = 0; i < n; i++) if (segmentOf(i) === s) count++;
          return count;
        };
        const overlap = (g: string | undefined, p: string) => {
          let count = 0;
          for (let i = 0; i < n; i++) if (gtSegment(i) === g && predSegment(i) === p) count++;
          return count;
        };
        const gtMatched = new Set<string>();
        const predMatched = new Set<string>();
        for (const g of gtSegments) {
          if (isCrowd(g)) continue;
          for (const p of predSegments) {
            if (classOf(p) !== classOf(g)) continue;
            const intersection = overlap(g, p);
            const iou =
              intersection / (area(predSegment, p) + area(gtSegment, g) - intersection - overlap(undefined, p));
            if (iou > 0.5) {
              tp[classOf(g)]!++;
              iouSum[classOf(g)]! += iou;
              gtMatched.add(g);
              predMatched.add(p);
            }
          }
        }
        for (const g of gtSegments) if (!isCrowd(g) && !gtMatched.has(g)) fn[classOf(g)]!++;
        for (const p of predSegments) {
          if (predMatched.has(p)) continue;
          const c = classOf(p);
          const ignored = overlap(undefined, p) + (isThing[c] ? overlap(`${c}/0`, p) : 0);
          if (ignored / area(predSegment, p) <= 0.5) fp[c]!++;
        }
      }
    }
    const pqOf = (c: number) => iouSum[c]! / (tp[c]! + fp[c]! / 2 + fn[c]! / 2);
    const mean = (keep: (c: number) => boolean) => {
      const values: number[] = [];
      for (let c = 0; c < CLASSES; c++) if (keep(c) && tp[c]! + fp[c]! + fn[c]! > 0) values.push(pqOf(c));
      return values.length === 0 ? Number.NaN : values.reduce((a, b) => a + b, 0) / values.length;
    };
    return { pq: mean(() => true), things: mean((c) => isThing[c] === 1), stuff: mean((c) => isThing[c] !== 1) };
  });
  const average = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length;
  return {
    vpq: average(perK.map((f) => f.pq)),
    things: average(perK.map((f) => f.things)),
    stuff: average(perK.map((f) => f.stuff)),
    perK,
  };
}

/** Id switches by the definition: per frame, every (track, predicted track) pair's IoU from pixel loops. */
function naiveSwitches(sequences: readonly Sequence[]): { switches: number; tracks: number } {
  let switches = 0;
  let tracks = 0;
  for (const { gt, pred } of sequences) {
    const last = new Map<string, number>();
    for (let f = 0; f < gt.length; f++) {
      const g = gt[f]!;
      const q = pred[f]!;
      const keyOf = (frame: VideoPanopticFrame, p: number) =>
        isThing[frame.semantic[p]!] === 1 && frame.tracks[p] !== 0
          ? `${frame.semantic[p]}/${frame.tracks[p]}`
          : undefined;
      const gtKeys = new Set<string>();
      const predKeys = new Set<string>();
      for (let p = 0; p < PIXELS; p++) {
        const a = keyOf(g, p);
        const b = keyOf(q, p);
        if (a !== undefined) gtKeys.add(a);
        if (b !== undefined) predKeys.add(b);
      }
      for (const a of gtKeys) {
        if (!last.has(a)) last.set(a, -1);
        for (const b of predKeys) {
          if (a.split('/')[0] !== b.split('/')[0]) continue;
          let intersection = 0;
          let union = 0;
          for (let p = 0; p < PIXELS; p++) {
            const inA = keyOf(g, p) === a;
            const inB = keyOf(q, p) === b;
            if (inA && inB) intersection++;
            if (inA || (inB && g.semantic[p] !== 255)) union++;
          }
          if (intersection / union > 0.5) {
            const id = Number(b.split('/')[1]);
            if (last.get(a) !== -1 && last.get(a) !== id) switches++;
            last.set(a, id);
          }
        }
      }
    }
    tracks += last.size;
  }
  return { switches, tracks };
}

test('STQ, VPQ and id switches agree with naive implementations on random sequences', (t) => {
  const random = seededRandom(2024);
  let checked = 0;
  let someVpqBelowOne = false;
  for (let trial = 0; trial < 25; trial++) {
    const sequences = Array.from({ length: 1 + Math.floor(random() * 3) }, () => randomSequence(random));
    for (const [ks, step] of [
      [[0, 5, 10, 15], 1],
      [[0, 5, 10, 15], 5],
      [[0, 2, 3], 1],
    ] as const) {
      const fast = score(sequences, ks, step);
      const naive = naiveVpq(sequences, ks, step);
      const same = (a: number, b: number) => (Number.isNaN(a) && Number.isNaN(b)) || close(a, b);
      naive.perK.forEach((expected, i) => {
        const actual = fast.vpq.perK[i]!;
        t.true(same(actual.pq, expected.pq), `trial ${trial} k ${ks[i]}: ${actual.pq} vs ${expected.pq}`);
        t.true(same(actual.things.pq, expected.things), `trial ${trial} things`);
        t.true(same(actual.stuff.pq, expected.stuff), `trial ${trial} stuff`);
        if (actual.pq > 0 && actual.pq < 1) someVpqBelowOne = true;
      });
      t.true(same(fast.vpq.vpq, naive.vpq));
      t.true(same(fast.vpq.things, naive.things));
      t.true(same(fast.vpq.stuff, naive.stuff));
    }
    const { stq, switches } = score(sequences);
    const expected = naiveStq(sequences);
    t.true(close(stq.aq, expected.aq), `trial ${trial}: AQ ${stq.aq} vs ${expected.aq}`);
    t.true(close(stq.sq, expected.sq), `trial ${trial}: SQ ${stq.sq} vs ${expected.sq}`);
    t.true(close(stq.stq, expected.stq), `trial ${trial}: STQ ${stq.stq} vs ${expected.stq}`);
    t.true(stq.aq > 0 && stq.aq < 1);
    t.deepEqual(switches.switches, naiveSwitches(sequences).switches, `trial ${trial}`);
    t.is(switches.tracks, naiveSwitches(sequences).tracks);
    checked++;
  }
  t.is(checked, 25);
  t.true(someVpqBelowOne); // the random cases are not trivially perfect or empty
});

test('512 x 256 frames: 40 frames through all three metrics in bounded time', (t) => {
  const random = seededRandom(7);
  const width = 512;
  const height = 256;
  const gt: VideoPanopticFrame[] = [];
  const pred: VideoPanopticFrame[] = [];
  for (let f = 0; f < 40; f++) {
    const semantic = new Uint8Array(width * height);
    const tracks = new Uint32Array(width * height);
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const p = y * width + x;
        const classId = y < 80 ? SKY : y > 200 ? ROAD : (x + f * 3) % 64 < 32 ? CAR : PERSON;
        semantic[p] = classId;
        tracks[p] = isThing[classId] ? 1 + Math.floor(((x + f * 3) % 512) / 64) : 0;
      }
    }
    const predSemantic = semantic.map((c) => (random() < 0.02 ? ROAD : c));
    gt.push({ width, height, semantic, tracks });
    pred.push({ width, height, semantic: predSemantic, tracks: tracks.map((id) => (id === 0 ? 0 : id + 100)) });
  }
  const started = performance.now();
  const { stq, vpq, switches } = score([{ gt, pred }]);
  const seconds = (performance.now() - started) / 1000;
  t.log(`40 frames of 512 x 256: ${seconds.toFixed(2)} s`);
  t.true(seconds < 20);
  // Renamed but consistent ids; 2 % of the pixels turned to road lower both AQ and SQ a little.
  t.true(stq.aq > 0.9 && stq.aq < 1);
  t.true(stq.sq > 0.9 && stq.sq < 1);
  t.true(vpq.vpq > 0.9);
  t.is(switches.switches, 0);
});
