/**
 * The reference fusion: a plain TypeScript reading of the algorithm, written for clarity. The WASM kernel
 * must agree with it byte for byte (tests hold them together on hundreds of random scenes).
 *
 * 1. Background pixels (semantic class not a thing, void included) keep their class and instance 0.
 * 2. Detections at or above the score threshold, by descending score (ties: input order), get ids 1, 2, ...
 *    Each mask is pasted into its box by bilinear sampling at pixel centres (paste.ts).
 * 3. Pixel-to-pixel matching: a mask pixel is kept if the pixel is foreground, unclaimed by a higher-scored
 *    detection, and consistent with the detection's class (same category, or same class). It takes the
 *    detection's id and class.
 * 4. Region growing: a breadth-first search from every labelled pixel (raster order) gives unlabelled
 *    foreground pixels the instance and class of the first labelled neighbour that reaches them through
 *    pixels of that instance's category (neighbours in the order up, left, right, down).
 * 5. New instances: each 4-connected component of still-unlabelled foreground pixels of one class gets a
 *    new id in raster order of its first pixel (if it has at least minNewInstanceArea pixels).
 */
import { cityscapesLabelSpace } from './cityscapes.js';
import { labelTables, type LabelSpace, type LabelTables } from './label-space.js';
import { pasteMask } from './paste.js';
import { MAX_INSTANCE_ID, type FusionInput, type FusionOptions, type FusionResult, type Segment } from './types.js';
import { resolveOptions, selectDetections, validateInput } from './validate.js';

export function fuseReference(
  input: FusionInput,
  options?: FusionOptions,
  labelSpace: LabelSpace = cityscapesLabelSpace,
): FusionResult {
  const tables = labelTables(labelSpace);
  validateInput(input, tables);
  const o = resolveOptions(options);
  const { width, height, semantic } = input;
  const n = width * height;
  const fused = semantic.slice();
  const instance = new Uint16Array(n);
  const isForeground = (p: number) => tables.isThing[semantic[p]!] === 1;

  // Steps 2 and 3: paste and match.
  const detections = selectDetections(input, o, tables);
  const idClass: number[] = [0];
  const idScore: number[] = [0];
  detections.forEach((detection, index) => {
    const id = index + 1;
    idClass.push(detection.classId);
    idScore.push(detection.score);
    pasteMask(detection, width, height, o.maskThreshold, (p) => {
      if (!isForeground(p) || instance[p] !== 0) return;
      if (!consistent(semantic[p]!, detection.classId, tables, o.consistency)) return;
      instance[p] = id;
      fused[p] = detection.classId;
    });
  });

  // Step 4: region growing.
  const grown = new Map<number, number>();
  if (o.regionGrowing) {
    const queue: number[] = [];
    for (let p = 0; p < n; p++) if (instance[p] !== 0) queue.push(p);
    for (let head = 0; head < queue.length; head++) {
      const p = queue[head]!;
      const category = tables.category[fused[p]!];
      for (const q of neighbours(p, width, height)) {
        if (instance[q] !== 0 || !isForeground(q) || tables.category[semantic[q]!] !== category) continue;
        instance[q] = instance[p]!;
        fused[q] = fused[p]!;
        grown.set(instance[p]!, (grown.get(instance[p]!) ?? 0) + 1);
        queue.push(q);
      }
    }
  }

  // Step 5: new instances.
  let droppedComponents = 0;
  if (o.newInstances) {
    const visited = new Uint8Array(n);
    for (let start = 0; start < n; start++) {
      if (instance[start] !== 0 || visited[start] === 1 || !isForeground(start)) continue;
      const cls = semantic[start]!;
      const component = [start];
      visited[start] = 1;
      for (let head = 0; head < component.length; head++) {
        for (const q of neighbours(component[head]!, width, height)) {
          if (visited[q] === 1 || instance[q] !== 0 || semantic[q] !== cls) continue;
          visited[q] = 1;
          component.push(q);
        }
      }
      if (component.length < o.minNewInstanceArea) continue;
      if (idClass.length > MAX_INSTANCE_ID) {
        droppedComponents++;
        continue;
      }
      const id = idClass.length;
      idClass.push(cls);
      idScore.push(0);
      for (const p of component) instance[p] = id;
    }
  }

  // Segments: every id that has pixels.
  const segments: Segment[] = [];
  const stats = new Map<number, { area: number; x0: number; y0: number; x1: number; y1: number }>();
  for (let p = 0; p < n; p++) {
    const id = instance[p]!;
    if (id === 0) continue;
    const x = p % width;
    const y = (p - x) / width;
    const s = stats.get(id);
    if (s === undefined) stats.set(id, { area: 1, x0: x, y0: y, x1: x, y1: y });
    else {
      s.area++;
      s.x0 = Math.min(s.x0, x);
      s.y0 = Math.min(s.y0, y);
      s.x1 = Math.max(s.x1, x);
      s.y1 = Math.max(s.y1, y);
    }
  }
  for (let id = 1; id < idClass.length; id++) {
    const s = stats.get(id);
    if (s === undefined) continue;
    const detected = id <= detections.length;
    segments.push({
      id,
      classId: idClass[id]!,
      score: idScore[id]!,
      area: s.area,
      box: [s.x0, s.y0, s.x1, s.y1],
      source: detected ? 'detected' : 'new',
      grownArea: grown.get(id) ?? 0,
    });
  }
  return { width, height, semantic: fused, instance, segments, droppedComponents };
}

function consistent(
  semanticClass: number,
  detectionClass: number,
  tables: LabelTables,
  mode: 'category' | 'class',
): boolean {
  return mode === 'class'
    ? semanticClass === detectionClass
    : tables.category[semanticClass] === tables.category[detectionClass];
}

/** 4-neighbours in the fixed order up, left, right, down. */
function neighbours(p: number, width: number, height: number): number[] {
  const x = p % width;
  const result: number[] = [];
  if (p >= width) result.push(p - width);
  if (x > 0) result.push(p - 1);
  if (x + 1 < width) result.push(p + 1);
  if (p + width < width * height) result.push(p + width);
  return result;
}
