import test from 'ava';
import { seededRandom } from '../../fusion-wasm/src/synthetic-scenes.js';
import {
  DEFAULT_TRACKING,
  matchGreedy,
  pairwiseOverlaps,
  TrackIdsExhausted,
  Tracker,
  type EndedTrack,
  type MatchCandidate,
  type TrackInput,
  type TrackingParameters,
} from '../../server/src/track/tracker.js';
import { MAX_TRACK_ID } from '../../wire/src/panoptic.js';

const W = 64;
const H = 32;

/** An object of a hand-made scene: a rectangle or an ellipse (inclusive bounds), drawn over the earlier ones. */
interface Shape {
  readonly key: string;
  readonly classId: number;
  readonly x0: number;
  readonly y0: number;
  readonly x1: number;
  readonly y1: number;
  readonly ellipse?: boolean;
}

interface Frame {
  readonly instance: Uint16Array;
  readonly segments: TrackInput[];
  /** The per-frame id of each visible shape. */
  readonly idOf: Map<string, number>;
}

/**
 * Draws `shapes` in order (later ones in front) with per-frame ids in a seeded random order (fusion numbers
 * every frame afresh), and lists the visible ones with their exact area and box.
 */
function render(shapes: readonly Shape[], seed: number, width = W, height = H): Frame {
  const random = seededRandom(seed);
  const ids = shapes.map((_, i) => i + 1);
  for (let i = ids.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [ids[i], ids[j]] = [ids[j]!, ids[i]!];
  }
  const instance = new Uint16Array(width * height);
  shapes.forEach((shape, i) => {
    const cx = (shape.x0 + shape.x1) / 2;
    const cy = (shape.y0 + shape.y1) / 2;
    const rx = (shape.x1 - shape.x0 + 1) / 2;
    const ry = (shape.y1 - shape.y0 + 1) / 2;
    for (let y = Math.max(0, shape.y0); y <= Math.min(height - 1, shape.y1); y++) {
      for (let x = Math.max(0, shape.x0); x <= Math.min(width - 1, shape.x1); x++) {
        if (shape.ellipse === true && ((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2 > 1) continue;
        instance[y * width + x] = ids[i]!;
      }
    }
  });
  const segments: TrackInput[] = [];
  const idOf = new Map<string, number>();
  shapes.forEach((shape, i) => {
    const id = ids[i]!;
    let area = 0;
    let x0 = width;
    let y0 = height;
    let x1 = -1;
    let y1 = -1;
    for (let p = 0; p < instance.length; p++) {
      if (instance[p] !== id) continue;
      const x = p % width;
      const y = (p - x) / width;
      area++;
      x0 = Math.min(x0, x);
      y0 = Math.min(y0, y);
      x1 = Math.max(x1, x);
      y1 = Math.max(y1, y);
    }
    if (area === 0) return;
    segments.push({ id, classId: shape.classId, score: 0.9, area, box: [x0, y0, x1, y1] });
    idOf.set(shape.key, id);
  });
  return { instance, segments, idOf };
}

function rect(key: string, x0: number, y0: number, w: number, h: number, classId = 1): Shape {
  return { key, classId, x0, y0, x1: x0 + w - 1, y1: y0 + h - 1 };
}

interface Run {
  /** Per frame: the track id of each visible shape. */
  readonly tracks: Map<string, number>[];
  readonly born: number[][];
  readonly ended: EndedTrack[][];
}

/** Tracks the scenes (frame i at index `indices[i]`, default i). */
function runScenes(tracker: Tracker, scenes: readonly (readonly Shape[])[], indices?: readonly number[]): Run {
  const run: Run = { tracks: [], born: [], ended: [] };
  scenes.forEach((shapes, i) => {
    const frame = render(shapes, 1000 + i);
    const tracked = tracker.update(indices?.[i] ?? i, frame.instance, frame.segments);
    const tracks = new Map<string, number>();
    for (const [key, id] of frame.idOf) tracks.set(key, tracked.trackOf[id]!);
    run.tracks.push(tracks);
    run.born.push([...tracked.born]);
    run.ended.push([...tracked.ended]);
  });
  return run;
}

/** The track ids a shape had over the frames it was visible in. */
function idsOf(run: Run, key: string): Set<number> {
  return new Set(run.tracks.flatMap((tracks) => (tracks.has(key) ? [tracks.get(key)!] : [])));
}

const params = (more: Partial<TrackingParameters> = {}): TrackingParameters => ({ ...DEFAULT_TRACKING, ...more });

test('two moving objects keep their track ids; every segment gets a track id', (t) => {
  const scenes = Array.from({ length: 12 }, (_, f) => [
    rect('a', 2 + 2 * f, 4, 10, 8),
    { key: 'b', classId: 2, x0: 40 - f, y0: 2 + f, x1: 52 - f, y1: 12 + f, ellipse: true },
  ]);
  const run = runScenes(new Tracker(W, H, params()), scenes);
  t.deepEqual([...idsOf(run, 'a')], [1]);
  t.deepEqual([...idsOf(run, 'b')], [2]);
  t.deepEqual(run.born[0]!.sort(), [1, 2]);
  t.true(run.born.slice(1).every((born) => born.length === 0));
  t.true(run.ended.every((ended) => ended.length === 0));
});

test('trackOf and firstIndexOf are indexed by input id, 0 elsewhere; born lists new tracks in input order', (t) => {
  const tracker = new Tracker(W, H, params());
  const first = render([rect('a', 0, 0, 5, 5), rect('b', 20, 0, 5, 5)], 1);
  tracker.update(3, first.instance, first.segments);
  const instance = new Uint16Array(W * H);
  const segments: TrackInput[] = [
    { id: 9, classId: 1, score: 1, area: 25, box: [40, 10, 44, 14] },
    { id: 4, classId: 1, score: 1, area: 25, box: [0, 0, 4, 4] },
  ];
  for (let y = 0; y < 5; y++) {
    for (let x = 0; x < 5; x++) {
      instance[(10 + y) * W + 40 + x] = 9;
      instance[y * W + x] = 4;
    }
  }
  const tracked = tracker.update(5, instance, segments);
  t.is(tracked.trackOf.length, 10);
  t.is(tracked.firstIndexOf.length, 10);
  t.is(tracked.trackOf[4], 1);
  t.is(tracked.firstIndexOf[4], 3);
  t.is(tracked.trackOf[9], 3);
  t.is(tracked.firstIndexOf[9], 5);
  t.deepEqual(tracked.born, [3]);
  for (const id of [0, 1, 2, 3, 5, 6, 7, 8]) t.is(tracked.trackOf[id], 0);
});

test('objects crossing, one fully hidden behind the other for 3 frames (maxAge 5), keep their ids', (t) => {
  // a moves right behind b, which moves left in front of it; same class.
  const scenes = Array.from({ length: 20 }, (_, f) => [rect('a', 2 + 3 * f, 10, 8, 8), rect('b', 46 - f, 6, 16, 16)]);
  const visibleA = scenes.map((shapes, f) => render(shapes, f).idOf.has('a'));
  // The scene hides a in exactly 3 consecutive frames, and shows it partly before and after.
  const hidden = visibleA.flatMap((visible, f) => (visible ? [] : [f]));
  t.is(hidden.length, 3);
  t.is(hidden[2]! - hidden[0]!, 2);
  t.true(visibleA[hidden[2]! + 1]! && visibleA.at(-1)!);

  const run = runScenes(new Tracker(W, H, params({ maxAge: 5 })), scenes);
  t.deepEqual([...idsOf(run, 'a')], [1]);
  t.deepEqual([...idsOf(run, 'b')], [2]);
  t.true(run.born.slice(1).every((born) => born.length === 0));

  // With maxAge 2, a is hidden too long: a new track when it comes out, and the old one ends once.
  const short = runScenes(new Tracker(W, H, params({ maxAge: 2 })), scenes);
  t.deepEqual([...idsOf(short, 'a')], [1, 3]);
  t.deepEqual([...idsOf(short, 'b')], [2]);
  const ended = short.ended.flat();
  t.deepEqual(
    ended.map((e) => e.trackId),
    [1],
  );
  t.is(
    short.ended.findIndex((e) => e.length > 0),
    hidden[2]!,
  );
});

test('a track hidden longer than maxAge ends once, with its frames; then the object gets a new id', (t) => {
  const maxAge = 4;
  const frames = 20;
  // Seen in frames 0..5, missing from 6..10 (5 frames > maxAge), seen again from 11 in the same place.
  const scenes = Array.from({ length: frames }, (_, f) =>
    f >= 6 && f <= 10 ? [rect('b', 40, 2, 6, 6)] : [rect('a', 10, 10, 8, 8), rect('b', 40, 2, 6, 6)],
  );
  const run = runScenes(new Tracker(W, H, params({ maxAge })), scenes);
  t.deepEqual([...idsOf(run, 'a')], [1, 3]);
  t.true(run.tracks.slice(11).every((tracks) => tracks.get('a') === 3));
  const ended = run.ended.flatMap((list, f) => list.map((e) => ({ ...e, at: f })));
  t.deepEqual(ended, [{ trackId: 1, classId: 1, firstIndex: 0, lastIndex: 5, framesSeen: 6, at: 10 }]);
  t.deepEqual(run.born[11], [3]);

  // Missing from exactly maxAge frames: the same id.
  const exact = Array.from({ length: frames }, (_, f) =>
    f >= 6 && f <= 9 ? [rect('b', 40, 2, 6, 6)] : [rect('a', 10, 10, 8, 8), rect('b', 40, 2, 6, 6)],
  );
  const kept = runScenes(new Tracker(W, H, params({ maxAge })), exact);
  t.deepEqual([...idsOf(kept, 'a')], [1]);
  t.true(kept.ended.every((list) => list.length === 0));
});

test('a segment whose class differs from the track does not continue it', (t) => {
  const scenes = Array.from({ length: 8 }, (_, f) => [rect('a', 10, 10, 8, 8, f < 3 ? 1 : 2)]);
  const run = runScenes(new Tracker(W, H, params({ maxAge: 2 })), scenes);
  t.deepEqual(
    run.tracks.map((tracks) => tracks.get('a')),
    [1, 1, 1, 2, 2, 2, 2, 2],
  );
  // Track 1 is lost from frame 3 and ends after missing maxAge + 1 frames.
  t.deepEqual(
    run.ended.map((list) => list.map((e) => e.trackId)),
    [[], [], [], [], [], [1], [], []],
  );
});

test('IoU at the threshold continues a track; just below it does not', (t) => {
  // 10x10 squares 3 px apart: overlap 70, union 130, IoU 7/13. The object stands still for a frame first: its
  // track has learned its velocity (0), so stage 1 alone decides (stage 3 is for tracks seen once).
  const first = [rect('a', 10, 10, 10, 10)];
  const second = [rect('a', 13, 10, 10, 10)];
  const scenes = [first, first, second];
  const at = runScenes(new Tracker(W, H, { iouThreshold: 7 / 13, maxAge: 3 }), scenes);
  t.deepEqual([...idsOf(at, 'a')], [1]);
  const above = runScenes(new Tracker(W, H, { iouThreshold: 7 / 13 + 1e-9, maxAge: 3 }), scenes);
  t.deepEqual([...idsOf(above, 'a')], [1, 2]);
  // Box association: the same boxes, the same IoU.
  const box = { association: 'box' as const, maxAge: 3 };
  t.deepEqual([...idsOf(runScenes(new Tracker(W, H, { ...box, iouThreshold: 7 / 13 }), scenes), 'a')], [1]);
  t.deepEqual([...idsOf(runScenes(new Tracker(W, H, { ...box, iouThreshold: 7 / 13 + 1e-9 }), scenes), 'a')], [1, 2]);
});

test('track ids start at 1, increase, and are never reused', (t) => {
  const random = seededRandom(7);
  const tracker = new Tracker(W, H, params({ maxAge: 2 }));
  const born: number[] = [];
  const endedIds = new Set<number>();
  for (let f = 0; f < 200; f++) {
    // Objects that blink in and out at random places: many births and ends.
    const shapes = Array.from({ length: 1 + Math.floor(random() * 6) }, (_, i) =>
      rect(`s${i}`, Math.floor(random() * (W - 8)), Math.floor(random() * (H - 8)), 4 + Math.floor(random() * 5), 5),
    );
    const frame = render(shapes, f);
    const tracked = tracker.update(f, frame.instance, frame.segments);
    born.push(...tracked.born);
    for (const segment of frame.segments) t.false(endedIds.has(tracked.trackOf[segment.id]!));
    for (const e of tracked.ended) {
      t.false(endedIds.has(e.trackId));
      endedIds.add(e.trackId);
    }
    t.true(tracker.activeTracks <= 6 * 3);
  }
  t.true(born.length > 100);
  t.deepEqual(
    born,
    born.map((_, i) => i + 1),
  );
});

test('gaps in the frame index count toward the age of a lost track', (t) => {
  const maxAge = 3;
  const scene = [rect('a', 10, 10, 8, 8)];
  // Seen at 0 and 1; next frame 5: missing from 2, 3, 4 (= maxAge): the same track.
  const kept = runScenes(new Tracker(W, H, params({ maxAge })), [scene, scene, scene], [0, 1, 5]);
  t.deepEqual([...idsOf(kept, 'a')], [1]);
  // Next frame 6: missing from 2..5 (maxAge + 1): it ended, reported in frame 6, and the object is new.
  const lost = runScenes(new Tracker(W, H, params({ maxAge })), [scene, scene, scene], [0, 1, 6]);
  t.deepEqual([...idsOf(lost, 'a')], [1, 2]);
  t.deepEqual(lost.ended[2], [{ trackId: 1, classId: 1, firstIndex: 0, lastIndex: 1, framesSeen: 2 }]);
  // An empty frame far later ends it too, reported there.
  const tracker = new Tracker(W, H, params({ maxAge }));
  runScenes(tracker, [scene, scene], [0, 1]);
  t.deepEqual(tracker.update(4, new Uint16Array(W * H), []).ended, []);
  t.deepEqual(
    tracker.update(100, new Uint16Array(W * H), []).ended.map((e) => e.trackId),
    [1],
  );
});

test('finish() ends the live and lost tracks; ids go on after it', (t) => {
  const tracker = new Tracker(W, H, params({ maxAge: 5 }));
  const scenes = [
    [rect('a', 2, 2, 6, 6), rect('b', 30, 2, 6, 6, 3)],
    [rect('a', 3, 2, 6, 6), rect('b', 30, 2, 6, 6, 3)],
    [rect('a', 4, 2, 6, 6)],
  ];
  runScenes(tracker, scenes, [10, 11, 12]);
  t.is(tracker.activeTracks, 2);
  t.deepEqual(tracker.finish(), [
    { trackId: 1, classId: 1, firstIndex: 10, lastIndex: 12, framesSeen: 3 },
    { trackId: 2, classId: 3, firstIndex: 10, lastIndex: 11, framesSeen: 2 },
  ]);
  t.is(tracker.activeTracks, 0);
  t.deepEqual(tracker.finish(), []);
  const frame = render([rect('a', 4, 2, 6, 6)], 1);
  t.deepEqual(tracker.update(13, frame.instance, frame.segments).born, [3]);
});

test('past maxTrackId, update throws TrackIdsExhausted and leaves the tracker unchanged', (t) => {
  const tracker = new Tracker(W, H, params({ maxTrackId: 3 }));
  const two = render([rect('a', 2, 2, 6, 6), rect('b', 30, 2, 6, 6)], 1);
  tracker.update(0, two.instance, two.segments);
  const moreTwo = render([rect('a', 2, 2, 6, 6), rect('c', 2, 20, 6, 6), rect('d', 30, 20, 6, 6)], 2);
  t.throws(() => tracker.update(1, moreTwo.instance, moreTwo.segments), {
    instanceOf: TrackIdsExhausted,
    message: /2 new track\(s\) would pass the largest track id, 3/,
  });
  t.is(tracker.activeTracks, 2);
  t.is(tracker.nextTrackId, 3);
  // The same index again, with one new object: fine; the next new one is too many.
  const moreOne = render([rect('a', 2, 2, 6, 6), rect('c', 2, 20, 6, 6)], 3);
  const tracked = tracker.update(1, moreOne.instance, moreOne.segments);
  t.deepEqual(tracked.born, [3]);
  t.is(tracked.trackOf[moreOne.idOf.get('a')!], 1);
  const another = render([rect('e', 50, 20, 6, 6)], 4);
  t.throws(() => tracker.update(2, another.instance, another.segments), { instanceOf: TrackIdsExhausted });
  t.true(new TrackIdsExhausted(1, 1) instanceof Error);
  // The default is the panoptic PNG's limit.
  t.notThrows(() => new Tracker(W, H, params({ maxTrackId: MAX_TRACK_ID })));
});

test('the constructor and update() reject bad input, naming what is wrong', (t) => {
  const bad: [number, number, TrackingParameters, RegExp][] = [
    [0, H, params(), /^width must be a whole number from 1 to 32768, got 0$/],
    [W, 1.5, params(), /^height must be/],
    [W, H, params({ iouThreshold: 0 }), /^iouThreshold must be above 0 and at most 1, got 0$/],
    [W, H, params({ iouThreshold: 1.01 }), /^iouThreshold must be above 0 and at most 1, got 1.01$/],
    [W, H, params({ iouThreshold: Number.NaN }), /^iouThreshold .* got NaN$/],
    [W, H, params({ maxAge: -1 }), /^maxAge must be a whole number from 0 to \d+, got -1$/],
    [W, H, params({ maxAge: 2.5 }), /^maxAge .* got 2.5$/],
    [W, H, params({ maxAge: Infinity }), /^maxAge .* got Infinity$/],
    [W, H, { ...params(), association: 'centroid' as 'box' }, /^association must be 'mask' or 'box', got centroid$/],
    [W, H, params({ maxTrackId: 0 }), /^maxTrackId must be a whole number from 1 to 16776959, got 0$/],
    [W, H, params({ maxTrackId: MAX_TRACK_ID + 1 }), /^maxTrackId /],
  ];
  for (const [width, height, parameters, message] of bad) {
    t.throws(() => new Tracker(width, height, parameters), { instanceOf: RangeError, message });
  }
  t.notThrows(() => new Tracker(1, 1, { iouThreshold: 1, maxAge: 0, association: 'box', maxTrackId: 1 }));

  const tracker = new Tracker(W, H, params());
  const frame = render([rect('a', 2, 2, 6, 6), rect('b', 30, 2, 6, 6)], 1);
  tracker.update(4, frame.instance, frame.segments);
  t.throws(() => tracker.update(4, frame.instance, frame.segments), {
    instanceOf: RangeError,
    message: 'index must increase from frame to frame: got 4 after 4',
  });
  t.throws(() => tracker.update(-1, frame.instance, []), { message: /^index must be a whole number >= 0/ });
  t.throws(() => tracker.update(5, new Uint16Array(10), []), { message: /has 10 pixels; .* 64x32/ });
  const [a, b] = frame.segments as [TrackInput, TrackInput];
  t.throws(() => tracker.update(5, frame.instance, [a, { ...b, id: a.id }]), {
    instanceOf: RangeError,
    message: `segments[1].id ${a.id} repeats the id of segments[0]`,
  });
  t.throws(() => tracker.update(5, frame.instance, [{ ...a, id: 0 }]), { message: /^segments\[0\]\.id must be/ });
  // After the rejected calls, the same frame still tracks (nothing of them was kept).
  const tracked = tracker.update(5, frame.instance, frame.segments);
  t.deepEqual(tracked.born, []);
  t.is(tracked.trackOf[a.id], 1);
});

/** The pixels of a run list, as indices. */
function pixelsOfRuns(runs: Int32Array, width: number): number[] {
  const pixels: number[] = [];
  for (let r = 0; r < runs.length; r += 3) {
    for (let x = runs[r + 1]!; x < runs[r + 2]!; x++) pixels.push(runs[r]! * width + x);
  }
  return pixels;
}

/** A random map of blobs (rectangles and ellipses of random ids) with its segments. */
function randomMap(random: () => number, width: number, height: number, ids: number): Frame {
  const shapes = Array.from({ length: ids }, (_, i) => {
    const w = 1 + Math.floor(random() * width * 0.6);
    const h = 1 + Math.floor(random() * height * 0.6);
    const x0 = Math.floor(random() * width) - 3;
    const y0 = Math.floor(random() * height) - 3;
    return {
      key: `${i}`,
      classId: Math.floor(random() * 3),
      x0,
      y0,
      x1: x0 + w - 1,
      y1: y0 + h - 1,
      ellipse: random() < 0.5,
    };
  });
  return render(shapes, Math.floor(random() * 1e9), width, height);
}

test('brute force: the one-pass overlaps and IoUs equal a naive per-pair pixel loop', (t) => {
  const random = seededRandom(42);
  let pairsChecked = 0;
  for (let trial = 0; trial < 150; trial++) {
    const width = 5 + Math.floor(random() * 90);
    const height = 5 + Math.floor(random() * 30);
    const previous = randomMap(random, width, height, 1 + Math.floor(random() * 6));
    const drawn = randomMap(random, width, height, 1 + Math.floor(random() * 8));
    // Large ids now and then; the map as 16 bits (4-byte aligned or not) or 32 bits.
    const offset = random() < 0.5 ? 0 : 40000;
    const kind = Math.floor(random() * 3);
    const instance =
      kind === 2
        ? new Uint32Array(drawn.instance.length)
        : new Uint16Array(drawn.instance.length + 1).subarray(kind, kind + drawn.instance.length);
    drawn.instance.forEach((id, p) => (instance[p] = id === 0 ? 0 : id + offset));
    const current = {
      instance,
      // Now and then an id of the map is not among the segments: its pixels count for none.
      segments: drawn.segments
        .map((segment) => ({ ...segment, id: segment.id + offset }))
        .filter((_, i) => i !== 0 || random() < 0.8),
    };
    // Masks: the previous frame's segments (as the tracker stores them), with random shifts, some far out.
    const previousRuns = pairwiseOverlaps(width, height, previous.instance, previous.segments, []).segmentRuns;
    const masks = previousRuns.map((runs) => ({
      runs,
      dx: Math.floor(random() * 13) - 6 + (random() < 0.1 ? width : 0),
      dy: Math.floor(random() * 9) - 4,
    }));
    // Now and then a box that misses pixels of its segment: the full-map scan.
    let segments = current.segments;
    const corrupt = random() < 0.3 && segments.length > 0;
    if (corrupt) {
      const [first, ...rest] = segments as [TrackInput, ...TrackInput[]];
      segments = [...rest, { ...first, box: [first.box[0] + 1, first.box[1], first.box[2], first.box[3]] }];
    }
    const found = pairwiseOverlaps(width, height, current.instance, segments, masks);
    const naiveAreas: number[] = [];
    const naive: { mask: number; segment: number; overlap: number; iou: number }[] = [];
    masks.forEach((mask, m) => {
      const shifted = pixelsOfRuns(mask.runs, width).flatMap((p) => {
        const x = (p % width) + mask.dx;
        const y = Math.floor(p / width) + mask.dy;
        return x >= 0 && x < width && y >= 0 && y < height ? [y * width + x] : [];
      });
      naiveAreas.push(shifted.length);
      segments.forEach((segment, s) => {
        let overlap = 0;
        for (const p of shifted) if (current.instance[p] === segment.id) overlap++;
        if (overlap > 0) {
          naive.push({ mask: m, segment: s, overlap, iou: overlap / (shifted.length + segment.area - overlap) });
        }
      });
    });
    t.deepEqual(found.maskAreas, naiveAreas);
    t.deepEqual(
      found.segmentAreas,
      segments.map((s) => s.area),
    );
    for (const [s, runs] of found.segmentRuns.entries()) {
      const expected = [...current.instance.keys()].filter((p) => current.instance[p] === segments[s]!.id);
      t.deepEqual(
        pixelsOfRuns(runs, width).sort((a, b) => a - b),
        expected,
      );
    }
    t.is(found.fullScan, corrupt);
    const order = (a: { mask: number; segment: number }, b: { mask: number; segment: number }) =>
      a.mask - b.mask || a.segment - b.segment;
    t.deepEqual([...found.pairs].sort(order), naive.sort(order));
    pairsChecked += naive.length;
  }
  t.true(pairsChecked > 200);
});

test('the full-map scan is used only when a box does not hold its segment', (t) => {
  const frame = render([rect('a', 2, 2, 6, 6), rect('b', 30, 2, 6, 6)], 1);
  t.false(pairwiseOverlaps(W, H, frame.instance, frame.segments, []).fullScan);
  const [a, b] = frame.segments as [TrackInput, TrackInput];
  const shrunk = { ...a, box: [a.box[0], a.box[1], a.box[2] - 1, a.box[3]] as const };
  const found = pairwiseOverlaps(W, H, frame.instance, [shrunk, b], []);
  t.true(found.fullScan);
  t.deepEqual(found.segmentAreas, [36, 36]);
});

/** Naive greedy: repeatedly the best free pair, by a scan of all pairs (O(n^3)). */
function naiveGreedy(candidates: readonly MatchCandidate[], tracks: number): Int32Array {
  const segmentOf = new Int32Array(tracks).fill(-1);
  const segmentTaken = new Set<number>();
  for (;;) {
    let best: MatchCandidate | undefined;
    for (const c of candidates) {
      if (segmentOf[c.track] !== -1 || segmentTaken.has(c.segment)) continue;
      const better =
        best === undefined ||
        c.score > best.score ||
        (c.score === best.score &&
          (c.lastIndex > best.lastIndex ||
            (c.lastIndex === best.lastIndex &&
              (c.trackId < best.trackId || (c.trackId === best.trackId && c.segment < best.segment)))));
      if (better) best = c;
    }
    if (best === undefined) return segmentOf;
    segmentOf[best.track] = best.segment;
    segmentTaken.add(best.segment);
  }
}

test('brute force: the greedy matching equals a naive O(n^3) greedy, ties included', (t) => {
  const random = seededRandom(3);
  let matched = 0;
  for (let trial = 0; trial < 300; trial++) {
    const tracks = 1 + Math.floor(random() * 12);
    const segments = 1 + Math.floor(random() * 12);
    const lastIndex = Array.from({ length: tracks }, () => Math.floor(random() * 3));
    const trackId = Array.from({ length: tracks }, (_, i) => 10 + 2 * i);
    const candidates: MatchCandidate[] = [];
    for (let track = 0; track < tracks; track++) {
      for (let segment = 0; segment < segments; segment++) {
        // Coarse scores: many ties, broken by recency, track id and segment.
        if (random() < 0.6) {
          const score = Math.ceil(random() * 4) / 4;
          candidates.push({ track, segment, score, lastIndex: lastIndex[track]!, trackId: trackId[track]! });
        }
      }
    }
    // Shuffled: the order of the candidates does not matter.
    candidates.sort(() => random() - 0.5);
    const greedy = matchGreedy(candidates, tracks, segments);
    t.deepEqual(greedy, naiveGreedy(candidates, tracks));
    matched += greedy.filter((s) => s !== -1).length;
  }
  t.true(matched > 500);
});

test('the motion model finds a fast object again where it comes out from behind an occluder', (t) => {
  // A 10x6 object moving 4 px a frame passes behind a wide occluder (another class) and is hidden for 2
  // frames: it comes out 12 px from where it was last seen, more than its own width.
  const x = (f: number) => 1 + 4 * f;
  const scenes = Array.from({ length: 11 }, (_, f) => [rect('fast', x(f), 12, 10, 6), rect('wall', 22, 4, 20, 24, 5)]);
  const visible = scenes.map((shapes, f) => render(shapes, f).idOf.has('fast'));
  t.deepEqual(visible, [true, true, true, true, true, true, false, false, true, true, true]);
  // Without a shift, its mask when last seen (frame 5, one column left of the wall) and the one it comes out
  // with (frame 8, one column right of it) are far apart.
  const pixelsOf = (frame: Frame) =>
    [...frame.instance.keys()].filter((p) => frame.instance[p] === frame.idOf.get('fast'));
  const last = pixelsOf(render(scenes[5]!, 0));
  const back = pixelsOf(render(scenes[8]!, 0));
  t.true(Math.min(...back.map((p) => p % W)) - Math.max(...last.map((p) => p % W)) > 10);

  const run = runScenes(new Tracker(W, H, params({ maxAge: 3 })), scenes);
  t.deepEqual([...idsOf(run, 'fast')], [1]);
  t.deepEqual([...idsOf(run, 'wall')], [2]);
  t.true(run.born.slice(1).every((born) => born.length === 0));
  // The same, vanishing with no occluder (a missed detection) for 2 frames: found again too.
  const alone = scenes.map((shapes, f) => (f === 6 || f === 7 ? [] : [shapes[0]!]));
  t.deepEqual([...idsOf(runScenes(new Tracker(W, H, params({ maxAge: 3 })), alone), 'fast')], [1]);
  // Box association has the same motion model.
  const box = runScenes(new Tracker(W, H, params({ maxAge: 3, association: 'box' })), alone);
  t.deepEqual([...idsOf(box, 'fast')], [1]);
});

test('brute force: a track keeps its segment plus only pixels other segments hide, as sorted, joined runs', (t) => {
  const random = seededRandom(5);
  const width = 96;
  const height = 48;
  // Shapes moving at random constant velocities, bouncing; later ones in front: many partial occlusions.
  const movers = Array.from({ length: 7 }, (_, i) => ({
    key: `m${i}`,
    classId: i % 2,
    x: random() * width,
    y: random() * height,
    vx: random() * 6 - 3,
    vy: random() * 3 - 1.5,
    w: 6 + Math.floor(random() * 20),
    h: 6 + Math.floor(random() * 14),
    ellipse: random() < 0.5,
  }));
  const tracker = new Tracker(width, height, params({ maxAge: 3 }));
  const previousArea = new Map<number, number>();
  let withHidden = 0;
  for (let f = 0; f < 120; f++) {
    for (const m of movers) {
      m.x += m.vx;
      m.y += m.vy;
      if (m.x < -5 || m.x > width - 5) m.vx = -m.vx;
      if (m.y < -5 || m.y > height - 5) m.vy = -m.vy;
    }
    const shapes = movers.map((m) => ({
      key: m.key,
      classId: m.classId,
      x0: Math.round(m.x),
      y0: Math.round(m.y),
      x1: Math.round(m.x) + m.w - 1,
      y1: Math.round(m.y) + m.h - 1,
      ellipse: m.ellipse,
    }));
    const frame = render(shapes, f, width, height);
    const tracked = tracker.update(f, frame.instance, frame.segments);
    const listed = new Set(frame.segments.map((s) => s.id));
    for (const segment of frame.segments) {
      const trackId = tracked.trackOf[segment.id]!;
      const runs = tracker.maskOf(trackId)!;
      for (let r = 0; r < runs.length; r += 3) {
        t.true(runs[r + 1]! < runs[r + 2]!);
        if (r > 0 && runs[r - 3] === runs[r]) t.true(runs[r - 1]! < runs[r + 1]!, 'sorted, not touching');
        else if (r > 0) t.true(runs[r - 3]! < runs[r]!, 'rows ascending');
      }
      const mask = new Set(pixelsOfRuns(runs, width));
      const own = [...frame.instance.keys()].filter((p) => frame.instance[p] === segment.id);
      t.true(
        own.every((p) => mask.has(p)),
        'the mask holds the segment',
      );
      const extra = [...mask].filter((p) => frame.instance[p] !== segment.id);
      t.true(
        extra.every((p) => listed.has(frame.instance[p]!)),
        'extra pixels are hidden by segments',
      );
      if (tracked.born.includes(trackId)) t.is(extra.length, 0);
      else t.true(mask.size <= Math.max(own.length, previousArea.get(trackId)!));
      if (extra.length > 0) withHidden++;
      previousArea.set(trackId, mask.size);
    }
  }
  t.true(withHidden > 30);
});

test('box association keeps the ids of moving objects and tells classes apart', (t) => {
  const scenes = Array.from({ length: 10 }, (_, f) => [
    rect('a', 2 + 3 * f, 4, 10, 8),
    rect('b', 50 - 2 * f, 16, 8, 10, 2),
    rect('c', 50 - 2 * f, 16, 8, 10, f < 5 ? 4 : 6),
  ]);
  const run = runScenes(new Tracker(W, H, params({ association: 'box' })), scenes);
  t.deepEqual([...idsOf(run, 'a')], [1]);
  // c is drawn over b (same box): b is never visible; c changes class at frame 5.
  t.deepEqual([...idsOf(run, 'b')], []);
  t.deepEqual([...idsOf(run, 'c')], [2, 3]);
});

test('memory stays bounded: tracks end after maxAge frames, however long the stream', (t) => {
  const random = seededRandom(11);
  const tracker = new Tracker(W, H, params({ maxAge: 3 }));
  let most = 0;
  for (let f = 0; f < 400; f++) {
    const shapes = Array.from({ length: 4 }, (_, i) =>
      rect(`s${i}`, Math.floor(random() * (W - 8)), Math.floor(random() * (H - 8)), 6, 6),
    );
    const frame = render(shapes, f);
    tracker.update(f, frame.instance, frame.segments);
    most = Math.max(most, tracker.activeTracks);
  }
  t.true(most <= 4 * 5);
  t.true(tracker.nextTrackId > 300);
});

test('stage 3: a small fast object keeps one id from its first frames, in any direction', (t) => {
  // 4x4 objects moving 8 px a frame (twice their size): no overlap between consecutive frames at first.
  const scenes = Array.from({ length: 7 }, (_, f) => [
    rect('right', 2 + 8 * f, 2, 4, 4),
    rect('down', 56, 1 + 4 * f, 4, 4, 2),
    rect('diagonal', 50 - 6 * f, 2 + 4 * f, 4, 4, 3),
  ]);
  const first = render(scenes[0]!, 0);
  const second = render(scenes[1]!, 1);
  const pixels = (frame: Frame, key: string) =>
    new Set([...frame.instance.keys()].filter((p) => frame.instance[p] === frame.idOf.get(key)));
  const before = pixels(first, 'right');
  t.true([...pixels(second, 'right')].every((p) => !before.has(p)));
  const run = runScenes(new Tracker(W, H, params()), scenes);
  t.deepEqual([...idsOf(run, 'right')], [1]);
  t.deepEqual([...idsOf(run, 'down')], [2]);
  t.deepEqual([...idsOf(run, 'diagonal')], [3]);
  t.true(run.born.slice(1).every((born) => born.length === 0));
  // Box association (the baseline) has no stage 3: a new id every frame.
  const box = runScenes(new Tracker(W, H, params({ association: 'box' })), scenes);
  t.is(idsOf(box, 'right').size, 7);
});

test('stage 1: an object coming into view at the border keeps its id as it grows in place', (t) => {
  // Entering from the left, 5 px a frame: a 1-px sliver, then 6 px, 11 px, ... (IoU 1/6 at the first step).
  const scenes = Array.from({ length: 6 }, (_, f) => [rect('car', -19 + 5 * f, 8, 20, 10)]);
  t.is(render(scenes[0]!, 0).segments[0]!.area, 10);
  // At a threshold above that first IoU, the in-place rule keeps the id; box association has no such rule.
  const run = runScenes(new Tracker(W, H, params({ iouThreshold: 0.3 })), scenes);
  t.deepEqual([...idsOf(run, 'car')], [1]);
  const boxes = runScenes(new Tracker(W, H, params({ association: 'box', iouThreshold: 0.3 })), scenes);
  t.true(idsOf(boxes, 'car').size > 1);
});

test('stage 3: two fast objects of one class, first seen as they pass each other, do not swap', (t) => {
  // Both seen first in frame 0; in frame 1 they stand one above the other, 5 px apart (their own motion is
  // 8 px, the crossed pairs' 9.4 px); then they go on past each other.
  const scenes = Array.from({ length: 6 }, (_, f) => [
    rect('a', 20 + 8 * f, 10, 4, 4),
    rect('b', 36 - 8 * f, 15, 4, 4),
  ]);
  const run = runScenes(new Tracker(W, H, params()), scenes);
  t.deepEqual([...idsOf(run, 'a')], [1]);
  t.deepEqual([...idsOf(run, 'b')], [2]);
  // The same with their input order and per-frame ids swapped (render shuffles ids by seed): still no swap.
  const swapped = runScenes(
    new Tracker(W, H, params()),
    scenes.map(([a, b]) => [b!, a!]),
  );
  t.deepEqual([...idsOf(swapped, 'a')], [idsOf(swapped, 'a').values().next().value!]);
  t.is(idsOf(swapped, 'b').size, 1);
  t.notDeepEqual(idsOf(swapped, 'a'), idsOf(swapped, 'b'));
});

test('stage 3: its gate rejects a far object, another class, or another shape; the reach grows with missed frames', (t) => {
  // A 4x6 object (extent 6, reach 12 px a frame) seen once at x = 4.
  const seen = [rect('a', 4, 10, 4, 6)];
  // 13 px away in the next frame: beyond reach, a new id.
  t.deepEqual([...idsOf(runScenes(new Tracker(W, H, params()), [seen, [rect('a', 17, 10, 4, 6)]]), 'a')], [1, 2]);
  // 12 px away: within reach.
  t.deepEqual([...idsOf(runScenes(new Tracker(W, H, params()), [seen, [rect('a', 16, 10, 4, 6)]]), 'a')], [1]);
  // 20 px away two frames later (one frame missed): within reach (24 px).
  t.deepEqual([...idsOf(runScenes(new Tracker(W, H, params()), [seen, [rect('a', 24, 10, 4, 6)]], [0, 2]), 'a')], [1]);
  // Within reach but of another class: a new id.
  const other = runScenes(new Tracker(W, H, params()), [seen, [rect('a', 14, 10, 4, 6, 2)]]);
  t.deepEqual([...idsOf(other, 'a')], [1, 2]);
  // Within reach, but flat: aligned on their centroids, the two overlap by 8 px, less than half of 24.
  const flat = runScenes(new Tracker(W, H, params()), [seen, [rect('a', 12, 12, 12, 2)]]);
  t.deepEqual([...idsOf(flat, 'a')], [1, 2]);
  // Of two objects within reach (8 px and 11.3 px away), the nearer one continues the track.
  const two = runScenes(new Tracker(W, H, params()), [seen, [rect('far', 12, 2, 4, 6), rect('near', 12, 10, 4, 6)]]);
  t.deepEqual([...idsOf(two, 'near')], [1]);
  t.deepEqual([...idsOf(two, 'far')], [2]);
});

test('maxTracks bounds the tracks held: the lost tracks seen longest ago end early, those of this frame never', (t) => {
  // Each frame, three new objects of their own class far from the last ones (no match), with a long max age.
  const scenes = Array.from({ length: 5 }, (_, f) => [
    rect(`a${f}`, 2, 2 + 5 * f, 3, 3, 1 + f),
    rect(`b${f}`, 30, 2 + 5 * f, 3, 3, 1 + f),
    rect(`c${f}`, 55, 2 + 5 * f, 3, 3, 1 + f),
  ]);
  const tracker = new Tracker(W, H, params({ maxAge: 100, maxTracks: 5 }));
  const held: number[] = [];
  const ended: number[][] = [];
  for (const [f, shapes] of scenes.entries()) {
    const frame = render(shapes, 2000 + f);
    ended.push(tracker.update(f, frame.instance, frame.segments).ended.map((track) => track.trackId));
    held.push(tracker.activeTracks);
  }
  t.deepEqual(held, [3, 5, 5, 5, 5]);
  // Frame 1: 6 tracks, one too many: track 1 (seen in frame 0, the lowest id of the oldest) ends.
  t.deepEqual(ended, [[], [1], [2, 3, 4], [5, 6, 7], [8, 9, 10]]);
  // A frame with more instances than the cap keeps them all.
  const crowd = Array.from({ length: 8 }, (_, k) => rect(`k${k}`, 2 + 7 * k, 28, 3, 3, 9));
  const frame = render(crowd, 3000);
  const tracked = tracker.update(5, frame.instance, frame.segments);
  t.is(tracked.born.length, 8);
  t.is(tracker.activeTracks, 8);
  t.throws(() => new Tracker(W, H, params({ maxTracks: 0 })), { instanceOf: RangeError, message: /maxTracks/ });
});

test('maxSegments bounds the instances associated: the smallest beyond it get ids of their own, born and ended at once', (t) => {
  // Two large objects that persist, and specks that change every frame; at most 3 instances are followed.
  const scenes = Array.from({ length: 3 }, (_, f) => [
    rect('big', 2 + f, 2, 12, 10),
    rect('mid', 30 + f, 2, 8, 8),
    ...Array.from({ length: 4 }, (_, k) => rect(`speck${f}-${k}`, 4 + 12 * k, 24, 2, 2)),
  ]);
  const tracker = new Tracker(W, H, params({ maxSegments: 3 }));
  const run = runScenes(tracker, scenes);
  t.deepEqual([...idsOf(run, 'big')], [1]);
  t.deepEqual([...idsOf(run, 'mid')], [2]);
  // Frame 0: big, mid and one speck (the first of the equal-sized ones) are followed; three are not.
  t.deepEqual(run.born[0], [1, 2, 3, 4, 5, 6]);
  t.deepEqual(
    run.ended[0]!.map((track) => [track.trackId, track.firstIndex, track.lastIndex, track.framesSeen]),
    [
      [4, 0, 0, 1],
      [5, 0, 0, 1],
      [6, 0, 0, 1],
    ],
  );
  // Every instance has an id, never one used before.
  const all = run.tracks.flatMap((tracks) => [...tracks.values()]);
  t.true(all.every((id) => id > 0));
  t.is(
    new Set(
      run.tracks.flatMap((tracks, f) =>
        [...tracks].filter(([key]) => key.startsWith('speck')).map(([, id]) => `${f}:${id}`),
      ),
    ).size,
    12,
  );
  t.is(tracker.activeTracks <= 3 + 1, true);
  t.throws(() => new Tracker(W, H, params({ maxSegments: 0 })), { instanceOf: RangeError, message: /maxSegments/ });
});
