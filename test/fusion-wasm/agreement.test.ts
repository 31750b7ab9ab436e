import test from 'ava';
import {
  createFusion,
  fuseReference,
  generateScene,
  generateStressScene,
  type FusionOptions,
} from '../../fusion-wasm/src/index.js';
import { seededRandom } from '../../fusion-wasm/src/synthetic-scenes.js';

/** Sizes from 1x1 up to 512x1024, small ones more often (they find edge cases cheaply). */
function sizeFor(random: () => number, index: number): [number, number] {
  if (index === 0) return [1, 1];
  if (index === 1) return [1024, 512];
  const big = random() < 0.05;
  const w = big ? 256 + Math.floor(random() * 768) : 1 + Math.floor(random() * 160);
  const h = big ? 128 + Math.floor(random() * 384) : 1 + Math.floor(random() * 120);
  return [w, h];
}

function optionsFor(random: () => number): FusionOptions {
  return {
    scoreThreshold: random() < 0.5 ? 0.5 : random(),
    maskThreshold: random() < 0.5 ? 0.5 : random(),
    consistency: random() < 0.3 ? 'class' : 'category',
    regionGrowing: random() < 0.8,
    newInstances: random() < 0.8,
    minNewInstanceArea: random() < 0.7 ? 1 : 1 + Math.floor(random() * 20),
  };
}

test('WASM (release and debug) and the reference agree byte for byte on 300 seeded scenes', async (t) => {
  const release = await createFusion();
  const debug = await createFusion(undefined, undefined, { build: 'debug' });
  const random = seededRandom(2024);
  let compared = 0;
  for (let i = 0; i < 300; i++) {
    const [width, height] = sizeFor(random, i);
    const seed = Math.floor(random() * 1e9);
    const input =
      i % 15 === 7
        ? generateStressScene(width, height, seed, 0.02 + random() * 0.3)
        : generateScene({
            width,
            height,
            objects: Math.floor(random() * 30),
            seed,
            maskSize: 1 + Math.floor(random() * 32),
          });
    const options = optionsFor(random);
    const expected = fuseReference(input, options);
    const fromRelease = release.fuse(input, options);
    if (JSON.stringify(fromRelease.segments) !== JSON.stringify(expected.segments)) {
      t.fail(`scene ${i} (${width}x${height}, seed ${seed}): segments differ`);
    }
    t.deepEqual(fromRelease, expected, `scene ${i} (${width}x${height}, seed ${seed})`);
    t.deepEqual(debug.fuse(input, options), expected, `scene ${i}, debug build`);
    compared++;
  }
  t.is(compared, 300);
});

test('one Fusion reused across sizes (memory growth) gives what a fresh one gives', async (t) => {
  const reused = await createFusion();
  const sizes = [
    [64, 32],
    [2048, 1024],
    [17, 5],
    [640, 480],
    [64, 32],
  ] as const;
  for (const [i, [width, height]] of sizes.entries()) {
    const input = generateScene({ width, height, objects: 20, seed: i });
    const fresh = await createFusion();
    t.deepEqual(reused.fuse(input), fresh.fuse(input), `${width}x${height}`);
  }
});

test('view outputs match copies and are reused by the next call', async (t) => {
  const views = await createFusion(undefined, undefined, { outputs: 'view' });
  const copies = await createFusion();
  const a = generateScene({ width: 200, height: 100, objects: 8, seed: 1 });
  const b = generateScene({ width: 200, height: 100, objects: 8, seed: 2 });
  const first = views.fuse(a);
  t.deepEqual(first.instance.slice(), copies.fuse(a).instance);
  const expectedB = copies.fuse(b);
  views.fuse(b);
  t.deepEqual(first.instance.slice(), expectedB.instance, 'the view now shows the next frame');
});

test('16-bit ids: components past 65535 stay unlabelled and are counted', async (t) => {
  // A checkerboard of car pixels on road: every car pixel is its own 4-connected component.
  const width = 512;
  const height = 512;
  const semantic = new Uint8Array(width * height);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) semantic[y * width + x] = (x + y) % 2 === 0 ? 13 : 0;
  const input = { width, height, semantic, detections: [] };
  const fusion = await createFusion();
  const result = fusion.fuse(input);
  t.is(result.segments.length, 65535);
  t.is(result.segments.at(-1)?.id, 65535);
  t.is(result.droppedComponents, 131072 - 65535);
  t.is(result.instance.filter((id) => id !== 0).length, 65535);
  t.deepEqual(result, fuseReference(input));
});

test('phase timings are reported for the last frame', async (t) => {
  const fusion = await createFusion();
  t.is(fusion.lastTimings, undefined);
  fusion.fuse(generateScene({ width: 300, height: 200, objects: 10, seed: 3 }));
  const timings = fusion.lastTimings!;
  for (const phase of ['prepare', 'paste', 'grow', 'finish', 'output'] as const) {
    t.true(timings[phase] >= 0, phase);
  }
});
