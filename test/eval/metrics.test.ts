import test from 'ava';
import { seededRandom } from '../../fusion-wasm/src/synthetic-scenes.js';
import { combineHeuristically } from '../../eval/src/heuristic-combination.js';
import { evalLabels } from '../../eval/src/labels.js';
import { InstanceAp, stepwiseAp } from '../../eval/src/metrics/instance-ap.js';
import { PanopticQuality, type PanopticPrediction } from '../../eval/src/metrics/panoptic-quality.js';
import { ConfusionMatrix, nanMean } from '../../eval/src/metrics/semantic-iou.js';

const labels = evalLabels();
const ROAD = 0;
const SKY = 10;
const PERSON = 11;
const CAR = 13;
const CAR_LABEL = 26; // Cityscapes label ids
const ROAD_LABEL = 7;
const SKY_LABEL = 23;
const close = (a: number, b: number) => Math.abs(a - b) < 1e-9;

// --- semantic IoU -------------------------------------------------------------------------------

test('mIoU: a perfect prediction is 1; void ground truth is ignored; a void prediction is a false negative', (t) => {
  const truth = Uint8Array.from([ROAD, ROAD, SKY, SKY, 255, 255]);
  const perfect = new ConfusionMatrix(19);
  perfect.add(truth, Uint8Array.from([ROAD, ROAD, SKY, SKY, CAR, CAR]));
  const figures = perfect.iou(labels.categoryOf);
  t.is(figures.mean, 1);
  t.true(Number.isNaN(figures.perClass[CAR]!)); // car only predicted on void: not counted
  const voidPrediction = new ConfusionMatrix(19);
  voidPrediction.add(truth, Uint8Array.from([ROAD, 255, SKY, SKY, 0, 0]));
  const iou = voidPrediction.iou(labels.categoryOf);
  t.is(iou.perClass[ROAD], 0.5);
  t.is(iou.perClass[SKY], 1);
  t.is(iou.mean, 0.75);
});

test('mIoU: a class predicted as another lowers both; categories merge their classes', (t) => {
  const truth = Uint8Array.from([CAR, CAR, CAR, CAR, PERSON, PERSON]);
  const predicted = Uint8Array.from([CAR, CAR, 14, 14, PERSON, PERSON]); // two car pixels called truck
  const matrix = new ConfusionMatrix(19);
  matrix.add(truth, predicted);
  const figures = matrix.iou(labels.categoryOf);
  t.is(figures.perClass[CAR], 0.5);
  t.is(figures.perClass[14], 0); // truck: 2 false positives, no true positive
  t.is(figures.perClass[PERSON], 1);
  t.true(close(figures.mean, 0.5));
  // Car and truck are both vehicles: at category level the confusion disappears.
  const vehicle = labels.space.categories.indexOf('vehicle');
  t.is(figures.perCategory[vehicle], 1);
  t.is(figures.meanCategory, 1);
});

test('mIoU agrees with a brute-force count on random label maps', (t) => {
  const random = seededRandom(11);
  for (let trial = 0; trial < 20; trial++) {
    const n = 500;
    const pick = () => (random() < 0.1 ? 255 : Math.floor(random() * 6));
    const truth = Uint8Array.from({ length: n }, pick);
    const predicted = Uint8Array.from({ length: n }, pick);
    const matrix = new ConfusionMatrix(19);
    matrix.add(truth, predicted);
    const { perClass, mean } = matrix.iou(labels.categoryOf);
    const expected: number[] = [];
    for (let c = 0; c < 19; c++) {
      let tp = 0;
      let fp = 0;
      let fn = 0;
      for (let p = 0; p < n; p++) {
        if (truth[p] === 255) continue;
        if (truth[p] === c && predicted[p] === c) tp++;
        else if (truth[p] === c) fn++;
        else if (predicted[p] === c) fp++;
      }
      expected.push(tp + fp + fn === 0 ? Number.NaN : tp / (tp + fp + fn));
      t.true(Object.is(perClass[c], expected[c]) || close(perClass[c]!, expected[c]!));
    }
    t.true(close(mean, nanMean(expected)));
  }
});

// --- instance AP --------------------------------------------------------------------------------

/** A W x H instance-id map with rectangles of Cityscapes instance ids painted in order. */
function instanceMap(
  width: number,
  height: number,
  background: number,
  rects: [number, number, number, number, number][],
) {
  const map = new Uint16Array(width * height).fill(background);
  for (const [x0, y0, x1, y1, id] of rects) {
    for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) map[y * width + x] = id;
  }
  return map;
}

function rectPixels(width: number, x0: number, y0: number, x1: number, y1: number): number[] {
  const pixels: number[] = [];
  for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) pixels.push(y * width + x);
  return pixels;
}

test('AP: perfect instances give 1 at every threshold', (t) => {
  const ap = new InstanceAp(labels.trainIdOf, labels.thingIds);
  const gt = instanceMap(40, 20, ROAD_LABEL, [
    [0, 0, 10, 10, CAR_LABEL * 1000],
    [20, 0, 30, 20, CAR_LABEL * 1000 + 1],
  ]);
  ap.addImage(gt, [
    { classId: CAR, score: 0.9, pixels: rectPixels(40, 0, 0, 10, 10) },
    { classId: CAR, score: 0.8, pixels: rectPixels(40, 20, 0, 30, 20) },
  ]);
  const figures = ap.figures();
  t.is(figures.perClass.get(CAR)?.ap, 1);
  t.is(figures.ap, 1); // classes without ground truth are NaN and left out
  t.is(figures.ap50, 1);
  t.true(Number.isNaN(figures.perClass.get(PERSON)!.ap));
});

test('AP: a match at IoU 0.7 counts at thresholds 0.50 to 0.65 only', (t) => {
  const ap = new InstanceAp(labels.trainIdOf, labels.thingIds);
  const gt = instanceMap(20, 10, ROAD_LABEL, [[0, 0, 10, 10, CAR_LABEL * 1000]]); // 100 px
  // 70 of the 100 pixels and nothing else: IoU 0.7.
  ap.addImage(gt, [{ classId: CAR, score: 0.9, pixels: rectPixels(20, 0, 0, 7, 10) }]);
  const figures = ap.figures();
  t.true(close(figures.perClass.get(CAR)!.ap, 0.4));
  t.is(figures.perClass.get(CAR)!.ap50, 1);
});

test('AP: the stepwise rule on a false positive above a true positive (known answer 0.25)', (t) => {
  // Scores 0.9 (false) and 0.5 (true), one ground truth: precision 1/2 at recall 1, then 0 at recall 0.
  t.true(close(stepwiseAp([0, 1], [0.9, 0.5], 0), 0.25));
  t.true(close(stepwiseAp([1, 0], [0.9, 0.5], 0), 1));
  // One matched, one missed: recall reaches 0.5 at precision 1.
  t.true(close(stepwiseAp([1], [0.9], 1), 0.5));
});

test('AP: a split instance matches nothing, and both halves are false positives', (t) => {
  const ap = new InstanceAp(labels.trainIdOf, labels.thingIds);
  const gt = instanceMap(20, 20, ROAD_LABEL, [[0, 0, 20, 20, CAR_LABEL * 1000]]);
  ap.addImage(gt, [
    { classId: CAR, score: 0.9, pixels: rectPixels(20, 0, 0, 20, 10) },
    { classId: CAR, score: 0.8, pixels: rectPixels(20, 0, 10, 20, 20) },
  ]);
  t.is(ap.figures().perClass.get(CAR)!.ap, 0);
});

test('AP: small instances, groups and void are not objects, and predictions on them are no false positives', (t) => {
  const ap = new InstanceAp(labels.trainIdOf, labels.thingIds);
  const gt = instanceMap(40, 20, 0 /* unlabeled: void */, [
    [0, 0, 20, 20, CAR_LABEL * 1000], // 400 px, a real car
    [20, 0, 25, 5, CAR_LABEL * 1000 + 1], // 25 px: under 100, ignored
    [25, 0, 35, 20, CAR_LABEL], // a car group
  ]);
  ap.addImage(gt, [
    { classId: CAR, score: 0.9, pixels: rectPixels(40, 0, 0, 20, 20) }, // the real car
    { classId: CAR, score: 0.95, pixels: rectPixels(40, 20, 0, 25, 5) }, // on the small one
    { classId: CAR, score: 0.97, pixels: rectPixels(40, 25, 0, 35, 20) }, // on the group
    { classId: CAR, score: 0.99, pixels: rectPixels(40, 35, 0, 40, 20) }, // on void
  ]);
  t.is(ap.figures().perClass.get(CAR)!.ap, 1);
  // The same stray prediction on road is a false positive above the true one.
  const onRoad = new InstanceAp(labels.trainIdOf, labels.thingIds);
  const road = instanceMap(40, 20, ROAD_LABEL, [[0, 0, 20, 20, CAR_LABEL * 1000]]);
  onRoad.addImage(road, [
    { classId: CAR, score: 0.9, pixels: rectPixels(40, 0, 0, 20, 20) },
    { classId: CAR, score: 0.99, pixels: rectPixels(40, 35, 0, 40, 20) },
  ]);
  t.true(close(onRoad.figures().perClass.get(CAR)!.ap, 0.25));
});

test('AP: instance ids of ignored classes are not void (cityscapesScripts compares raw ids; known answer 0.25)', (t) => {
  // A car and a caravan (label 29, ignored in evaluation, but with instance ids as in real Cityscapes), both
  // 20 x 20, on road; two "car" masks: one exactly on the car, one, scored higher, exactly on the caravan.
  const CARAVAN_LABEL = 29;
  t.is(labels.trainIdOf[CARAVAN_LABEL], 255);
  const gt = instanceMap(40, 20, ROAD_LABEL, [
    [0, 0, 20, 20, CAR_LABEL * 1000],
    [20, 0, 40, 20, CARAVAN_LABEL * 1000],
  ]);
  const ap = new InstanceAp(labels.trainIdOf, labels.thingIds);
  ap.addImage(gt, [
    { classId: CAR, score: 0.5, pixels: rectPixels(40, 0, 0, 20, 20) },
    { classId: CAR, score: 0.9, pixels: rectPixels(40, 20, 0, 40, 20) },
  ]);
  // Official: the caravan mask is a false positive above the true one at every threshold (AP 25, not 100).
  const figures = ap.figures();
  t.true(close(figures.perClass.get(CAR)!.ap, 0.25), `car AP ${figures.perClass.get(CAR)!.ap}`);
  t.true(close(figures.perClass.get(CAR)!.ap50, 0.25));
  t.true(close(figures.ap, 0.25));
  // A bare ignored label id (29, a caravan without an instance id) is void: the same mask there is excused.
  const bare = new InstanceAp(labels.trainIdOf, labels.thingIds);
  bare.addImage(
    instanceMap(40, 20, ROAD_LABEL, [
      [0, 0, 20, 20, CAR_LABEL * 1000],
      [20, 0, 40, 20, CARAVAN_LABEL],
    ]),
    [
      { classId: CAR, score: 0.5, pixels: rectPixels(40, 0, 0, 20, 20) },
      { classId: CAR, score: 0.9, pixels: rectPixels(40, 20, 0, 40, 20) },
    ],
  );
  t.is(bare.figures().perClass.get(CAR)!.ap, 1);
});

// --- panoptic quality ---------------------------------------------------------------------------

function panoptic(segmentIds: number[], classes: [number, number][]): PanopticPrediction {
  return { segmentIds: Uint32Array.from(segmentIds), classOf: new Map(classes) };
}

test('PQ: a perfect prediction is 1 for things and stuff', (t) => {
  const pq = new PanopticQuality(labels.trainIdOf, labels.isThing, labels.classCount);
  const gt = Uint16Array.from([
    ROAD_LABEL,
    ROAD_LABEL,
    CAR_LABEL * 1000,
    CAR_LABEL * 1000,
    CAR_LABEL * 1000 + 1,
    SKY_LABEL,
  ]);
  pq.addImage(
    gt,
    panoptic(
      [5, 5, 1, 1, 2, 6],
      [
        [5, ROAD],
        [1, CAR],
        [2, CAR],
        [6, SKY],
      ],
    ),
  );
  const figures = pq.figures();
  t.is(figures.all.pq, 1);
  t.is(figures.things.classes, 1);
  t.is(figures.stuff.classes, 2);
  t.is(figures.perClass.get(CAR)?.tp, 2);
});

test('PQ: a split instance is one false negative and two false positives', (t) => {
  const pq = new PanopticQuality(labels.trainIdOf, labels.isThing, labels.classCount);
  const gt = Uint16Array.from([CAR_LABEL * 1000, CAR_LABEL * 1000, CAR_LABEL * 1000, CAR_LABEL * 1000]);
  pq.addImage(
    gt,
    panoptic(
      [1, 1, 2, 2],
      [
        [1, CAR],
        [2, CAR],
      ],
    ),
  ); // each half has IoU 0.5: not > 0.5
  const car = pq.figures().perClass.get(CAR)!;
  t.deepEqual([car.tp, car.fp, car.fn, car.pq], [0, 2, 1, 0]);
});

test('PQ: void is left out of the union; a prediction mostly on void or a crowd is no false positive', (t) => {
  const pq = new PanopticQuality(labels.trainIdOf, labels.isThing, labels.classCount);
  // car (3 px), void (3 px), a car group (4 px)
  const gt = Uint16Array.from([
    CAR_LABEL * 1000,
    CAR_LABEL * 1000,
    CAR_LABEL * 1000,
    0,
    0,
    0,
    CAR_LABEL,
    CAR_LABEL,
    CAR_LABEL,
    CAR_LABEL,
  ]);
  // Segment 1 covers the car and two void pixels: IoU 3 / (5 + 3 - 3 - 2) = 1. Segment 2 lies on void and the group.
  pq.addImage(
    gt,
    panoptic(
      [1, 1, 1, 1, 1, 2, 2, 2, 2, 0],
      [
        [1, CAR],
        [2, CAR],
      ],
    ),
  );
  const car = pq.figures().perClass.get(CAR)!;
  t.deepEqual([car.tp, car.fp, car.fn], [1, 0, 0]);
  t.is(car.sq, 1);
});

/** PQ computed the slow, obvious way: segments as pixel sets, every pair compared. */
function bruteForcePq(gt: Uint16Array, prediction: PanopticPrediction) {
  const gtSegments = new Map<string, { classId: number; crowd: boolean; pixels: Set<number> }>();
  const voidPixels = new Set<number>();
  gt.forEach((value, p) => {
    const label = value >= 1000 ? Math.floor(value / 1000) : value;
    const classId = labels.trainIdOf[label]!;
    if (classId === 255) return void voidPixels.add(p);
    const key = labels.isThing[classId] ? `t${value}` : `s${classId}`;
    const segment = gtSegments.get(key) ?? {
      classId,
      crowd: labels.isThing[classId] === 1 && value < 1000,
      pixels: new Set(),
    };
    segment.pixels.add(p);
    gtSegments.set(key, segment);
  });
  const predSegments = new Map<number, Set<number>>();
  prediction.segmentIds.forEach((id, p) => {
    if (id !== 0) predSegments.set(id, (predSegments.get(id) ?? new Set()).add(p));
  });
  const stats = new Map<number, { tp: number; fp: number; fn: number; iou: number }>();
  const stat = (c: number) => stats.get(c) ?? stats.set(c, { tp: 0, fp: 0, fn: 0, iou: 0 }).get(c)!;
  const matchedPred = new Set<number>();
  for (const segment of gtSegments.values()) {
    if (segment.crowd) continue;
    let matched = false;
    for (const [id, pixels] of predSegments) {
      if (prediction.classOf.get(id) !== segment.classId) continue;
      const inter = [...pixels].filter((p) => segment.pixels.has(p)).length;
      const onVoid = [...pixels].filter((p) => voidPixels.has(p)).length;
      const iou = inter / (pixels.size + segment.pixels.size - inter - onVoid);
      if (iou > 0.5) {
        matched = true;
        matchedPred.add(id);
        stat(segment.classId).tp++;
        stat(segment.classId).iou += iou;
      }
    }
    if (!matched) stat(segment.classId).fn++;
  }
  for (const [id, pixels] of predSegments) {
    if (matchedPred.has(id)) continue;
    const classId = prediction.classOf.get(id)!;
    const crowd = [...gtSegments.values()].find((s) => s.crowd && s.classId === classId);
    const ignored = [...pixels].filter((p) => voidPixels.has(p) || crowd?.pixels.has(p)).length;
    if (ignored / pixels.size <= 0.5) stat(classId).fp++;
  }
  const pqs = [...stats.values()].map((s) => s.iou / (s.tp + s.fp / 2 + s.fn / 2));
  return nanMean(pqs);
}

test('PQ agrees with a brute-force computation on random panoptic maps', (t) => {
  const random = seededRandom(5);
  const gtValues = [0, ROAD_LABEL, SKY_LABEL, CAR_LABEL, CAR_LABEL * 1000, CAR_LABEL * 1000 + 1, 24 * 1000];
  for (let trial = 0; trial < 25; trial++) {
    const n = 400;
    // Blocky maps (runs of one value) so that segments overlap by meaningful amounts.
    const gt = new Uint16Array(n);
    const segmentIds = new Uint32Array(n);
    for (let p = 0; p < n; p += 10) {
      gt.fill(gtValues[Math.floor(random() * gtValues.length)]!, p, p + 10);
      const shift = Math.floor(random() * 4);
      segmentIds.fill(Math.floor(random() * 6), Math.min(n, p + shift), Math.min(n, p + 10 + shift));
    }
    const classOf = new Map([
      [1, ROAD],
      [2, SKY],
      [3, CAR],
      [4, CAR],
      [5, PERSON],
    ] as [number, number][]);
    const prediction = { segmentIds, classOf };
    const pq = new PanopticQuality(labels.trainIdOf, labels.isThing, labels.classCount);
    pq.addImage(gt, prediction);
    const expected = bruteForcePq(gt, prediction);
    const actual = pq.figures().all.pq;
    t.true(Object.is(actual, expected) || close(actual, expected), `trial ${trial}: ${actual} vs ${expected}`);
  }
});

test('the heuristic combination takes detections by score, drops mostly covered ones, keeps large stuff', (t) => {
  const semantic = Uint8Array.from([ROAD, ROAD, ROAD, CAR, CAR, CAR, SKY, 255]);
  const result = combineHeuristically(
    semantic,
    [
      { classId: CAR, score: 0.6, pixels: [3, 4] },
      { classId: CAR, score: 0.9, pixels: [4, 5] },
      { classId: PERSON, score: 0.4, pixels: [0] }, // below the score threshold
      { classId: CAR, score: 0.7, pixels: [4, 5, 2] }, // two thirds taken: dropped
    ],
    labels.isThing,
    { scoreThreshold: 0.5, overlapThreshold: 0.5, stuffAreaLimit: 2 },
  );
  t.deepEqual([...result.segmentIds], [3, 3, 3, 2, 1, 1, 0, 0]); // sky (1 px) is under the stuff limit
  t.deepEqual(
    [...result.classOf],
    [
      [1, CAR],
      [2, CAR],
      [3, ROAD],
    ],
  );
});
