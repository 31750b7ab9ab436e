/**
 * Fusion speed: median ms per 1024x2048 frame of the WASM module and of the TypeScript reference, measured
 * side by side (interleaved, same scenes), with their ratio, ms per megapixel, the WASM phases, and the
 * memory traffic the algorithm cannot avoid.
 *
 *   npm run bench:fusion [-- --json] [--frames 15]
 */
import { cpus } from 'node:os';
import { parseArgs } from 'node:util';
import { median } from '../../clients/src/summary.js';
import {
  createFusion,
  fuseReference,
  generateScene,
  generateStressScene,
  type FusionInput,
  type PhaseTimings,
} from '../../fusion-wasm/src/index.js';

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

// Detection counts 0, 10 and 50 (objects drawn: some are missed by the detector, a few detections are false).
const cases: Case[] = [
  realistic(0),
  realistic(10),
  realistic(50),
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

const machine = { cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, node: process.version };
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
  console.log('| scene | prepare | paste | grow | new instances | finish | output copy |');
  console.log('| --- | --- | --- | --- | --- | --- | --- |');
  for (const r of results) {
    const p = r.phasesMs;
    console.log(
      `| ${r.scene} | ${p.prepare.toFixed(2)} | ${p.paste.toFixed(2)} | ${p.grow.toFixed(2)} | ${p.newInstances.toFixed(2)} | ${p.finish.toFixed(2)} | ${p.output.toFixed(2)} |`,
    );
  }
  console.log(
    `\nMemory traffic the algorithm must do: ${(minimumBytes / 1e6).toFixed(1)} MB per frame (10 B/pixel); ` +
      `achieved: ${results.map((r) => `${r.achievedGBps.toFixed(2)} GB/s`).join(', ')}.`,
  );
}
