import test from 'ava';
import { execFile } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { encode } from 'fast-png';
import type { VideoEvalReport } from '../../eval/src/evaluate-video.js';
import { tempDir } from '../helpers/clips.js';
import { writeTestModel } from '../helpers/onnx-models.js';

const execFileAsync = promisify(execFile);
const W = 64;
const H = 32;
const FRAMES = 16;
const CAR_LABEL = 26;
const ROAD_LABEL = 7;

/**
 * One sequence for the test graph (class = floor(R / 16); its one detection scores far below the threshold
 * on these dark frames, so each car square is one of fusion's new instances, exactly the ground truth's):
 * car A moves down past car B, which stands still, so the order in which a frame's scan meets them (and so
 * fusion's per-frame ids) flips halfway.
 */
async function writeSequence(root: string): Promise<void> {
  const name = 'drive';
  const images = join(root, 'leftImg8bit_sequence', 'val', name);
  const gt = join(root, 'gtFine_sequence', 'val', name);
  await mkdir(images, { recursive: true });
  await mkdir(gt, { recursive: true });
  for (let i = 0; i < FRAMES; i++) {
    const cars = [
      { x: 6, y: 1 + i, id: CAR_LABEL * 1000 },
      { x: 40, y: 12, id: CAR_LABEL * 1000 + 1 },
    ];
    const rgb = new Uint8Array(W * H * 3);
    const labelIds = new Uint8Array(W * H).fill(ROAD_LABEL);
    const instanceIds = new Uint16Array(W * H).fill(ROAD_LABEL);
    for (let p = 0; p < W * H; p++) rgb.set([8, 8, 8], p * 3);
    for (const car of cars) {
      for (let y = car.y; y < car.y + 6; y++) {
        for (let x = car.x; x < car.x + 6; x++) {
          rgb.set([16 * 13 + 8, 8, 8], (y * W + x) * 3);
          labelIds[y * W + x] = CAR_LABEL;
          instanceIds[y * W + x] = car.id;
        }
      }
    }
    const stem = `${name}_${String(i).padStart(6, '0')}`;
    await writeFile(join(images, `${stem}_leftImg8bit.png`), encode({ width: W, height: H, data: rgb, channels: 3 }));
    await writeFile(
      join(gt, `${stem}_gtFine_labelIds.png`),
      encode({ width: W, height: H, data: labelIds, channels: 1 }),
    );
    await writeFile(
      join(gt, `${stem}_gtFine_instanceIds.png`),
      encode({ width: W, height: H, data: instanceIds, channels: 1, depth: 16 }),
    );
  }
}

test.serial(
  'npm run eval -- --video scores per-frame ids, box and mask tracking and the oracle on a sequence',
  async (t) => {
    t.timeout(120_000);
    const dir = await tempDir(t);
    await writeSequence(join(dir, 'video'));
    const model = await writeTestModel(join(dir, 'model'), { width: W, height: H });
    const args = ['--video', '--data', join(dir, 'video'), '--model', model, '--out', join(dir, 'out'), '--quiet'];
    args.push('--min-new-instance-area', '1');
    const { stdout } = await execFileAsync('npm', ['run', '--silent', 'eval', '--', ...args], { timeout: 110_000 });
    t.regex(stdout, /\| numbering \| STQ \| AQ \| SQ \| VPQ \| VPQ k=0 \| VPQ k=5 \| VPQ k=10 \| VPQ k=15 \|/);
    t.regex(stdout, /equals the tracker run here in 16 of 16 frames/);
    const report = JSON.parse(await readFile(join(dir, 'out', 'video-eval.json'), 'utf8')) as VideoEvalReport;
    t.is(report.sequences, 1);
    t.is(report.frames, FRAMES);
    t.is(report.groundTruthTracks, 2);
    t.deepEqual(report.serverAgreement, { frames: FRAMES, agreeing: FRAMES });
    const row = (variant: string) => report.rows.find((r) => r.variant === variant)!.figures;
    // The segmentation is exact, so SQ and VPQ at k = 0 are perfect for every numbering.
    for (const variant of ['per-frame', 'box', 'mask', 'oracle']) {
      t.is(row(variant).sq, 1, variant);
      t.is(row(variant).vpqByK[0]!.vpq, 1, variant);
    }
    // Tracking keeps both cars' ids: perfect association, no switch.
    for (const variant of ['mask', 'box', 'oracle']) {
      t.is(row(variant).aq, 1, variant);
      t.is(row(variant).stq, 1, variant);
      t.is(row(variant).vpq, 1, variant);
      t.is(row(variant).idSwitches, 0, variant);
    }
    // Per-frame ids swap when car A passes car B: association suffers, and windows across the swap fail.
    t.true(row('per-frame').aq < 0.8);
    t.is(row('per-frame').idSwitches, 2);
    t.true(row('per-frame').vpqByK[1]!.vpq < 1);
    t.regex(
      await readFile(join(dir, 'out', 'video-eval.md'), 'utf8'),
      /mask-overlap tracking \(ours\) \| 100\.0 \| 100\.0/,
    );
  },
);
