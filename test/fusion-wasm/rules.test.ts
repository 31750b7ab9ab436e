import test, { type ExecutionContext } from 'ava';
import {
  createFusion,
  fuseReference,
  type FusionInput,
  type FusionOptions,
  type FusionResult,
} from '../../fusion-wasm/src/index.js';
import { boxDetection, CLASS, classRows, instanceRows, scene } from './scenes.js';

const wasm = await createFusion(undefined, undefined, { build: 'debug' });

/** Fuses with both implementations, checks they agree, and returns the result. */
function fuse(t: ExecutionContext, input: FusionInput, options?: FusionOptions): FusionResult {
  const fromWasm = wasm.fuse(input, options);
  t.deepEqual(fromWasm, fuseReference(input, options), 'WASM and reference agree');
  return fromWasm;
}

test('subcategory correction: a detected car keeps its class over truck-labelled pixels', (t) => {
  const rows = ['......', '.cctc.', '.cttc.', '......'];
  const result = fuse(t, scene(rows, [boxDetection(CLASS.car, 0.9, 1, 1, 4, 2)]));
  t.deepEqual(classRows(result.semantic, 6), ['......', '.cccc.', '.cccc.', '......']);
  t.deepEqual(instanceRows(result.instance, 6), ['000000', '011110', '011110', '000000']);
  t.like(result.segments, [
    { id: 1, classId: CLASS.car, score: 0.9, area: 8, box: [1, 1, 4, 2], source: 'detected', grownArea: 0 },
  ]);
});

test('mask spill onto background is deleted', (t) => {
  const rows = ['ssssss', 'ss..cc', '....cc'];
  const result = fuse(t, scene(rows, [boxDetection(CLASS.car, 0.8, 0, 0, 5, 2)]));
  t.deepEqual(classRows(result.semantic, 6), rows);
  t.deepEqual(instanceRows(result.instance, 6), ['000000', '000011', '000011']);
});

test('a detection of another category is deleted; the object becomes a new instance', (t) => {
  const rows = ['.....', '.ccc.', '.ccc.'];
  const result = fuse(t, scene(rows, [boxDetection(CLASS.person, 0.9, 1, 1, 3, 2)]));
  t.deepEqual(classRows(result.semantic, 5), rows);
  // Id 1 went to the person detection, which kept no pixel and is not listed.
  t.deepEqual(instanceRows(result.instance, 5), ['00000', '02220', '02220']);
  t.like(result.segments, [{ id: 2, classId: CLASS.car, score: 0, area: 6, source: 'new' }]);
  t.is(result.segments.length, 1);
});

test('overlapping detections: the higher score claims the overlap and gets the lower id', (t) => {
  const rows = ['cccccc', 'cccccc'];
  const low = boxDetection(CLASS.truck, 0.6, 0, 0, 3, 1);
  const high = boxDetection(CLASS.car, 0.9, 2, 0, 5, 1);
  const result = fuse(t, scene(rows, [low, high]), { regionGrowing: false });
  t.deepEqual(instanceRows(result.instance, 6), ['221111', '221111']);
  t.deepEqual(classRows(result.semantic, 6), ['ttcccc', 'ttcccc']);
  t.deepEqual(
    result.segments.map((s) => [s.id, s.classId, s.area]),
    [
      [1, CLASS.car, 8],
      [2, CLASS.truck, 4],
    ],
  );
});

test('equal scores keep input order', (t) => {
  const rows = ['cccc'];
  const result = fuse(
    t,
    scene(rows, [boxDetection(CLASS.truck, 0.7, 0, 0, 2, 0), boxDetection(CLASS.car, 0.7, 1, 0, 3, 0)]),
    {
      regionGrowing: false,
    },
  );
  t.deepEqual(instanceRows(result.instance, 4), ['1112']);
});

test('region growing spreads through same-category pixels and stops at a category border', (t) => {
  const rows = ['cccttppp', 'cccttppp', '........'];
  const result = fuse(t, scene(rows, [boxDetection(CLASS.car, 0.9, 0, 0, 0, 1)]));
  // The car grows over car and truck pixels (both vehicles) but not into the people, who get their own id.
  t.deepEqual(instanceRows(result.instance, 8), ['11111222', '11111222', '00000000']);
  t.deepEqual(classRows(result.semantic, 8), ['cccccppp', 'cccccppp', '........']);
  t.like(result.segments, [
    { id: 1, classId: CLASS.car, area: 10, grownArea: 8, source: 'detected' },
    { id: 2, classId: CLASS.person, area: 6, source: 'new' },
  ]);
});

test('growing does not jump over background, and competing fronts meet by BFS order', (t) => {
  const rows = ['cccc.cccc'];
  const left = boxDetection(CLASS.car, 0.9, 0, 0, 0, 0);
  const right = boxDetection(CLASS.truck, 0.8, 8, 0, 8, 0);
  const result = fuse(t, scene(rows, [left, right]));
  t.deepEqual(instanceRows(result.instance, 9), ['111102222']);
  const touching = fuse(t, scene(['cccccc'], [left, boxDetection(CLASS.truck, 0.8, 5, 0, 5, 0)]));
  // Both fronts advance one pixel per BFS level; the raster-earlier seed wins the middle.
  t.deepEqual(instanceRows(touching.instance, 6), ['111222']);
});

test('new instances: one per component of one class, in raster order; small ones stay unlabelled', (t) => {
  const rows = ['cc..p', 'cc..p', '....c', 'b....'];
  const result = fuse(t, scene(rows, []), { minNewInstanceArea: 2 });
  t.deepEqual(instanceRows(result.instance, 5), ['11002', '11002', '00000', '00000']);
  t.like(result.segments, [
    { id: 1, classId: CLASS.car, area: 4, source: 'new', score: 0 },
    { id: 2, classId: CLASS.person, area: 2, source: 'new' },
  ]);
  const all = fuse(t, scene(rows, []));
  t.is(all.segments.length, 4);
});

test('adjacent components of different classes are different new instances', (t) => {
  const result = fuse(t, scene(['ccttcc'], []));
  t.deepEqual(instanceRows(result.instance, 6), ['112233']);
});

test('score and mask thresholds', (t) => {
  const rows = ['cccc', 'cccc'];
  const weak = boxDetection(CLASS.car, 0.4, 0, 0, 3, 1);
  t.deepEqual(instanceRows(fuse(t, scene(rows, [weak]), { newInstances: false }).instance, 4), ['0000', '0000']);
  t.deepEqual(instanceRows(fuse(t, scene(rows, [weak]), { scoreThreshold: 0.3 }).instance, 4), ['1111', '1111']);
  // A mask rising left to right: only pixels whose bilinear sample reaches the threshold are kept.
  const rising = {
    classId: CLASS.car,
    score: 0.9,
    box: [0, 0, 4, 2] as const,
    mask: new Float32Array([0, 1, 0, 1]),
    maskSize: 2,
  };
  const options = { regionGrowing: false, newInstances: false };
  t.deepEqual(instanceRows(fuse(t, scene(rows, [rising]), { ...options, maskThreshold: 0.5 }).instance, 4), [
    '0011',
    '0011',
  ]);
  t.deepEqual(instanceRows(fuse(t, scene(rows, [rising]), { ...options, maskThreshold: 0.9 }).instance, 4), [
    '0001',
    '0001',
  ]);
});

test('void pixels stay void and separate components', (t) => {
  const rows = ['cc#cc', 'cc#cc'];
  const result = fuse(t, scene(rows, []));
  t.deepEqual(classRows(result.semantic, 5), rows);
  t.deepEqual(instanceRows(result.instance, 5), ['11022', '11022']);
});

test("consistency 'class' keeps only same-class pixels", (t) => {
  const rows = ['cctt'];
  const options = { consistency: 'class', regionGrowing: false, newInstances: false } as const;
  const result = fuse(t, scene(rows, [boxDetection(CLASS.car, 0.9, 0, 0, 3, 0)]), options);
  t.deepEqual(instanceRows(result.instance, 4), ['1100']);
  const byCategory = fuse(t, scene(rows, [boxDetection(CLASS.car, 0.9, 0, 0, 3, 0)]), {
    ...options,
    consistency: 'category',
  });
  t.deepEqual(instanceRows(byCategory.instance, 4), ['1111']);
});

test('without region growing, uncovered object pixels become new instances; without new instances they stay 0', (t) => {
  const rows = ['cccc'];
  const detection = boxDetection(CLASS.car, 0.9, 0, 0, 1, 0);
  t.deepEqual(instanceRows(fuse(t, scene(rows, [detection]), { regionGrowing: false }).instance, 4), ['1122']);
  t.deepEqual(
    instanceRows(fuse(t, scene(rows, [detection]), { regionGrowing: false, newInstances: false }).instance, 4),
    ['1100'],
  );
});

test('boxes partly outside the image are clipped; empty boxes claim nothing', (t) => {
  const rows = ['cc', 'cc'];
  const outside = { ...boxDetection(CLASS.car, 0.9, 0, 0, 0, 0), box: [-1e12, -5, 1, 1e12] as const };
  t.deepEqual(instanceRows(fuse(t, scene(rows, [outside]), { regionGrowing: false }).instance, 2), ['12', '12']);
  const empty = { ...boxDetection(CLASS.car, 0.9, 0, 0, 0, 0), box: [1, 1, 1, 2] as const };
  t.deepEqual(instanceRows(fuse(t, scene(rows, [empty]), { newInstances: false }).instance, 2), ['00', '00']);
});

test('stuff-class detections are ignored', (t) => {
  const result = fuse(t, scene(['cc'], [boxDetection(CLASS.road, 0.99, 0, 0, 1, 0)]));
  t.like(result.segments, [{ id: 1, source: 'new', classId: CLASS.car }]);
});
