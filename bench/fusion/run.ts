/**
 * Fusion speed: median ms per 1024x2048 frame of the WASM module and of the TypeScript reference, measured
 * side by side (interleaved, same scenes), with their ratio, ms per megapixel, the WASM phases, and the
 * memory traffic the algorithm cannot avoid.
 *
 *   npm run bench:fusion [-- --json] [--frames 15]
 */
import { parseArgs } from 'node:util';
import { median } from '../../clients/src/summary.js';
import {
  createFusion,
  fuseReference,
  generateScene,
  generateStressScene,
  type Detection,
  type FusionInput,
  type PhaseTimings,
} from '../../fusion-wasm/src/index.js';
import { seededRandom } from '../../fusion-wasm/src/synthetic-scenes.js';
import { machineInfo } from '../harness/machine.js';

const { values: args } = parseArgs({
  options: { json: { type: 'boolean', default: false }, frames: { type: 'string', default: '15' } },
});
const frames = Number(args.frames);
const WIDTH = 2048;
const HEIGHT = 1024;
const megapixels = (WIDTH * HEIGHT) / 1e6;

interface Case {
  readonly name: string;
  readonly realistic: boolean;
  readonly scenes: FusionInput[];
}

function realistic(objects: number): Case {
  const scenes = Array.from({ length: 3 }, (_, seed) =>
    generateScene({ width: WIDTH, height: HEIGHT, objects, seed: 100 + seed }),
  );
  const detections = scenes[0]!.detections.length;
  return { name: `realistic, ${objects} objects (${detections} detections)`, realistic: true, scenes };
}

/**
 * A Cityscapes-like street: the background of `generateScene`, many small far objects (cars, people, bikes
 * a few to a few dozen pixels across) crowded along the horizon, and a few large near ones. Each object is
 * a ragged ellipse, some with a sibling-class patch; most are detected with a 28x28 soft mask and a jittered
 * box, some are missed (they become new instances).
 */
function cityscapesLike(seed: number, farObjects: number, nearObjects: number): FusionInput {
  const base = generateScene({ width: WIDTH, height: HEIGHT, objects: 0, seed });
  const semantic = base.semantic.slice();
  const random = seededRandom(seed * 7919 + 13);
  const things = [11, 11, 12, 13, 13, 13, 14, 15, 17, 18];
  const siblings: Record<number, number> = { 11: 12, 12: 11, 13: 14, 14: 13, 15: 13, 17: 18, 18: 17 };
  const maskSize = 28;
  const detections: Detection[] = [];
  const horizon = HEIGHT * (0.45 + 0.05 * random());
  for (let i = 0; i < farObjects + nearObjects; i++) {
    const near = i >= farObjects;
    const cls = things[Math.floor(random() * things.length)]!;
    const isPerson = cls === 11 || cls === 12;
    const size = near ? 120 + random() * 260 : 6 + random() * random() * 70;
    const ow = Math.max(3, Math.round(size * (isPerson ? 0.45 : 1.3) * (0.8 + 0.4 * random())));
    const oh = Math.max(3, Math.round(size * (isPerson ? 1.2 : 0.75) * (0.8 + 0.4 * random())));
    const cx = random() * WIDTH;
    const cy = near ? horizon + (0.1 + 0.4 * random()) * HEIGHT : horizon + (random() - 0.3) * size * 1.5;
    const harmonics = [2, 3, 5].map((k) => ({ k, amplitude: 0.07 * random(), phase: random() * 2 * Math.PI }));
    const patch =
      random() < 0.4 ? { x: cx + (random() - 0.5) * ow * 0.4, y: cy + (random() - 0.5) * oh * 0.4 } : undefined;
    const patchR = Math.min(ow, oh) * 0.2;
    const x0 = Math.max(0, Math.floor(cx - ow / 2));
    const x1 = Math.min(WIDTH - 1, Math.ceil(cx + ow / 2));
    const y0 = Math.max(0, Math.floor(cy - oh / 2));
    const y1 = Math.min(HEIGHT - 1, Math.ceil(cy + oh / 2));
    for (let y = y0; y <= y1; y++) {
      for (let x = x0; x <= x1; x++) {
        const dx = (x + 0.5 - cx) / (ow / 2);
        const dy = (y + 0.5 - cy) / (oh / 2);
        let radius = 1;
        for (const h of harmonics) radius += h.amplitude * Math.sin(h.k * Math.atan2(dy, dx) + h.phase);
        if (dx * dx + dy * dy > radius * radius) continue;
        const inPatch = patch !== undefined && (x - patch.x) ** 2 + (y - patch.y) ** 2 < patchR * patchR;
        semantic[y * WIDTH + x] = inPatch ? siblings[cls]! : cls;
      }
    }
    if (random() < (near ? 0.05 : 0.2)) continue; // missed by the detector
    const shiftX = (random() - 0.5) * 0.2;
    const shiftY = (random() - 0.5) * 0.2;
    const spread = 0.85 + random() * 0.3;
    const mask = new Float32Array(maskSize * maskSize);
    for (let v = 0; v < maskSize; v++) {
      for (let u = 0; u < maskSize; u++) {
        const dx = ((u + 0.5) / maskSize - 0.5 - shiftX) * 2;
        const dy = ((v + 0.5) / maskSize - 0.5 - shiftY) * 2;
        mask[v * maskSize + u] = Math.min(1, Math.max(0, 1.5 - Math.sqrt(dx * dx + dy * dy) / spread));
      }
    }
    const jitter = () => (random() - 0.5) * Math.max(ow, oh) * 0.12;
    detections.push({
      classId: random() < 0.85 ? cls : siblings[cls]!,
      score: 0.5 + random() * 0.5,
      box: [cx - ow / 2 + jitter(), cy - oh / 2 + jitter(), cx + ow / 2 + jitter(), cy + oh / 2 + jitter()],
      mask,
      maskSize,
    });
  }
  return { width: WIDTH, height: HEIGHT, semantic, detections };
}

function cityscapes(): Case {
  const scenes = Array.from({ length: 3 }, (_, seed) => cityscapesLike(300 + seed, 52, 4));
  const detections = scenes[0]!.detections.length;
  return { name: `Cityscapes-like, many small far objects (${detections} detections)`, realistic: true, scenes };
}

// Detection counts 0, 10, about 20 and 50 (objects drawn: some are missed by the detector, a few detections are
// false), and a street with many small far objects.
const cases: Case[] = [
  realistic(0),
  realistic(10),
  realistic(20),
  realistic(50),
  cityscapes(),
  {
    name: 'stress: salt noise, 5% thing pixels',
    realistic: false,
    scenes: [generateStressScene(WIDTH, HEIGHT, 7, 0.05)],
  },
];

/**
 * Bytes each frame must move at the least: read the semantic map (1 B/px), write the fused map (1 B/px) and
 * the instance map (2 B/px) once, in linear memory, and copy both outputs out (3 B/px read + 3 B/px
 * written): 10 bytes per pixel.
 */
const minimumBytes = WIDTH * HEIGHT * 10;

const fusion = await createFusion();
// The same kernel returning views into its memory (what the server's fusion workers use): no output copy.
const viewFusion = await createFusion(undefined, undefined, { outputs: 'view' });
const results = [];
for (const c of cases) {
  const wasmTimes: number[] = [];
  const viewTimes: number[] = [];
  const referenceTimes: number[] = [];
  const phases: PhaseTimings[] = [];
  let segments = 0;
  for (let i = 0; i < frames + 1; i++) {
    const scene = c.scenes[i % c.scenes.length]!;
    // Interleaved: WASM then reference on the same scene, so noise hits both alike. Frame 0 warms up.
    let started = performance.now();
    const fused = fusion.fuse(scene);
    const wasmMs = performance.now() - started;
    started = performance.now();
    viewFusion.fuse(scene);
    const viewMs = performance.now() - started;
    started = performance.now();
    fuseReference(scene);
    const referenceMs = performance.now() - started;
    if (i === 0) continue;
    wasmTimes.push(wasmMs);
    viewTimes.push(viewMs);
    referenceTimes.push(referenceMs);
    phases.push(fusion.lastTimings!);
    segments = fused.segments.length;
  }
  const wasm = median(wasmTimes);
  const wasmViews = median(viewTimes);
  const reference = median(referenceTimes);
  const phaseMedians = Object.fromEntries(
    (Object.keys(phases[0]!) as (keyof PhaseTimings)[]).map((key) => [key, median(phases.map((p) => p[key]))]),
  ) as Record<keyof PhaseTimings, number>;
  results.push({
    scene: c.name,
    realistic: c.realistic,
    segments,
    wasmMs: wasm,
    wasmViewsMs: wasmViews,
    referenceMs: reference,
    speedup: reference / wasm,
    speedupViews: reference / wasmViews,
    wasmMsPerMegapixel: wasm / megapixels,
    wasmViewsMsPerMegapixel: wasmViews / megapixels,
    phasesMs: phaseMedians,
    achievedGBps: minimumBytes / (wasm / 1000) / 1e9,
  });
}

const machine = machineInfo();
if (args.json) {
  console.log(
    JSON.stringify(
      { machine, width: WIDTH, height: HEIGHT, frames, minimumBytesPerFrame: minimumBytes, results },
      null,
      2,
    ),
  );
} else {
  console.log(
    `Fusion of ${HEIGHT}x${WIDTH} frames on ${machine.cpu} (one core), median of ${frames} interleaved frames\n`,
  );
  console.log('WASM: outputs copied out of linear memory; WASM views: outputs returned as views (no copy).\n');
  console.log('| scene | segments | reference ms | WASM ms | speed-up | ms/MP | WASM views ms | speed-up | ms/MP |');
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const r of results) {
    console.log(
      `| ${r.scene} | ${r.segments} | ${r.referenceMs.toFixed(1)} | ${r.wasmMs.toFixed(2)} | ${r.speedup.toFixed(1)}x | ` +
        `${r.wasmMsPerMegapixel.toFixed(2)} | ${r.wasmViewsMs.toFixed(2)} | ${r.speedupViews.toFixed(1)}x | ${r.wasmViewsMsPerMegapixel.toFixed(2)} |`,
    );
  }
  console.log('\nWASM phases, median ms:\n');
  console.log('| scene | prepare | paste | grow | new instances + finish | output copy |');
  console.log('| --- | --- | --- | --- | --- | --- |');
  for (const r of results) {
    const p = r.phasesMs;
    console.log(
      `| ${r.scene} | ${p.prepare.toFixed(2)} | ${p.paste.toFixed(2)} | ${p.grow.toFixed(2)} | ${p.finish.toFixed(2)} | ${p.output.toFixed(2)} |`,
    );
  }
  console.log(
    `\nMemory traffic the algorithm must do: ${(minimumBytes / 1e6).toFixed(1)} MB per frame (10 B/pixel); ` +
      `achieved: ${results.map((r) => `${r.achievedGBps.toFixed(2)} GB/s`).join(', ')}.`,
  );
}
