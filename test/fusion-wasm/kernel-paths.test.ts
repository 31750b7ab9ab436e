/**
 * Targeted agreement tests for the kernel's shortcuts: pasting decides whole runs of pixel columns from the
 * two mask values they interpolate (with a safety margin), and new instances are found by scanline floods.
 * Each case is compared byte for byte with the reference, release and debug builds alike.
 */
import test, { type ExecutionContext } from 'ava';
import {
  createFusion,
  fuseReference,
  generateScene,
  generateStressScene,
  type Detection,
  type FusionInput,
  type FusionOptions,
} from '../../fusion-wasm/src/index.js';
import { seededRandom } from '../../fusion-wasm/src/synthetic-scenes.js';

const CAR = 13;
const TRUCK = 14;
const PERSON = 11;
const ROAD = 0;

async function agree(t: ExecutionContext, input: FusionInput, options?: FusionOptions, label = '') {
  const expected = fuseReference(input, options);
  for (const build of ['release', 'debug'] as const) {
    const fusion = await createFusion(undefined, undefined, { build });
    t.deepEqual(fusion.fuse(input, options), expected, `${label} (${build})`);
  }
}

test('masks with values at, near and far from the threshold, and non-finite values, paste like the reference', async (t) => {
  const random = seededRandom(99);
  const width = 300;
  const height = 200;
  const semantic = new Uint8Array(width * height).fill(CAR);
  for (let p = 0; p < semantic.length; p++) if (random() < 0.1) semantic[p] = random() < 0.5 ? ROAD : TRUCK;
  const specials = [
    0.5,
    0.5 + 1e-9,
    0.5 - 1e-9,
    0.5 + 1e-7,
    0.5 - 1e-7,
    2e6,
    -2e6,
    1e30,
    NaN,
    Infinity,
    -Infinity,
    0,
    1,
  ];
  for (let round = 0; round < 12; round++) {
    const detections: Detection[] = [];
    for (let i = 0; i < 6; i++) {
      const maskSize = 1 + Math.floor(random() * 9);
      const mask = new Float32Array(maskSize * maskSize);
      for (let k = 0; k < mask.length; k++) {
        mask[k] = random() < 0.5 ? specials[Math.floor(random() * specials.length)]! : random();
      }
      const x = random() * width * 1.2 - width * 0.1;
      const y = random() * height * 1.2 - height * 0.1;
      detections.push({
        classId: random() < 0.7 ? CAR : TRUCK,
        score: 0.5 + random() * 0.5,
        box: [x, y, x + 1 + random() * width * 0.6, y + 1 + random() * height * 0.6],
        mask,
        maskSize,
      });
    }
    for (const maskThreshold of [0.5, 0.25 + random() * 0.5]) {
      await agree(
        t,
        { width, height, semantic, detections },
        { maskThreshold },
        `round ${round}, threshold ${maskThreshold}`,
      );
    }
  }
});

test('new-instance floods of combs, spirals and nested rings match the reference, with and without minArea', async (t) => {
  const width = 97;
  const height = 61;
  const semantic = new Uint8Array(width * height).fill(ROAD);
  const set = (x: number, y: number, c: number) => {
    if (x >= 0 && y >= 0 && x < width && y < height) semantic[y * width + x] = c;
  };
  // A comb hanging from a bar (teeth downwards), and one standing on a bar (teeth upwards).
  for (let x = 0; x < 40; x++) set(x, 0, CAR);
  for (let x = 0; x < 40; x += 2) for (let y = 1; y < 20; y++) set(x, y, CAR);
  for (let x = 0; x < 40; x++) set(x, 40, PERSON);
  for (let x = 1; x < 40; x += 2) for (let y = 22; y < 40; y++) set(x, y, PERSON);
  // A square spiral.
  let [x, y, dx, dy, length] = [70, 30, 1, 0, 1];
  for (let turn = 0; turn < 30; turn++) {
    for (let k = 0; k < length; k++) {
      set(x, y, TRUCK);
      x += dx;
      y += dy;
    }
    [dx, dy] = [-dy, dx];
    if (turn % 2 === 1) length += 2;
  }
  // Nested rings of alternating classes at the right edge (touching the border).
  for (let r = 2; r < 14; r += 2) {
    for (let a = 0; a < 360; a++) {
      const rad = (a * Math.PI) / 180;
      set(Math.round(90 + r * Math.cos(rad)), Math.round(50 + r * Math.sin(rad)), r % 4 === 0 ? CAR : TRUCK);
    }
  }
  const input = { width, height, semantic, detections: [] };
  for (const minNewInstanceArea of [1, 2, 5, 30, 100]) {
    await agree(t, input, { minNewInstanceArea }, `minArea ${minNewInstanceArea}`);
  }
  // With a detection over part of the spiral, growing and new instances interact.
  const box: Detection = {
    classId: TRUCK,
    score: 0.9,
    box: [60, 20, 75, 35],
    mask: new Float32Array([1]),
    maskSize: 1,
  };
  await agree(t, { ...input, detections: [box] }, undefined, 'spiral with a detection');
  await agree(t, { ...input, detections: [box] }, { consistency: 'class', minNewInstanceArea: 3 }, 'class consistency');
});

test('one-pixel-wide and one-pixel-high frames', async (t) => {
  const random = seededRandom(5);
  for (const [width, height] of [
    [1, 50],
    [50, 1],
    [2, 33],
    [33, 2],
    [17, 17],
  ] as const) {
    const semantic = new Uint8Array(width * height);
    for (let p = 0; p < semantic.length; p++)
      semantic[p] = random() < 0.6 ? [CAR, TRUCK, PERSON][Math.floor(random() * 3)]! : ROAD;
    const detections: Detection[] = [
      {
        classId: CAR,
        score: 0.8,
        box: [0, 0, width / 2, height / 2],
        mask: new Float32Array(4).fill(0.7),
        maskSize: 2,
      },
      {
        classId: PERSON,
        score: 0.7,
        box: [width / 3, height / 3, width, height],
        mask: new Float32Array(9).fill(0.6),
        maskSize: 3,
      },
    ];
    await agree(t, { width, height, semantic, detections }, undefined, `${width}x${height}`);
  }
});

test('same-sized frames in a row (dense, sparse, empty, dense again) match the reference: each clears only what the last labelled', async (t) => {
  const width = 203;
  const height = 97;
  const frames = [
    generateScene({ width, height, objects: 25, seed: 11 }),
    generateScene({ width, height, objects: 2, seed: 12 }),
    { width, height, semantic: new Uint8Array(width * height), detections: [] },
    generateStressScene(width, height, 13, 0.2),
    generateScene({ width, height, objects: 25, seed: 14 }),
  ];
  for (const build of ['release', 'debug'] as const) {
    for (const outputs of ['copy', 'view'] as const) {
      const fusion = await createFusion(undefined, undefined, { build, outputs });
      for (const [index, frame] of frames.entries()) {
        for (const options of [undefined, { regionGrowing: false }, { newInstances: false }]) {
          const result = fusion.fuse(frame, options);
          t.deepEqual(
            { ...result, semantic: result.semantic.slice(), instance: result.instance.slice() },
            fuseReference(frame, options),
            `frame ${index}, ${JSON.stringify(options)} (${build}, ${outputs})`,
          );
        }
      }
    }
  }
});
