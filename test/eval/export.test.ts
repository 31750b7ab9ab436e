import test from 'ava';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { decode } from 'fast-png';
import { createStageExports, formatScore } from '../../eval/src/export.js';
import { evalLabels } from '../../eval/src/labels.js';
import type { ImagePrediction } from '../../eval/src/predictions.js';
import { tempDir } from '../helpers/clips.js';

const labels = evalLabels();
const ROAD = 0;
const CAR = 13;
const CAR_LABEL = 26;
const ROAD_LABEL = 7;
const W = 8;
const H = 2;

/** The float32 just above `value` (a float32). */
function nextFloat32(value: number): number {
  const view = new DataView(new ArrayBuffer(4));
  view.setFloat32(0, value);
  view.setUint32(0, view.getUint32(0) + 1);
  return view.getFloat32(0);
}

/**
 * Scores as the service gives them (float32 detection scores) and as the evaluation makes them (float64): pairs
 * that six decimals would make equal, and values six decimals would change.
 */
const f32 = Math.fround(0.7);
const SCORES = [f32, nextFloat32(f32), Math.fround(0.123456789), 0.1 + 0.2, 0.30000000000000004 + 1e-16, 1e-7, 0.25, 1];

/** A W x H image: road, with one car pixel per score (the car masks' scores are SCORES). */
function prediction(): ImagePrediction {
  const semantic = new Uint8Array(W * H).fill(ROAD);
  const segmentIds = new Uint32Array(W * H).fill(100);
  const classOf = new Map([[100, ROAD]]);
  const instances = SCORES.map((score, k) => {
    semantic[k] = CAR;
    segmentIds[k] = k + 1;
    classOf.set(k + 1, CAR);
    return { classId: CAR, score, pixels: [k] };
  });
  return { width: W, height: H, semantic, instances, panoptic: { segmentIds, classOf } };
}

/** Files under `root`, relative to it (as os.walk lists them for the official scripts). */
async function walk(root: string, prefix = ''): Promise<string[]> {
  const files: string[] = [];
  for (const entry of await readdir(join(root, prefix), { withFileTypes: true })) {
    const path = prefix === '' ? entry.name : `${prefix}/${entry.name}`;
    if (entry.isDirectory()) files.push(...(await walk(root, path)));
    else files.push(path);
  }
  return files.sort();
}

test('exported confidences parse back to the very same float32 and float64 scores', async (t) => {
  t.true(new Set(SCORES).size === SCORES.length);
  const dir = await tempDir(t);
  const exports = await createStageExports(dir, labels, 'val');
  await exports.fused.add('city_000000_000019', prediction());
  await exports.fused.finish();
  const text = await readFile(join(dir, 'fused', 'instance', 'city_000000_000019_pred.txt'), 'utf8');
  const lines = text.trimEnd().split('\n');
  t.is(lines.length, SCORES.length);
  const written = lines.map((line) => {
    const fields = line.split(' ');
    t.is(fields.length, 3, line); // cityscapesScripts' readPredInfo demands exactly three fields
    t.is(fields[1], String(CAR_LABEL));
    return fields[2]!;
  });
  for (const [k, score] of SCORES.entries()) {
    const parsed = Number(written[k]);
    t.is(parsed, score, `score ${k}: ${written[k]}`); // the same float64
    t.is(Math.fround(parsed), Math.fround(score)); // so the same float32 too
    t.regex(written[k]!, /^\d+(\.\d+)?(e-\d+)?$/); // a number Python's float() reads
  }
  // No two different scores tie in the file (six decimals made 0.7f and its neighbour, 0.3 and 0.3 + 1e-16 equal).
  t.is(new Set(written).size, SCORES.length);
  t.is(formatScore(Math.fround(0.7)), '0.699999988079071');
  t.throws(() => formatScore(Number.NaN), { instanceOf: RangeError });
});

test('--export layout: before/ and fused/, each with the official formats and panoptic file names', async (t) => {
  const dir = await tempDir(t);
  const exports = await createStageExports(dir, labels, 'val');
  const names = ['city_000000_000019', 'city_000001_000019'];
  for (const stage of [exports.before, exports.fused]) {
    for (const name of names) await stage.add(name, prediction());
    await stage.finish();
  }
  t.deepEqual(await readdir(dir), ['before', 'fused']);
  for (const stage of ['before', 'fused']) {
    const root = join(dir, stage);
    t.deepEqual((await readdir(root)).sort(), ['instance', 'panoptic', 'semantic']);
    // Each folder is what CITYSCAPES_RESULTS points at for one script, which walks it recursively and wants
    // exactly one match of "{city}_{seq}_{frame}*.png" (semantic) or "*.txt" (instance) per image.
    const semantic = await walk(join(root, 'semantic'));
    const instance = await walk(join(root, 'instance'));
    for (const name of names) {
      t.deepEqual(
        semantic.filter((f) => f.split('/').at(-1)!.startsWith(name)),
        [`${name}_pred_labelIds.png`],
      );
      t.deepEqual(
        instance.filter((f) => f.endsWith('.txt') && f.split('/').at(-1)!.startsWith(name)),
        [`${name}_pred.txt`],
      );
      const png = decode(await readFile(join(root, 'semantic', `${name}_pred_labelIds.png`)));
      t.is(png.channels, 1);
      t.deepEqual([...(png.data as Uint8Array)].slice(SCORES.length - 1, SCORES.length + 1), [CAR_LABEL, ROAD_LABEL]);
      // Masks named relative to the text file, inside the folder (readPredInfo refuses paths outside it).
      const lines = (await readFile(join(root, 'instance', `${name}_pred.txt`), 'utf8')).trimEnd().split('\n');
      for (const [k, line] of lines.entries()) {
        const mask = decode(await readFile(join(root, 'instance', line.split(' ')[0]!)));
        t.deepEqual(
          [...(mask.data as Uint8Array)].flatMap((v, p) => (v === 0 ? [] : [p])),
          [k],
        );
      }
    }
    // Panoptic: csEvalPanopticSemanticLabeling's default prediction JSON, and the folder of the same stem.
    t.deepEqual((await readdir(join(root, 'panoptic'))).sort(), [
      'cityscapes_panoptic_val',
      'cityscapes_panoptic_val.json',
    ]);
    const json = JSON.parse(await readFile(join(root, 'panoptic', 'cityscapes_panoptic_val.json'), 'utf8')) as {
      annotations: { image_id: string; file_name: string; segments_info: { id: number; category_id: number }[] }[];
      categories: { id: number }[];
    };
    t.deepEqual(
      json.annotations.map((a) => a.image_id),
      names,
    );
    t.deepEqual(
      (await readdir(join(root, 'panoptic', 'cityscapes_panoptic_val'))).sort(),
      json.annotations.map((a) => a.file_name).sort(),
    );
    const rgb = decode(
      await readFile(join(root, 'panoptic', 'cityscapes_panoptic_val', json.annotations[0]!.file_name)),
    ).data as Uint8Array;
    const ids = new Set<number>();
    for (let p = 0; p < W * H; p++) ids.add(rgb[3 * p]! + 256 * rgb[3 * p + 1]! + 65536 * rgb[3 * p + 2]!);
    t.deepEqual(
      [...ids].sort((a, b) => a - b),
      json.annotations[0]!.segments_info.map((s) => s.id).sort((a, b) => a - b),
    );
  }
});

test('the panoptic file names follow --split', async (t) => {
  const dir = await tempDir(t);
  const exports = await createStageExports(dir, labels, 'test');
  await exports.fused.add('city_000000_000019', prediction());
  await exports.fused.finish();
  t.deepEqual((await readdir(join(dir, 'fused', 'panoptic'))).sort(), [
    'cityscapes_panoptic_test',
    'cityscapes_panoptic_test.json',
  ]);
});
