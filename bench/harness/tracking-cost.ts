/**
 * Tracking alone: ms per frame of `Tracker.update` (the main thread's share of a tracked frame) on synthetic
 * moving scenes: ellipses and rectangles of varied sizes, each moving at its own constant velocity (bouncing
 * off the borders) and drawn back to front in a random depth order, so that nearer objects hide farther ones
 * (in part, or whole for a while), numbered afresh in a shuffled order every frame as fusion does.
 */
import { median, percentile } from '../../clients/src/summary.js';
import { seededRandom } from '../../fusion-wasm/src/synthetic-scenes.js';
import { DEFAULT_TRACKING, Tracker, type TrackInput } from '../../server/src/track/tracker.js';

/** The cost of tracking one kind of scene with one association. */
export interface TrackingCost {
  readonly width: number;
  readonly height: number;
  /** Mean segments per frame: the objects drawn, less those hidden behind others. */
  readonly segments: number;
  /** Objects drawn. */
  readonly objects: number;
  readonly association: 'mask' | 'box';
  /** Median ms per `update`. */
  readonly msPerFrame: number;
  /** 95th percentile ms per `update`. */
  readonly p95Ms: number;
  /** Mean share of the map's pixels covered by instances. */
  readonly coverage: number;
}

/** What `measureTrackingCost` measures. */
export interface TrackingCostOptions {
  /** Frames timed per case (after 30 untimed warm-up frames). Default 200. */
  readonly frames?: number;
}

/**
 * The cases measured: the model's input size with 10 and 50 segments, and a 2048x1024 map with 50. A few
 * more objects are drawn than segments wanted: some are hidden behind others at times (about 7%).
 */
export const TRACKING_CASES = [
  { width: 512, height: 256, objects: 11 },
  { width: 512, height: 256, objects: 54 },
  { width: 2048, height: 1024, objects: 54 },
] as const;

/** The per-frame goals: 1 ms at 512x256, 3 ms at 2048x1024 (50 segments, one core). */
export function trackingGoalMs(width: number, height: number): number {
  return width * height <= 512 * 256 ? 1 : 3;
}

interface MovingObject {
  x: number;
  y: number;
  readonly vx: number;
  readonly vy: number;
  readonly rx: number;
  readonly ry: number;
  readonly ellipse: boolean;
  readonly classId: number;
  signX: number;
  signY: number;
}

/** A seeded scene of `objects` moving objects, drawn frame by frame into one instance map. */
export class MovingScene {
  readonly instance: Uint16Array;
  readonly #objects: MovingObject[];
  readonly #random: () => number;
  readonly #area: Float64Array;
  readonly #box: Int32Array;

  constructor(
    readonly width: number,
    readonly height: number,
    objects: number,
    seed: number,
  ) {
    this.instance = new Uint16Array(width * height);
    this.#random = seededRandom(seed);
    const random = this.#random;
    const scale = width / 512;
    // Half-sizes from 4 to 40 px at 512 wide (log-uniform: many small objects, a few large). Drawn in this
    // (random) order, farthest first: objects of any size hide others at times.
    this.#objects = Array.from({ length: objects }, () => {
      const r = 4 * scale * 10 ** random();
      const aspect = 0.5 + random() * 1.5;
      return {
        x: random() * width,
        y: random() * height,
        vx: (random() * 6 - 3) * scale,
        vy: (random() * 2 - 1) * scale,
        rx: r,
        ry: r * aspect,
        ellipse: random() < 0.6,
        classId: 11 + Math.floor(random() * 8),
        signX: 1,
        signY: 1,
      };
    });
    this.#area = new Float64Array(objects + 1);
    this.#box = new Int32Array(4 * (objects + 1));
  }

  /** Draws the next frame; returns its segments (the visible objects, with exact area and box). */
  next(): TrackInput[] {
    const { width, height, instance } = this;
    const objects = this.#objects;
    const random = this.#random;
    instance.fill(0);
    // Fresh ids each frame, in a shuffled order.
    const ids = objects.map((_, i) => i + 1);
    for (let i = ids.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [ids[i], ids[j]] = [ids[j]!, ids[i]!];
    }
    objects.forEach((o, i) => {
      o.x += o.vx * o.signX;
      o.y += o.vy * o.signY;
      if (o.x < 0 || o.x >= width) o.signX = -o.signX;
      if (o.y < 0 || o.y >= height) o.signY = -o.signY;
      const id = ids[i]!;
      const y0 = Math.max(0, Math.ceil(o.y - o.ry));
      const y1 = Math.min(height - 1, Math.floor(o.y + o.ry));
      for (let y = y0; y <= y1; y++) {
        const dy = (y - o.y) / o.ry;
        const half = o.ellipse ? o.rx * Math.sqrt(Math.max(0, 1 - dy * dy)) : o.rx;
        const x0 = Math.max(0, Math.ceil(o.x - half));
        const x1 = Math.min(width - 1, Math.floor(o.x + half));
        if (x0 <= x1) instance.fill(id, y * width + x0, y * width + x1 + 1);
      }
    });
    const area = this.#area;
    const box = this.#box;
    area.fill(0);
    for (let id = 1; id <= objects.length; id++) box.set([width, height, -1, -1], 4 * id);
    for (let y = 0, p = 0; y < height; y++) {
      for (let x = 0; x < width; x++, p++) {
        const id = instance[p]!;
        if (id === 0) continue;
        area[id]!++;
        const b = 4 * id;
        if (x < box[b]!) box[b] = x;
        if (y < box[b + 1]!) box[b + 1] = y;
        if (x > box[b + 2]!) box[b + 2] = x;
        box[b + 3] = y;
      }
    }
    const segments: TrackInput[] = [];
    objects.forEach((o, i) => {
      const id = ids[i]!;
      if (area[id] === 0) return;
      const b = 4 * id;
      segments.push({
        id,
        classId: o.classId,
        score: 0.9,
        area: area[id]!,
        box: [box[b]!, box[b + 1]!, box[b + 2]!, box[b + 3]!],
      });
    });
    return segments;
  }
}

const WARM_UP = 30;

/** Median and p95 ms per tracked frame, for each case and association. */
export function measureTrackingCost(options: TrackingCostOptions = {}): TrackingCost[] {
  const frames = options.frames ?? 200;
  if (!Number.isInteger(frames) || frames < 1) {
    throw new RangeError(`frames must be a whole number >= 1, got ${frames}`);
  }
  const results: TrackingCost[] = [];
  for (const { width, height, objects } of TRACKING_CASES) {
    for (const association of ['mask', 'box'] as const) {
      const scene = new MovingScene(width, height, objects, 7);
      const tracker = new Tracker(width, height, { ...DEFAULT_TRACKING, association });
      const times: number[] = [];
      let segments = 0;
      let covered = 0;
      for (let i = 0; i < WARM_UP + frames; i++) {
        const inputs = scene.next();
        const started = performance.now();
        tracker.update(i, scene.instance, inputs);
        const ms = performance.now() - started;
        if (i < WARM_UP) continue;
        times.push(ms);
        segments += inputs.length;
        covered += inputs.reduce((sum, s) => sum + s.area, 0);
      }
      const sorted = times.sort((a, b) => a - b);
      results.push({
        width,
        height,
        segments: segments / frames,
        objects,
        association,
        msPerFrame: median(sorted),
        p95Ms: percentile(sorted, 95),
        coverage: covered / frames / (width * height),
      });
    }
  }
  return results;
}
