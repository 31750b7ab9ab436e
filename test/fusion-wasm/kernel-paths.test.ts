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
  type LabelSpace,
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

test('masks up to 32 wide (runs marked by table look-up) and wider, in boxes narrower and wider than the mask, paste like the reference', async (t) => {
  const random = seededRandom(31);
  const width = 301;
  const height = 150;
  const semantic = new Uint8Array(width * height).fill(CAR);
  for (let p = 0; p < semantic.length; p++) if (random() < 0.05) semantic[p] = random() < 0.5 ? ROAD : TRUCK;
  const specials = [2e6, NaN, 0.5, 0.5 + 1e-7];
  for (const maskSize of [1, 2, 15, 16, 17, 28, 31, 32, 33, 40, 64]) {
    const detections: Detection[] = [];
    for (let i = 0; i < 6; i++) {
      // Soft blobs: whole runs pass or fail, the edges' runs are sampled.
      const mask = new Float32Array(maskSize * maskSize);
      // Or every value at the threshold 0.5 (every run sampled), or some values too large for the shortcut.
      const [cu, cv, spread] = [random() * maskSize, random() * maskSize, 0.3 + random() * maskSize * 0.6];
      const kind = i < 2 ? 0 : random(); // the first two: every value at the threshold
      for (let v = 0; v < maskSize; v++) {
        for (let u = 0; u < maskSize; u++) {
          const value = Math.max(0, 1 - Math.hypot(u - cu, v - cv) / spread);
          mask[v * maskSize + u] = kind < 0.15 ? 0.5 : kind < 0.3 && random() < 0.3 ? specials[v % 4]! : value;
        }
      }
      // Box widths from a few pixels (fewer runs than mask columns) to most of the frame.
      const boxWidth = i % 2 === 0 ? 2 * maskSize + random() * width * 0.5 : 1 + random() * maskSize;
      // The first lies inside the frame and is pasted first, so that its last run is pasted.
      const x = i === 0 ? 5 + random() * 20 : random() * width * 1.1 - width * 0.05;
      const y = i === 0 ? 5 + random() * 20 : random() * height * 1.1 - height * 0.05;
      detections.push({
        classId: i === 0 || random() < 0.7 ? CAR : TRUCK,
        score: i === 0 ? 1 : 0.5 + random() * 0.45,
        box: [x, y, x + boxWidth, y + 1 + random() * height * 0.5],
        mask,
        maskSize,
      });
    }
    for (const maskThreshold of [0.5, 0.1 + random() * 0.8]) {
      await agree(
        t,
        { width, height, semantic, detections },
        { maskThreshold },
        `mask ${maskSize}, threshold ${maskThreshold}`,
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

test('growth: fronts that meet, ties between equidistant seeds, regions on the frame edges, spans of any width', async (t) => {
  const random = seededRandom(77);
  // Widths around the 64-pixel words of the seed scan, and a few odd ones.
  for (const width of [1, 2, 7, 8, 9, 15, 16, 17, 24, 31, 32, 33, 63, 64, 65, 127, 128, 129]) {
    for (let round = 0; round < 4; round++) {
      const height = 1 + Math.floor(random() * 24);
      const semantic = new Uint8Array(width * height);
      // Blobs of vehicles and people on road: rows of runs, so fronts meet inside them.
      for (let p = 0; p < semantic.length; p++) {
        const r = random();
        semantic[p] = r < 0.45 ? CAR : r < 0.6 ? TRUCK : r < 0.75 ? PERSON : ROAD;
      }
      const detections: Detection[] = [];
      for (let i = 0; i < 1 + Math.floor(random() * 8); i++) {
        // Boxes of one to a few pixels, often on the first or last column or row.
        const x = random() < 0.3 ? 0 : random() < 0.3 ? width - 1 : Math.floor(random() * width);
        const y = random() < 0.3 ? 0 : random() < 0.3 ? height - 1 : Math.floor(random() * height);
        const w = 1 + Math.floor(random() * 3);
        const h = 1 + Math.floor(random() * 3);
        detections.push({
          classId: [CAR, TRUCK, PERSON][Math.floor(random() * 3)]!,
          score: random() < 0.2 ? 0.75 : 0.5 + random() * 0.5, // some equal scores
          box: [x, y, x + w, y + h],
          mask: new Float32Array(1).fill(1),
          maskSize: 1,
        });
      }
      await agree(t, { width, height, semantic, detections }, undefined, `${width}x${height}, round ${round}`);
    }
  }
  // Two seeds at opposite corners of a square of cars: the diagonal is equidistant from both.
  const size = 9;
  const square = new Uint8Array(size * size).fill(CAR);
  const corner = (x: number, y: number, score: number): Detection => ({
    classId: CAR,
    score,
    box: [x, y, x + 1, y + 1],
    mask: new Float32Array(1).fill(1),
    maskSize: 1,
  });
  for (const [a, b] of [
    [corner(0, 0, 0.9), corner(size - 1, size - 1, 0.8)],
    [corner(size - 1, size - 1, 0.9), corner(0, 0, 0.8)],
    [corner(size - 1, 0, 0.9), corner(0, size - 1, 0.8)],
  ]) {
    await agree(t, { width: size, height: size, semantic: square, detections: [a!, b!] }, undefined, 'diagonal tie');
  }
});

test('growth never wraps from the end of a row to the start of the next', async (t) => {
  for (const width of [8, 9, 16]) {
    const semantic = new Uint8Array(width * 3).fill(ROAD);
    semantic[width - 1] = CAR; // last pixel of row 0 (detected) ...
    semantic[width] = CAR; // ... and first pixel of row 1, its neighbour in memory only
    semantic[2 * width] = CAR; // first pixel of row 2, under it: grows from row 1's pixel, which is not labelled
    const detections: Detection[] = [
      { classId: CAR, score: 0.9, box: [width - 1, 0, width, 1], mask: new Float32Array(1).fill(1), maskSize: 1 },
    ];
    const input = { width, height: 3, semantic, detections };
    await agree(t, input, undefined, `width ${width}`);
    const result = fuseReference(input);
    t.is(result.instance[width - 1], 1);
    t.is(result.instance[width], 2); // a new instance, not grown
  }
});

test('a thing category numbered 255 grows like any other', async (t) => {
  const categories = Array.from({ length: 256 }, (_, i) => `c${i}`);
  const labelSpace: LabelSpace = {
    name: 'wide',
    categories,
    classes: [
      { id: 0, name: 'ground', category: 'c0', isThing: false, color: [0, 0, 0] },
      { id: 1, name: 'a', category: 'c255', isThing: true, color: [1, 1, 1] },
      { id: 2, name: 'b', category: 'c255', isThing: true, color: [2, 2, 2] },
      { id: 3, name: 'c', category: 'c254', isThing: true, color: [3, 3, 3] },
    ],
  };
  const width = 12;
  const semantic = Uint8Array.from('112220331100'.repeat(3), (c) => Number(c));
  semantic[5] = 255; // void, whose category is 255 too, but which is no thing
  const input = {
    width,
    height: 3,
    semantic,
    detections: [
      { classId: 1, score: 0.9, box: [0, 0, 1, 1] as const, mask: new Float32Array(1).fill(1), maskSize: 1 },
    ],
  };
  const expected = fuseReference(input, undefined, labelSpace);
  t.true(expected.segments[0]!.grownArea > 0);
  for (const build of ['release', 'debug'] as const) {
    const fusion = await createFusion(labelSpace, undefined, { build });
    t.deepEqual(fusion.fuse(input), expected, build);
  }
});

test('new-instance floods over wide runs (eight pixels at a time) of staircases, diamonds and rows with gaps', async (t) => {
  const random = seededRandom(31);
  for (const width of [8, 9, 16, 23, 40, 71]) {
    const height = 30;
    const semantic = new Uint8Array(width * height).fill(ROAD);
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const staircase = x < (y * 3) % width; // runs of every length, ending at every column
        const diamond = Math.abs(x - width / 2) + Math.abs(y - height / 2) < width / 3; // grows left and right
        const gap = random() < 0.04; // single-pixel holes break runs anywhere
        if (gap) continue;
        if (diamond) semantic[y * width + x] = PERSON;
        else if (staircase) semantic[y * width + x] = y % 7 === 3 ? TRUCK : CAR;
      }
    }
    for (const minNewInstanceArea of [1, 40]) {
      await agree(
        t,
        { width, height, semantic, detections: [] },
        { minNewInstanceArea },
        `${width} wide, minArea ${minNewInstanceArea}`,
      );
    }
    await agree(t, { width, height, semantic, detections: [] }, { regionGrowing: false }, `${width} wide`);
  }
});
