/**
 * Predictions in the official Cityscapes result formats, so that cityscapesScripts and the benchmark server
 * take them unchanged:
 * - semantic/{name}_pred_labelIds.png: Cityscapes label ids (not train ids), void as 0;
 * - instance/{name}_pred.txt: one line per instance, "masks/{name}_{k}.png LABEL_ID CONFIDENCE", with one
 *   binary PNG mask per instance;
 * - panoptic/{name}_panoptic.png (COCO panoptic: id = R + 256 G + 256^2 B) and panoptic.json
 *   (annotations with segments_info, categories with Cityscapes label ids), written by finish().
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

export class CityscapesExport {
  readonly #annotations: { image_id: string; file_name: string; segments_info: SegmentInfo[] }[] = [];

  private constructor(
    private readonly dir: string,
    private readonly labels: EvalLabels,
  ) {}

  static async create(dir: string, labels: EvalLabels): Promise<CityscapesExport> {
    for (const sub of ['semantic', 'instance/masks', 'panoptic']) await mkdir(join(dir, sub), { recursive: true });
    return new CityscapesExport(dir, labels);
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
      lines.push(`${file} ${labelIdOf[instance.classId]} ${instance.score.toFixed(6)}`);
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
    await writeFile(join(this.dir, 'panoptic', fileName), encode({ width, height, data: rgb, channels: 3, depth: 8 }));
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
    await writeFile(join(this.dir, 'panoptic.json'), JSON.stringify({ annotations: this.#annotations, categories }));
  }
}
