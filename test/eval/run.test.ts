import test from 'ava';
import { execFile } from 'node:child_process';
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { decode, encode } from 'fast-png';
import { tempDir } from '../helpers/clips.js';
import { writeTestModel } from '../helpers/onnx-models.js';
import { startTestService } from '../helpers/service.js';

const execFileAsync = promisify(execFile);
const W = 64;
const H = 32;
const CAR_LABEL = 26;
const ROAD_LABEL = 7;

/**
 * A two-image split in the Cityscapes layout for the test graph (class = floor(R / 16) everywhere, one car
 * detection scored by the mean colour): a car filling the frame, and road.
 */
async function writeSplit(root: string): Promise<void> {
  const scenes = [
    { name: 'testcity_000000_000019', red: 16 * 13, label: CAR_LABEL, instance: CAR_LABEL * 1000 },
    { name: 'testcity_000001_000019', red: 0, label: ROAD_LABEL, instance: ROAD_LABEL },
  ];
  const images = join(root, 'leftImg8bit', 'val', 'testcity');
  const gt = join(root, 'gtFine', 'val', 'testcity');
  await mkdir(images, { recursive: true });
  await mkdir(gt, { recursive: true });
  for (const scene of scenes) {
    const rgb = new Uint8Array(W * H * 3);
    for (let i = 0; i < rgb.length; i += 3) rgb.set([scene.red, 200, 200], i);
    await writeFile(
      join(images, `${scene.name}_leftImg8bit.png`),
      encode({ width: W, height: H, data: rgb, channels: 3 }),
    );
    const labelIds = new Uint8Array(W * H).fill(scene.label);
    await writeFile(
      join(gt, `${scene.name}_gtFine_labelIds.png`),
      encode({ width: W, height: H, data: labelIds, channels: 1 }),
    );
    const instanceIds = new Uint16Array(W * H).fill(scene.instance);
    await writeFile(
      join(gt, `${scene.name}_gtFine_instanceIds.png`),
      encode({ width: W, height: H, data: instanceIds, channels: 1, depth: 16 }),
    );
  }
}

interface PassJson {
  images: number;
  iou: { mean: number };
  ap: { ap: number; ap50: number };
  pq: { all: { pq: number }; things: { pq: number } };
}

test.serial(
  'npm run eval scores the real pipeline before and after fusion, and exports both in the Cityscapes formats',
  async (t) => {
    t.timeout(120_000);
    const dir = await tempDir(t);
    await writeSplit(join(dir, 'data'));
    const model = await writeTestModel(join(dir, 'model'), { width: W, height: H });
    const args = [
      '--data',
      join(dir, 'data'),
      '--model',
      model,
      '--out',
      join(dir, 'out'),
      '--export',
      join(dir, 'export'),
      '--quiet',
    ];
    const { stdout } = await execFileAsync('npm', ['run', '--silent', 'eval', '--', ...args], { timeout: 110_000 });
    t.regex(stdout, /\| method \| backbone \| mask AP \| AP50 \| mIoU \| PQ/);

    const report = JSON.parse(await readFile(join(dir, 'out', 'eval.json'), 'utf8')) as {
      images: number;
      models: { before: PassJson; after: PassJson }[];
    };
    t.is(report.images, 2);
    const [{ before, after }] = report.models as [{ before: PassJson; after: PassJson }];
    t.is(before.images, 2);
    // The semantic head is right everywhere, before and after.
    t.is(before.iou.mean, 1);
    t.is(after.iou.mean, 1);
    // Fusion grows the detected car over the whole frame and deletes the detection on road: perfect.
    t.is(after.ap.ap, 1);
    t.is(after.pq.all.pq, 1);
    // Without fusion the detector's own box covers part of the car, and its detection on road is a false positive.
    t.true(before.ap.ap < 1);
    t.true(before.pq.things.pq < 1);
    t.regex(await readFile(join(dir, 'out', 'eval.md'), 'utf8'), /## .+: per class/);

    // Both stages in the official formats: before fusion and fused, one folder per script.
    t.deepEqual((await readdir(join(dir, 'export'))).sort(), ['before', 'fused']);
    for (const stage of ['before', 'fused']) {
      const root = join(dir, 'export', stage);
      t.deepEqual((await readdir(root)).sort(), ['instance', 'panoptic', 'semantic'], stage);
      // Semantic results in label ids (the semantic head is right everywhere, so both stages are all car).
      const semantic = decode(await readFile(join(root, 'semantic', 'testcity_000000_000019_pred_labelIds.png')));
      t.true((semantic.data as Uint8Array).every((v) => v === CAR_LABEL));
      // Panoptic: cityscapesScripts' default prediction JSON and the PNG folder of the same stem.
      t.deepEqual((await readdir(join(root, 'panoptic'))).sort(), [
        'cityscapes_panoptic_val',
        'cityscapes_panoptic_val.json',
      ]);
    }

    // Instance results: a text file per image naming binary masks, their label id and confidence.
    const fused = join(dir, 'export', 'fused');
    const lines = (await readFile(join(fused, 'instance', 'testcity_000000_000019_pred.txt'), 'utf8'))
      .trim()
      .split('\n');
    t.is(lines.length, 1);
    const [maskFile, labelId, confidence] = lines[0]!.split(' ');
    t.is(labelId, String(CAR_LABEL));
    t.true(Number(confidence) > 0.5 && Number(confidence) <= 1);
    // The detection's float32 score, written in full: it parses back to a float32 exactly.
    t.is(Math.fround(Number(confidence)), Number(confidence));
    const mask = decode(await readFile(join(fused, 'instance', maskFile!)));
    t.true((mask.data as Uint8Array).every((v) => v === 255));
    t.is((await readFile(join(fused, 'instance', 'testcity_000001_000019_pred.txt'), 'utf8')).trim(), '');
    // Before fusion: the detector's own masks, the car's covering only part of the frame, and the road image's
    // detection (fusion deletes it) is there too.
    const beforeDir = join(dir, 'export', 'before');
    const beforeCar = (await readFile(join(beforeDir, 'instance', 'testcity_000000_000019_pred.txt'), 'utf8'))
      .trim()
      .split('\n');
    t.is(beforeCar.length, 1);
    const [beforeMask, beforeLabel, beforeConfidence] = beforeCar[0]!.split(' ');
    t.is(beforeLabel, String(CAR_LABEL));
    t.is(Math.fround(Number(beforeConfidence)), Number(beforeConfidence));
    const partial = decode(await readFile(join(beforeDir, 'instance', beforeMask!))).data as Uint8Array;
    t.true(partial.some((v) => v === 255) && partial.some((v) => v === 0));
    const onRoad = (await readFile(join(beforeDir, 'instance', 'testcity_000001_000019_pred.txt'), 'utf8')).trim();
    t.is(onRoad.split('\n').length, 1);
    t.regex(onRoad, new RegExp(`^masks/testcity_000001_000019_0\\.png ${CAR_LABEL} [0-9.e-]+$`));

    // Panoptic: COCO panoptic PNG + JSON with Cityscapes category ids.
    const json = JSON.parse(await readFile(join(fused, 'panoptic', 'cityscapes_panoptic_val.json'), 'utf8')) as {
      annotations: {
        image_id: string;
        file_name: string;
        segments_info: { id: number; category_id: number; area: number }[];
      }[];
      categories: { id: number; isthing: number }[];
    };
    t.is(json.categories.length, 19);
    t.deepEqual(json.categories.find((c) => c.id === CAR_LABEL)?.isthing, 1);
    const car = json.annotations.find((a) => a.image_id === 'testcity_000000_000019')!;
    t.deepEqual(
      car.segments_info.map((s) => [s.category_id, s.area]),
      [[CAR_LABEL, W * H]],
    );
    const png = decode(await readFile(join(fused, 'panoptic', 'cityscapes_panoptic_val', car.file_name)));
    const rgb = png.data as Uint8Array;
    t.is(rgb[0]! + 256 * rgb[1]! + 65536 * rgb[2]!, car.segments_info[0]!.id);
    // Before fusion, the heuristic combination's panoptic output: every id in a PNG is in the JSON and back (the
    // official script raises a KeyError otherwise).
    const beforeJson = JSON.parse(
      await readFile(join(beforeDir, 'panoptic', 'cityscapes_panoptic_val.json'), 'utf8'),
    ) as {
      annotations: { image_id: string; file_name: string; segments_info: { id: number; area: number }[] }[];
    };
    t.deepEqual(beforeJson.annotations.map((a) => a.image_id).sort(), [
      'testcity_000000_000019',
      'testcity_000001_000019',
    ]);
    for (const annotation of beforeJson.annotations) {
      const colours = decode(
        await readFile(join(beforeDir, 'panoptic', 'cityscapes_panoptic_val', annotation.file_name)),
      ).data as Uint8Array;
      const areas = new Map<number, number>();
      for (let p = 0; p < W * H; p++) {
        const id = colours[3 * p]! + 256 * colours[3 * p + 1]! + 65536 * colours[3 * p + 2]!;
        if (id !== 0) areas.set(id, (areas.get(id) ?? 0) + 1);
      }
      t.deepEqual(
        [...areas].sort((a, b) => a[0] - b[0]),
        annotation.segments_info.map((s) => [s.id, s.area]).sort((a, b) => a[0]! - b[0]!),
      );
    }
  },
);

test.serial('through --server, the same figures come from a running server', async (t) => {
  t.timeout(120_000);
  const dir = await tempDir(t);
  await writeSplit(join(dir, 'data'));
  const { address } = await startTestService(t, {}, { width: W, height: H });
  const { stdout } = await execFileAsync(
    'npm',
    ['run', '--silent', 'eval', '--', '--data', join(dir, 'data'), '--server', address, '--quiet'],
    { timeout: 110_000 },
  );
  const rows = stdout.trim().split('\n').slice(2);
  t.is(rows.length, 2);
  t.regex(rows[1]!, /\+ fusion \| .* \| 100\.0 \| 100\.0 \| 100\.0 \| 100\.0 \|/);
});

test('a missing split and bad options are usage errors naming the problem', async (t) => {
  const dir = await tempDir(t);
  const missing = await t.throwsAsync<Error & { code: number; stderr: string }>(
    execFileAsync('npm', ['run', '--silent', 'eval', '--', '--data', dir]),
  );
  t.is(missing?.code, 64);
  t.regex(missing?.stderr ?? '', /--data: .*leftImg8bit\/val does not exist/);
  const bad = await t.throwsAsync<Error & { code: number; stderr: string }>(
    execFileAsync('npm', ['run', '--silent', 'eval', '--', '--data', dir, '--score-threshold', '2']),
  );
  t.is(bad?.code, 64);
  t.regex(bad?.stderr ?? '', /--score-threshold must be a number from 0 to 1/);
});
