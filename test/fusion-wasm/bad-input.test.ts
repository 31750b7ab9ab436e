import test from 'ava';
import { createFusion, fuseReference, type FusionInput, type FusionOptions } from '../../fusion-wasm/src/index.js';
import { boxDetection, CLASS } from './scenes.js';

const fusion = await createFusion();
const valid = (): FusionInput => ({
  width: 4,
  height: 2,
  semantic: new Uint8Array(8).fill(CLASS.car),
  detections: [boxDetection(CLASS.car, 0.9, 0, 0, 1, 1)],
});

const cases: [string, (input: FusionInput) => FusionInput, RegExp][] = [
  [
    'wrong semantic length',
    (i) => ({ ...i, semantic: new Uint8Array(7) }),
    /semantic.length must be width \* height = 8, got 7/,
  ],
  [
    'semantic not a Uint8Array',
    (i) => ({ ...i, semantic: [1, 2] as unknown as Uint8Array }),
    /semantic must be a Uint8Array/,
  ],
  ['zero width', (i) => ({ ...i, width: 0 }), /width must be a positive integer, got 0/],
  [
    'NaN box',
    (i) => ({ ...i, detections: [{ ...i.detections[0]!, box: [0, NaN, 1, 1] }] }),
    /detections\[0\].box\[1\] is NaN/,
  ],
  [
    'class outside the label space',
    (i) => ({ ...i, detections: [{ ...i.detections[0]!, classId: 19 }] }),
    /detections\[0\].classId 19 is outside the label space \(0..18\)/,
  ],
  [
    'mask length',
    (i) => ({ ...i, detections: [{ ...i.detections[0]!, mask: new Float32Array(3) }] }),
    /detections\[0\].mask.length must be maskSize \* maskSize = 4, got 3/,
  ],
  [
    'mask type',
    (i) => ({ ...i, detections: [{ ...i.detections[0]!, mask: [1, 1, 1, 1] as unknown as Float32Array }] }),
    /detections\[0\].mask must be a Float32Array/,
  ],
  [
    'score',
    (i) => ({ ...i, detections: [{ ...i.detections[0]!, score: Number.NaN }] }),
    /detections\[0\].score must be a number/,
  ],
];

for (const [name, corrupt, message] of cases) {
  test(`bad input: ${name} is a TypeError naming the field (both implementations)`, (t) => {
    const input = corrupt(valid());
    t.throws(() => fusion.fuse(input), { instanceOf: TypeError, message });
    t.throws(() => fuseReference(input), { instanceOf: TypeError, message });
  });
}

const badOptions: [FusionOptions, RegExp][] = [
  [{ scoreThreshold: 1.5 }, /options.scoreThreshold must be a number from 0 to 1, got 1.5/],
  [{ maskThreshold: -1 }, /options.maskThreshold/],
  [{ consistency: 'pixel' as 'class' }, /options.consistency must be 'category' or 'class'/],
  [{ minNewInstanceArea: 0 }, /options.minNewInstanceArea must be an integer >= 1, got 0/],
];

for (const [options, message] of badOptions) {
  test(`bad option ${JSON.stringify(options)} is a TypeError naming it`, async (t) => {
    t.throws(() => fusion.fuse(valid(), options), { instanceOf: TypeError, message });
    await t.throwsAsync(createFusion(undefined, options), { instanceOf: TypeError, message });
  });
}

test('a label space with holes in its ids is refused', async (t) => {
  await t.throwsAsync(
    createFusion({
      name: 'x',
      categories: ['a'],
      classes: [{ id: 1, name: 'one', category: 'a', isThing: true, color: [0, 0, 0] }],
    }),
    { instanceOf: TypeError, message: /labelSpace.classes\[0\].id must be 0/ },
  );
});

test('a fusion still works after rejecting bad input', (t) => {
  t.throws(() => fusion.fuse({ ...valid(), semantic: new Uint8Array(1) }));
  t.is(fusion.fuse(valid()).segments.length, 1);
});
