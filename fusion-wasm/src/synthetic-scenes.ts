/**
 * Seeded synthetic fusion inputs, for tests and benchmarks: street-like semantic maps (smooth regions,
 * ragged boundaries, patches of a sibling subcategory inside objects) with detections whose coarse masks
 * spill over and miss parts of their objects, plus a stress scene of salt noise (thousands of tiny
 * components).
 */
import type { Detection, FusionInput } from './types.js';

/** mulberry32: small, fast, and the same sequence everywhere for a seed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface SceneOptions {
  readonly width: number;
  readonly height: number;
  /** Objects drawn (detections are made for most of them, plus a few false ones). */
  readonly objects: number;
  readonly seed: number;
  readonly maskSize?: number;
  /** Fraction of void (255) pixels sprinkled in. Default 0.001. */
  readonly voidFraction?: number;
}

// Cityscapes train ids.
const ROAD = 0;
const SIDEWALK = 1;
const BUILDING = 2;
const VEGETATION = 8;
const SKY = 10;
const THINGS = [11, 12, 13, 14, 15, 16, 17, 18];
/** Look-alike subcategories the semantic head confuses. */
const SIBLINGS: Readonly<Record<number, readonly number[]>> = {
  11: [12],
  12: [11],
  13: [14, 15],
  14: [13, 15],
  15: [13, 14],
  16: [15],
  17: [18],
  18: [17],
};

export function generateScene(options: SceneOptions): FusionInput {
  const { width, height, objects, seed } = options;
  const maskSize = options.maskSize ?? 28;
  const random = seededRandom(seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const semantic = new Uint8Array(width * height);

  // Background bands with ragged (random-walk) boundaries: sky, buildings / vegetation, sidewalk, road.
  let skyLine = Math.floor(height * (0.2 + 0.15 * random()));
  let roadLine = Math.floor(height * (0.55 + 0.15 * random()));
  for (let x = 0; x < width; x++) {
    skyLine = Math.min(height - 1, Math.max(0, skyLine + Math.round((random() - 0.5) * 3)));
    roadLine = Math.min(height - 1, Math.max(skyLine + 1, roadLine + Math.round((random() - 0.5) * 2)));
    const middle = (x >> 6) % 3 === 0 ? VEGETATION : BUILDING;
    for (let y = 0; y < height; y++) {
      const label = y < skyLine ? SKY : y < roadLine - 4 ? middle : y < roadLine ? SIDEWALK : ROAD;
      semantic[y * width + x] = label;
    }
  }

  // Objects: ellipses of a thing class, with sibling-class patches (subcategory confusion).
  const detections: Detection[] = [];
  for (let i = 0; i < objects; i++) {
    const cls = pick(THINGS);
    const scale = 0.03 + random() * random() * 0.35;
    const ow = Math.max(2, Math.round(width * scale * (0.5 + random())));
    const oh = Math.max(2, Math.round(height * scale * (0.5 + random())));
    const cx = random() * width;
    const cy = height * (0.35 + random() * 0.6);
    const x0 = Math.max(0, Math.floor(cx - ow / 2));
    const x1 = Math.min(width - 1, Math.ceil(cx + ow / 2));
    const y0 = Math.max(0, Math.floor(cy - oh / 2));
    const y1 = Math.min(height - 1, Math.ceil(cy + oh / 2));
    const sibling = pick(SIBLINGS[cls]!);
    const patchX = cx + (random() - 0.5) * ow * 0.5;
    const patchY = cy + (random() - 0.5) * oh * 0.5;
    const patchR = Math.min(ow, oh) * 0.25 * random();
    // Ragged outline: the radius wobbles with the angle (a few random harmonics), like a real contour.
    const harmonics = [2, 3, 5, 7].map((k) => ({ k, amplitude: 0.06 * random(), phase: random() * 2 * Math.PI }));
    for (let y = y0; y <= y1; y++) {
      for (let x = x0; x <= x1; x++) {
        const dx = (x + 0.5 - cx) / (ow / 2);
        const dy = (y + 0.5 - cy) / (oh / 2);
        const angle = Math.atan2(dy, dx);
        let ragged = 1;
        for (const h of harmonics) ragged += h.amplitude * Math.sin(h.k * angle + h.phase);
        if (dx * dx + dy * dy > ragged * ragged) continue;
        const inPatch = (x - patchX) ** 2 + (y - patchY) ** 2 < patchR * patchR;
        semantic[y * width + x] = inPatch ? sibling : cls;
      }
    }
    if (random() < 0.15) continue; // a missed object: fusion may make it a new instance
    // A coarse mask of the ellipse, shifted and dilated a little: it spills onto background and misses edges.
    const shiftX = (random() - 0.5) * 0.2;
    const shiftY = (random() - 0.5) * 0.2;
    const grow = 0.85 + random() * 0.35;
    const mask = new Float32Array(maskSize * maskSize);
    for (let v = 0; v < maskSize; v++) {
      for (let u = 0; u < maskSize; u++) {
        const dx = ((u + 0.5) / maskSize - 0.5 - shiftX) * 2;
        const dy = ((v + 0.5) / maskSize - 0.5 - shiftY) * 2;
        const d = Math.sqrt(dx * dx + dy * dy) / grow;
        mask[v * maskSize + u] = Math.min(1, Math.max(0, 1.5 - d));
      }
    }
    const jitter = () => (random() - 0.5) * Math.max(ow, oh) * 0.1;
    detections.push({
      classId: random() < 0.8 ? cls : sibling,
      score: 0.3 + random() * 0.7,
      box: [cx - ow / 2 + jitter(), cy - oh / 2 + jitter(), cx + ow / 2 + jitter(), cy + oh / 2 + jitter()],
      mask,
      maskSize,
    });
  }
  // A false detection or two on the background.
  for (let i = 0; i < Math.ceil(objects / 10); i++) {
    const x = random() * width;
    const y = random() * height * 0.5;
    detections.push({
      classId: pick(THINGS),
      score: 0.5 + random() * 0.2,
      box: [x, y, x + width * 0.05, y + height * 0.05],
      mask: new Float32Array(maskSize * maskSize).fill(0.9),
      maskSize,
    });
  }
  const voidFraction = options.voidFraction ?? 0.001;
  const voids = Math.floor(width * height * voidFraction);
  for (let i = 0; i < voids; i++) semantic[Math.floor(random() * width * height)] = 255;
  return { width, height, semantic, detections };
}

/** Road with salt noise of thing classes at `density`: thousands of one-pixel components. */
export function generateStressScene(width: number, height: number, seed: number, density = 0.05): FusionInput {
  const random = seededRandom(seed);
  const semantic = new Uint8Array(width * height).fill(ROAD);
  for (let p = 0; p < semantic.length; p++)
    if (random() < density) semantic[p] = THINGS[Math.floor(random() * THINGS.length)]!;
  return { width, height, semantic, detections: [] };
}
