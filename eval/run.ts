/**
 * Evaluation of a model through the real pipeline, with fusion off and on: semantic mIoU, Cityscapes mask
 * AP and panoptic quality, printed in the form of the paper's Table 1. With --video, video sequences with
 * ground-truth tracks: STQ (AQ, SQ), VPQ and id switches of per-frame ids, box-IoU tracking, the server's
 * mask-overlap tracking and the ground truth through the tracker.
 *
 *   npm run eval -- --data DIR [--split val] [--model DIR] [--server ADDR] [--ablation] [--export DIR] ...
 *   npm run eval -- --video --data DIR [--split val] [--track-iou X] [--track-max-age N] ...
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { FusionsegClient } from '../clients/src/client.js';
import { Consistency, type FusionOptions } from '../proto/generated/fusionseg/v1/segmentation.pb.js';
import { startService, type RunningService } from '../server/src/service.js';
import { evaluatePass, listSplit } from './src/evaluate-split.js';
import { evaluateVideo, videoTable } from './src/evaluate-video.js';
import { DEFAULT_TRACKING } from '../server/src/track/tracker.js';
import { createStageExports } from './src/export.js';
import { evalLabels } from './src/labels.js';
import { renderMarkdown, tableRows, toJson, type EvalReport, type EvaluatedModel } from './src/report.js';

const REPO = fileURLToPath(new URL('..', import.meta.url));
const USAGE = `npm run eval -- --data DIR [options]

  --data DIR                 data set in the Cityscapes layout (leftImg8bit/, gtFine/); with --video, video
                             sequences (leftImg8bit_sequence/, gtFine_sequence/: models/fusionseg_model/synthetic_video.py)
  --video                    evaluate tracking on the video sequences (STQ, AQ, SQ, VPQ k = 0, 5, 10, 15)
  --track-iou X              tracking: least mask IoU to continue a track (default: the server's)
  --track-max-age N          tracking: frames a lost track is kept (default: the server's)
  --sequences N              with --video: only the first N sequences
  --split NAME               split to evaluate (default val)
  --model DIR                model folder (default models/default)
  --server ADDR              evaluate through a running server (host:port) instead of starting one
  --ablation                 also evaluate the baseline-head variant (--baseline DIR, default models/baseline)
  --export DIR               also write the predictions in the official Cityscapes result formats: before
                             fusion in DIR/before/, fused in DIR/fused/ (of --model, not of the baseline)
  --consistency category|class   fusion's pixel-to-pixel matching (default category)
  --no-growing               fusion without region growing
  --no-new-instances         fusion without new instances
  --score-threshold X        detections fusion uses (default: the server's)
  --mask-threshold X         mask threshold, for fusion and for the detector's own masks (default 0.5)
  --min-new-instance-area N  smallest component fusion makes a new instance of, in pixels (default: the server's)
  --new-instance-score X     score of instances fusion finds without a detection (default 0.25)
  --limit N                  only the first N images
  --out DIR                  write eval.json and eval.md there
  --quiet                    no progress`;

function fail(message: string): never {
  console.error(`${message}\n\n${USAGE}`);
  process.exit(64);
}

let values;
try {
  ({ values } = parseArgs({
    strict: true,
    options: {
      data: { type: 'string' },
      split: { type: 'string', default: 'val' },
      model: { type: 'string' },
      baseline: { type: 'string' },
      server: { type: 'string' },
      ablation: { type: 'boolean', default: false },
      export: { type: 'string' },
      consistency: { type: 'string', default: 'category' },
      'no-growing': { type: 'boolean', default: false },
      'no-new-instances': { type: 'boolean', default: false },
      'score-threshold': { type: 'string' },
      'mask-threshold': { type: 'string', default: '0.5' },
      'new-instance-score': { type: 'string', default: '0.25' },
      'min-new-instance-area': { type: 'string' },
      limit: { type: 'string' },
      out: { type: 'string' },
      quiet: { type: 'boolean', default: false },
      video: { type: 'boolean', default: false },
      'track-iou': { type: 'string' },
      'track-max-age': { type: 'string' },
      sequences: { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  }));
} catch (error: unknown) {
  fail((error as Error).message);
}
if (values.help) {
  console.log(USAGE);
  process.exit(0);
}
if (values.data === undefined) fail('--data is required');
if (values.consistency !== 'category' && values.consistency !== 'class') {
  fail(`--consistency must be category or class, got "${values.consistency}"`);
}
if (values.ablation && values.server !== undefined)
  fail('--ablation starts a server per model; it cannot use --server');
const unit = (option: string, text: string) => {
  const value = Number(text);
  if (!(value >= 0 && value <= 1)) fail(`--${option} must be a number from 0 to 1, got "${text}"`);
  return value;
};
// Unset fusion settings are the server's defaults (GetModelInfo reports them; the report records them).
const scoreThreshold =
  values['score-threshold'] === undefined ? undefined : unit('score-threshold', values['score-threshold']);
const maskThreshold = unit('mask-threshold', values['mask-threshold']);
const newInstanceScore = unit('new-instance-score', values['new-instance-score']);
const minNewInstanceArea =
  values['min-new-instance-area'] === undefined ? undefined : Number(values['min-new-instance-area']);
if (minNewInstanceArea !== undefined && !(Number.isInteger(minNewInstanceArea) && minNewInstanceArea >= 1)) {
  fail(`--min-new-instance-area must be a positive integer, got "${values['min-new-instance-area']}"`);
}
const limit = values.limit === undefined ? undefined : Number(values.limit);
if (limit !== undefined && !(Number.isInteger(limit) && limit > 0))
  fail(`--limit must be a positive integer, got "${values.limit}"`);

const fusion: Partial<FusionOptions> = {
  consistency: values.consistency === 'class' ? Consistency.CONSISTENCY_CLASS : Consistency.CONSISTENCY_CATEGORY,
  regionGrowing: !values['no-growing'],
  newInstances: !values['no-new-instances'],
  ...(minNewInstanceArea === undefined ? {} : { minNewInstanceArea }),
  ...(scoreThreshold === undefined ? {} : { scoreThreshold }),
  maskThreshold,
};
const labels = evalLabels();
if (values.video) {
  if (values.ablation) fail('--video evaluates one model; it cannot take --ablation');
  const trackIou = values['track-iou'] === undefined ? DEFAULT_TRACKING.iouThreshold : Number(values['track-iou']);
  if (!(trackIou > 0 && trackIou <= 1)) fail(`--track-iou must be above 0 and at most 1, got "${values['track-iou']}"`);
  const maxAge = values['track-max-age'] === undefined ? DEFAULT_TRACKING.maxAge : Number(values['track-max-age']);
  if (!(Number.isInteger(maxAge) && maxAge >= 0)) {
    fail(`--track-max-age must be a whole number of frames, got "${values['track-max-age']}"`);
  }
  const sequences = values.sequences === undefined ? undefined : Number(values.sequences);
  if (sequences !== undefined && !(Number.isInteger(sequences) && sequences > 0)) {
    fail(`--sequences must be a positive integer, got "${values.sequences}"`);
  }
  const modelDir = values.model ?? join(REPO, 'models/default');
  let service: RunningService | undefined;
  let client: FusionsegClient;
  if (values.server !== undefined) client = new FusionsegClient(values.server);
  else {
    service = await startService(
      { modelDir, address: '127.0.0.1:0' },
      { log: pino({ level: 'error' }, pino.destination(2)) },
    );
    client = new FusionsegClient(`127.0.0.1:${service.port}`);
  }
  let report;
  try {
    const info = await client.getModelInfo();
    report = await evaluateVideo(client, values.data, values.split, labels, {
      fusion,
      tracking: { iouThreshold: trackIou, maxAge },
      quiet: values.quiet,
      ...(sequences === undefined ? {} : { limitSequences: sequences }),
    });
    const table = videoTable(report);
    const agreement = report.serverAgreement;
    const header =
      `${info.name}: ${report.sequences} sequences, ${report.frames} frames, ${report.groundTruthTracks} ground-truth ` +
      `tracks; tracking IoU ${trackIou}, max age ${maxAge}; the server's tracked output equals the tracker run ` +
      `here in ${agreement.agreeing} of ${agreement.frames} frames`;
    console.log(`${header}\n\n${table.join('\n')}`);
    if (values.out !== undefined) {
      await mkdir(values.out, { recursive: true });
      const json = {
        format: 'fusionseg-video-eval/1',
        date: new Date().toISOString(),
        model: info.name,
        data: values.data,
        split: values.split,
        fusion,
        tracking: { iouThreshold: trackIou, maxAge },
        ...report,
      };
      await writeFile(join(values.out, 'video-eval.json'), `${JSON.stringify(json, null, 2)}\n`);
      await writeFile(join(values.out, 'video-eval.md'), `# Video evaluation\n\n${header}.\n\n${table.join('\n')}\n`);
      console.error(`wrote ${join(values.out, 'video-eval.json')} and video-eval.md`);
    }
  } finally {
    client.close();
    await service?.stop();
  }
  process.exit(0);
}
let images;
try {
  images = await listSplit(values.data, values.split);
} catch (error: unknown) {
  fail((error as Error).message);
}
if (limit !== undefined) images = images.slice(0, limit);

interface ModelFolder {
  readonly dir: string;
  readonly head: string;
  readonly backbone: string;
}

async function describe(dir: string): Promise<ModelFolder> {
  const manifest = JSON.parse(await readFile(join(dir, 'model.json'), 'utf8')) as {
    training?: { depth?: number; width?: number; head?: string };
  };
  const training = manifest.training ?? {};
  const head =
    training.head === 'asp-rp' ? 'ASP+RP' : training.head === 'baseline' ? 'baseline' : (training.head ?? 'unknown');
  const backbone =
    training.depth === undefined
      ? '-'
      : `ResNet-${training.depth}${training.width !== undefined && training.width !== 1 ? ` x${training.width}` : ''} FPN`;
  return { dir, head, backbone };
}

const main = await describe(values.model ?? join(REPO, 'models/default'));
const folders = values.ablation ? [await describe(values.baseline ?? join(REPO, 'models/baseline')), main] : [main];
const exporter =
  values.export === undefined ? undefined : await createStageExports(values.export, labels, values.split);

const models: EvaluatedModel[] = [];
let serverFusion: FusionOptions | undefined;
for (const folder of folders) {
  let service: RunningService | undefined;
  let client: FusionsegClient;
  if (values.server !== undefined) {
    client = new FusionsegClient(values.server);
  } else {
    service = await startService(
      { modelDir: folder.dir, address: '127.0.0.1:0' },
      { log: pino({ level: 'error' }, pino.destination(2)) },
    );
    client = new FusionsegClient(`127.0.0.1:${service.port}`);
  }
  try {
    const info = await client.getModelInfo();
    const quiet = values.quiet;
    const exportHere = folder === main ? exporter : undefined;
    const before = await evaluatePass(client, images, labels, {
      stage: 'before',
      fusion,
      maskThreshold,
      newInstanceScore,
      quiet,
      ...(exportHere ? { export: exportHere.before } : {}),
    });
    const after = await evaluatePass(client, images, labels, {
      stage: 'after',
      fusion,
      maskThreshold,
      newInstanceScore,
      quiet,
      ...(exportHere ? { export: exportHere.fused } : {}),
    });
    models.push({ name: info.name, head: folder.head, backbone: folder.backbone, before, after });
    serverFusion ??= info.defaultFusion;
  } finally {
    client.close();
    await service?.stop();
  }
}
await exporter?.before.finish();
await exporter?.fused.finish();

const report: EvalReport = {
  format: 'fusionseg-eval/1',
  date: new Date().toISOString(),
  data: values.data,
  split: values.split,
  images: images.length,
  fusion: {
    consistency: values.consistency,
    regionGrowing: !values['no-growing'],
    newInstances: !values['no-new-instances'],
    minNewInstanceArea: minNewInstanceArea ?? serverFusion?.minNewInstanceArea ?? 0,
    scoreThreshold: scoreThreshold ?? serverFusion?.scoreThreshold ?? 0,
    maskThreshold,
  },
  newInstanceScore,
  models,
};
console.log(tableRows(report).join('\n'));
if (values.out !== undefined) {
  await mkdir(values.out, { recursive: true });
  await writeFile(join(values.out, 'eval.json'), `${toJson(report, labels)}\n`);
  await writeFile(join(values.out, 'eval.md'), renderMarkdown(report, labels));
  console.error(`wrote ${join(values.out, 'eval.json')} and eval.md`);
}
