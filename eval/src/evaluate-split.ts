/**
 * One pass over a split through the service: every image sent as it is (PNG) on one StreamFrames call, maps
 * returned at the image's size, and each result scored against its ground truth as it arrives (so a split
 * of any size runs in bounded memory). The "before" pass asks for fusion off and the detector's own
 * detections; the "after" pass for the fused output.
 */
import { readFile } from 'node:fs/promises';
import type { FusionsegClient } from '../../clients/src/client.js';
import { Progress } from '../../clients/src/progress.js';
import { Consistency, MapEncoding, type FusionOptions } from '../../proto/generated/fusionseg/v1/segmentation.pb.js';
import { listSplit, readGroundTruth, type SplitImage } from './dataset.js';
import type { CityscapesExport } from './export.js';
import { DEFAULT_HEURISTIC } from './heuristic-combination.js';
import type { EvalLabels } from './labels.js';
import { InstanceAp, type ApFigures } from './metrics/instance-ap.js';
import { PanopticQuality, type PqFigures } from './metrics/panoptic-quality.js';
import { ConfusionMatrix, type IouFigures } from './metrics/semantic-iou.js';
import { afterFusion, beforeFusion, type ImagePrediction } from './predictions.js';

export interface PassOptions {
  readonly stage: 'before' | 'after';
  /** Fusion settings of the "after" pass (the server's defaults for what is left out). */
  readonly fusion: Partial<FusionOptions>;
  /** Threshold for the detector's own masks in the "before" pass. */
  readonly maskThreshold: number;
  readonly newInstanceScore: number;
  readonly export?: CityscapesExport;
  readonly quiet?: boolean;
}

export interface PassFigures {
  readonly stage: 'before' | 'after';
  readonly images: number;
  readonly seconds: number;
  readonly iou: IouFigures;
  readonly ap: ApFigures;
  readonly pq: PqFigures;
}

export { listSplit, type SplitImage };

export async function evaluatePass(
  client: FusionsegClient,
  images: readonly SplitImage[],
  labels: EvalLabels,
  options: PassOptions,
): Promise<PassFigures> {
  const started = performance.now();
  const confusion = new ConfusionMatrix(labels.classCount);
  const instanceAp = new InstanceAp(labels.trainIdOf, labels.thingIds);
  const panoptic = new PanopticQuality(labels.trainIdOf, labels.isThing, labels.classCount);
  const progress = new Progress(
    `${options.stage === 'before' ? 'before fusion' : 'with fusion'}`,
    process.stderr,
    options.quiet,
  );
  async function* frames() {
    for (const [index, image] of images.entries()) yield { frameId: index, png: await readFile(image.imagePath) };
  }
  const before = options.stage === 'before';
  const results = client.streamFrames(frames(), {
    output: {
      semanticMap: MapEncoding.MAP_ENCODING_RAW,
      instanceMap: before ? MapEncoding.MAP_ENCODING_NONE : MapEncoding.MAP_ENCODING_RAW,
      segments: true,
      detections: before,
      sourceResolution: true,
    },
    fusion: before ? { disabled: true } : { consistency: Consistency.CONSISTENCY_CATEGORY, ...options.fusion },
  });
  let done = 0;
  for await (const { result, semantic, instance } of results) {
    const image = images[result.frameId]!;
    const truth = await readGroundTruth(image, labels.trainIdOf);
    if (truth.width !== result.width || truth.height !== result.height || semantic === undefined) {
      throw new Error(
        `${image.name}: the result is ${result.width}x${result.height}, the ground truth ${truth.width}x${truth.height}`,
      );
    }
    const heuristic = {
      scoreThreshold: DEFAULT_HEURISTIC.scoreThreshold,
      overlapThreshold: DEFAULT_HEURISTIC.overlapThreshold,
      stuffAreaLimit: Math.round(DEFAULT_HEURISTIC.stuffAreaFraction * truth.width * truth.height),
    };
    const prediction: ImagePrediction = before
      ? beforeFusion(result, semantic, labels, options.maskThreshold, heuristic)
      : afterFusion(result, semantic, instance!, labels, options.newInstanceScore);
    confusion.add(truth.semantic, prediction.semantic);
    instanceAp.addImage(truth.instanceIds, prediction.instances);
    panoptic.addImage(truth.instanceIds, prediction.panoptic);
    await options.export?.add(image.name, prediction);
    progress.update(++done, images.length);
  }
  progress.finish();
  if (done !== images.length) throw new Error(`the service answered ${done} of ${images.length} images`);
  return {
    stage: options.stage,
    images: done,
    seconds: (performance.now() - started) / 1000,
    iou: confusion.iou(labels.categoryOf),
    ap: instanceAp.figures(),
    pq: panoptic.figures(),
  };
}
