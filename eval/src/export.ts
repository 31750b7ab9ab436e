/**
 * Predictions in the official Cityscapes result formats, so that cityscapesScripts and the benchmark server
 * take them unchanged. `--export DIR` writes the predictions before fusion to DIR/before/ and the fused ones
 * to DIR/fused/, each with one folder per metric (each folder is what CITYSCAPES_RESULTS names for one of
 * the official scripts, which search their folder recursively and refuse two files per image):
 * - semantic/{name}_pred_labelIds.png: Cityscapes label ids (not train ids), void as 0;
 * - instance/{name}_pred.txt: one line per instance, "masks/{name}_{k}.png LABEL_ID CONFIDENCE", with one
 *   binary PNG mask per instance; the confidence written so that it parses back to the very same number;
 * - panoptic/cityscapes_panoptic_{split}.json and panoptic/cityscapes_panoptic_{split}/{name}_panoptic.png:
 *   COCO panoptic (id = R + 256 G + 256^2 B; annotations with segments_info, categories with Cityscapes
 *   label ids), the names csEvalPanopticSemanticLabeling reads by default; the JSON is written by finish().
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { encode } from 'fast-png';
import type { EvalLabels } from './labels.js';
import type { ImagePrediction } from './predictions.js';

interface SegmentInfo {
  id: number;
  category_id: number;
  area: number;
  bbox: [number, number, number, number];
  iscrowd: 0;
}

/** The stem of the panoptic JSON and of its PNG folder, as cityscapesScripts names them for a split. */
export function panopticStem(split: string): string {
  return `cityscapes_panoptic_${split}`;
}

/**
 * A confidence as text that parses back (Python's float(), JavaScript's Number()) to the same double, so
 * that no two scores tie in the file that do not tie in memory: the shortest such decimal.
 */
export function formatScore(score: number): string {
  if (!Number.isFinite(score)) throw new RangeError(`a score must be finite, got ${score}`);
  return String(score);
}

/** The predictions of one stage ("before" or "fused") in the official formats, under one folder. */
export class CityscapesExport {
  readonly #annotations: { image_id: string; file_name: string; segments_info: SegmentInfo[] }[] = [];
  readonly #panoptic: string;

  private constructor(
    private readonly dir: string,
    private readonly labels: EvalLabels,
    private readonly split: string,
  ) {
    this.#panoptic = join(dir, 'panoptic', panopticStem(split));
  }

  static async create(dir: string, labels: EvalLabels, split = 'val'): Promise<CityscapesExport> {
    const exporter = new CityscapesExport(dir, labels, split);
    for (const sub of [join(dir, 'semantic'), join(dir, 'instance', 'masks'), exporter.#panoptic])
      await mkdir(sub, { recursive: true });
    return exporter;
  }

  async add(name: string, prediction: ImagePrediction): Promise<void> {
    const { width, height, semantic } = prediction;
    const { labelIdOf } = this.labels;
    const labelIds = new Uint8Array(semantic.length);
    for (let p = 0; p < semantic.length; p++) labelIds[p] = labelIdOf[semantic[p]!] ?? 0;
    const gray = (data: Uint8Array) => encode({ width, height, data, channels: 1, depth: 8 });
    await writeFile(join(this.dir, 'semantic', `${name}_pred_labelIds.png`), gray(labelIds));

    const lines: string[] = [];
    for (const [k, instance] of prediction.instances.entries()) {
      const mask = new Uint8Array(width * height);
      for (let i = 0; i < instance.pixels.length; i++) mask[instance.pixels[i]!] = 255;
      const file = `masks/${name}_${k}.png`;
      await writeFile(join(this.dir, 'instance', file), gray(mask));
      lines.push(`${file} ${labelIdOf[instance.classId]} ${formatScore(instance.score)}`);
    }
    await writeFile(join(this.dir, 'instance', `${name}_pred.txt`), lines.length ? `${lines.join('\n')}\n` : '');

    const { segmentIds, classOf } = prediction.panoptic;
    const rgb = new Uint8Array(width * height * 3);
    const boxes = new Map<number, { x0: number; y0: number; x1: number; y1: number; area: number }>();
    for (let p = 0; p < segmentIds.length; p++) {
      const id = segmentIds[p]!;
      if (id === 0) continue;
      rgb[3 * p] = id & 255;
      rgb[3 * p + 1] = (id >> 8) & 255;
      rgb[3 * p + 2] = (id >> 16) & 255;
      const x = p % width;
      const y = Math.floor(p / width);
      const box = boxes.get(id);
      if (box === undefined) boxes.set(id, { x0: x, y0: y, x1: x, y1: y, area: 1 });
      else {
        box.x0 = Math.min(box.x0, x);
        box.x1 = Math.max(box.x1, x);
        box.y0 = Math.min(box.y0, y);
        box.y1 = Math.max(box.y1, y);
        box.area++;
      }
    }
    const fileName = `${name}_panoptic.png`;
    await writeFile(join(this.#panoptic, fileName), encode({ width, height, data: rgb, channels: 3, depth: 8 }));
    this.#annotations.push({
      image_id: name,
      file_name: fileName,
      segments_info: [...boxes].map(([id, box]) => ({
        id,
        category_id: labelIdOf[classOf.get(id)!]!,
        area: box.area,
        bbox: [box.x0, box.y0, box.x1 - box.x0 + 1, box.y1 - box.y0 + 1],
        iscrowd: 0,
      })),
    });
  }

  async finish(): Promise<void> {
    const categories = this.labels.space.classes.map((c) => ({
      id: c.labelId,
      name: c.name,
      supercategory: c.category,
      isthing: c.isThing ? 1 : 0,
      color: c.color,
    }));
    const json = join(this.dir, 'panoptic', `${panopticStem(this.split)}.json`);
    await writeFile(json, JSON.stringify({ annotations: this.#annotations, categories }));
  }
}

/** `--export DIR`: the predictions before fusion in DIR/before/, the fused ones in DIR/fused/. */
export interface StageExports {
  readonly before: CityscapesExport;
  readonly fused: CityscapesExport;
}

export async function createStageExports(dir: string, labels: EvalLabels, split = 'val'): Promise<StageExports> {
  return {
    before: await CityscapesExport.create(join(dir, 'before'), labels, split),
    fused: await CityscapesExport.create(join(dir, 'fused'), labels, split),
  };
}
