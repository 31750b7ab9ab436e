/**
 * The sweep that chooses the serving defaults: fusion's settings (minimum new-instance area, score
 * threshold) and the tracker's (IoU threshold, max age), each fusion setting run through the real service
 * on the still validation split (mIoU, AP, PQ) and on the video sequences (STQ, AQ, VPQ), the tracker's
 * settings scored on the same fused frames. The best setting maximises the mean of PQ and STQ.
 *
 *   npm run sweep -- --data DIR --video-data DIR [--model DIR] [--out DIR] [--quick]
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { FusionsegClient } from '../clients/src/client.js';
import { Consistency, type FusionOptions } from '../proto/generated/fusionseg/v1/segmentation.pb.js';
import { startService } from '../server/src/service.js';
import { evaluatePass, listSplit } from './src/evaluate-split.js';
import { evaluateVideo, type TrackingSettings, type VideoFigures } from './src/evaluate-video.js';
import { evalLabels } from './src/labels.js';

const f1 = (value: number) => (Number.isFinite(value) ? value.toFixed(1) : '-');
/** Figures are fractions; tables show percent. */
const pc = (value: number) => f1(100 * value);

const REPO = fileURLToPath(new URL('..', import.meta.url));
const USAGE = `npm run sweep -- --data DIR --video-data DIR [--model DIR] [--out DIR] [--quick]

  --data DIR         still images in the Cityscapes layout (the val split is used)
  --video-data DIR   video sequences (leftImg8bit_sequence/, gtFine_sequence/; the val split is used)
  --model DIR        model folder (default models/default)
  --out DIR          write sweep.json and sweep.md there
  --quick            a small grid (for tests)`;

const { values } = parseArgs({
  strict: true,
  options: {
    data: { type: 'string' },
    'video-data': { type: 'string' },
    model: { type: 'string' },
    out: { type: 'string' },
    quick: { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
});
if (values.help) {
  console.log(USAGE);
  process.exit(0);
}
if (values.data === undefined || values['video-data'] === undefined) {
  console.error(`--data and --video-data are required\n\n${USAGE}`);
  process.exit(64);
}

const minAreas = values.quick ? [1, 200] : [1, 50, 100, 200, 400];
const scoreThresholds = values.quick ? [0.5] : [0.5, 0.7];
const trackingGrid: TrackingSettings[] = (values.quick ? [0.3] : [0.1, 0.2, 0.3, 0.5]).flatMap((iouThreshold) =>
  (values.quick ? [5] : [0, 3, 10, 30]).map((maxAge) => ({ iouThreshold, maxAge })),
);

interface FusionRow {
  readonly minNewInstanceArea: number;
  readonly scoreThreshold: number;
  readonly miou: number;
  readonly ap: number;
  readonly pq: number;
  readonly pqThings: number;
  /** The best tracking setting on these fused frames, by STQ. */
  readonly tracking: TrackingSettings;
  readonly video: VideoFigures;
  readonly objective: number;
  readonly trackingSweep: readonly { readonly tracking: TrackingSettings; readonly figures: VideoFigures }[];
}

const labels = evalLabels();
const images = await listSplit(values.data, 'val');
const service = await startService(
  { modelDir: values.model ?? join(REPO, 'models/default'), address: '127.0.0.1:0' },
  { log: pino({ level: 'error' }, pino.destination(2)) },
);
const client = new FusionsegClient(`127.0.0.1:${service.port}`);
const rows: FusionRow[] = [];
try {
  for (const scoreThreshold of scoreThresholds) {
    for (const minNewInstanceArea of minAreas) {
      const fusion: Partial<FusionOptions> = {
        consistency: Consistency.CONSISTENCY_CATEGORY,
        minNewInstanceArea,
        scoreThreshold,
        maskThreshold: 0.5,
      };
      const still = await evaluatePass(client, images, labels, {
        stage: 'after',
        fusion,
        maskThreshold: 0.5,
        newInstanceScore: 0.25,
        quiet: true,
      });
      const video = await evaluateVideo(client, values['video-data'], 'val', labels, {
        fusion,
        tracking: trackingGrid[0]!,
        sweep: trackingGrid,
        quiet: true,
      });
      const best = [...video.sweep].sort((a, b) => b.figures.stq - a.figures.stq)[0]!;
      const row: FusionRow = {
        minNewInstanceArea,
        scoreThreshold,
        miou: still.iou.mean,
        ap: still.ap.ap,
        pq: still.pq.all.pq,
        pqThings: still.pq.things.pq,
        tracking: best.tracking,
        video: best.figures,
        objective: (still.pq.all.pq + best.figures.stq) / 2,
        trackingSweep: video.sweep,
      };
      rows.push(row);
      console.error(
        `min area ${minNewInstanceArea}, score ${scoreThreshold}: mIoU ${pc(row.miou)} AP ${pc(row.ap)} ` +
          `PQ ${pc(row.pq)} STQ ${pc(row.video.stq)} (IoU ${best.tracking.iouThreshold}, max age ${best.tracking.maxAge})`,
      );
    }
  }
} finally {
  client.close();
  await service.stop();
}

const chosen = [...rows].sort((a, b) => b.objective - a.objective)[0]!;
const lines = [
  `Fusion settings (each through the service: ${images.length} still validation scenes, and the video sequences); ` +
    'tracking: the best of the tracking grid on the same fused frames. Chosen: the largest mean of PQ and STQ.',
  '',
  '| min new-instance area | score threshold | mIoU | AP | PQ | PQ things | STQ | AQ | SQ | VPQ | id switches / 100 | best tracking (IoU, max age) | chosen |',
  '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  ...rows.map(
    (r) =>
      `| ${r.minNewInstanceArea} | ${r.scoreThreshold} | ${pc(r.miou)} | ${pc(r.ap)} | ${pc(r.pq)} | ${pc(r.pqThings)} | ` +
      `${pc(r.video.stq)} | ${pc(r.video.aq)} | ${pc(r.video.sq)} | ${pc(r.video.vpq)} | ${f1(r.video.idSwitchesPer100)} | ` +
      `${r.tracking.iouThreshold}, ${r.tracking.maxAge} | ${r === chosen ? 'yes' : ''} |`,
  ),
  '',
  `Tracking settings on the chosen fusion setting (min new-instance area ${chosen.minNewInstanceArea}, score threshold ${chosen.scoreThreshold}):`,
  '',
  '| IoU threshold | max age | STQ | AQ | VPQ | id switches / 100 |',
  '| --- | --- | --- | --- | --- | --- |',
  ...chosen.trackingSweep.map(
    ({ tracking, figures }) =>
      `| ${tracking.iouThreshold} | ${tracking.maxAge} | ${pc(figures.stq)} | ${pc(figures.aq)} | ${pc(figures.vpq)} | ${f1(figures.idSwitchesPer100)} |`,
  ),
];
console.log(lines.join('\n'));
if (values.out !== undefined) {
  await mkdir(values.out, { recursive: true });
  await writeFile(
    join(values.out, 'sweep.json'),
    `${JSON.stringify({ format: 'fusionseg-sweep/1', date: new Date().toISOString(), rows, chosen }, null, 2)}\n`,
  );
  await writeFile(join(values.out, 'sweep.md'), `# Serving defaults sweep\n\n${lines.join('\n')}\n`);
  console.error(`wrote ${join(values.out, 'sweep.json')} and sweep.md`);
}
