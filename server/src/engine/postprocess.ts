/**
 * Turns one batch's raw graph outputs into per-frame semantic maps and detections at the model's input
 * size: the form fusion takes. Runs inside the session worker, next to the data.
 */
import type { GraphManifest } from './model.js';

/** A raw output tensor as ONNX Runtime returns it. */
export interface RawTensor {
  readonly type: string;
  readonly dims: readonly number[];
  readonly data: Float32Array | Uint8Array | Int32Array | BigInt64Array;
}

/** One detection in the semantic label space, before mask pasting. */
export interface Detection {
  /** Semantic class id (mapped through the manifest's classMap). */
  readonly classId: number;
  readonly score: number;
  /** x1, y1, x2, y2 in input pixels. */
  readonly box: [number, number, number, number];
  /** M*M mask probabilities. */
  readonly mask: Float32Array;
  readonly maskSize: number;
}

/** What inference produced for one frame. */
export interface FrameOutputs {
  readonly width: number;
  readonly height: number;
  /** Semantic class id per pixel, row-major. */
  readonly semantic: Uint8Array;
  readonly detections: Detection[];
}

function toNumber(data: RawTensor['data'], index: number): number {
  const value = data[index];
  return typeof value === 'bigint' ? Number(value) : (value ?? 0);
}

/** Semantic labels (or argmax of logits) for image `n`, nearest-upsampled to the input size. */
function semanticFor(graph: GraphManifest, tensor: RawTensor, n: number): Uint8Array {
  const { width, height } = graph.input;
  const logits = graph.semantic?.type === 'logits';
  const dims = tensor.dims;
  const h = dims[dims.length - 2] ?? height;
  const w = dims[dims.length - 1] ?? width;
  const plane = h * w;
  const small = new Uint8Array(plane);
  if (logits) {
    const classes = dims[1] ?? 0;
    const data = tensor.data as Float32Array;
    const base = n * classes * plane;
    for (let p = 0; p < plane; p++) {
      let best = 0;
      let bestValue = data[base + p] ?? -Infinity;
      for (let c = 1; c < classes; c++) {
        const value = data[base + c * plane + p] ?? -Infinity;
        if (value > bestValue) {
          bestValue = value;
          best = c;
        }
      }
      small[p] = best;
    }
  } else if (tensor.data instanceof Uint8Array) {
    small.set(tensor.data.subarray(n * plane, (n + 1) * plane));
  } else {
    for (let p = 0; p < plane; p++) {
      const label = toNumber(tensor.data, n * plane + p);
      small[p] = label >= 0 && label <= 255 ? label : 255; // out-of-range labels are void
    }
  }
  if (h === height && w === width) return small;
  const factor = height / h;
  const full = new Uint8Array(width * height);
  for (let y = 0; y < height; y++) {
    const row = Math.floor(y / factor) * w;
    for (let x = 0; x < width; x++) full[y * width + x] = small[row + Math.floor(x / factor)] ?? 255;
  }
  return full;
}

/** Splits the detections of a batch by image, mapping classes and dropping unmapped ones. */
function detectionsFor(graph: GraphManifest, outputs: ReadonlyMap<string, RawTensor>, count: number): Detection[][] {
  const perImage: Detection[][] = Array.from({ length: count }, () => []);
  const roles = graph.detections;
  if (roles === undefined) return perImage;
  const get = (name: string) => {
    const tensor = outputs.get(name);
    if (tensor === undefined) throw new Error(`inference returned no output "${name}"`);
    return tensor;
  };
  const boxes = get(roles.boxes).data as Float32Array;
  const scores = get(roles.scores).data as Float32Array;
  const classes = get(roles.classes).data;
  const masks = get(roles.masks).data as Float32Array;
  const batchIndex = roles.batchIndex === undefined ? undefined : get(roles.batchIndex).data;
  const m = graph.maskSize ?? 0;
  const maskLength = m * m;
  for (let k = 0; k < scores.length; k++) {
    const image = batchIndex === undefined ? 0 : toNumber(batchIndex, k);
    const classId = graph.classMap.get(toNumber(classes, k));
    const list = perImage[image];
    if (classId === undefined || list === undefined) continue; // unmapped class, or a padding image
    list.push({
      classId,
      score: scores[k] ?? 0,
      box: [boxes[4 * k] ?? 0, boxes[4 * k + 1] ?? 0, boxes[4 * k + 2] ?? 0, boxes[4 * k + 3] ?? 0],
      mask: masks.slice(k * maskLength, (k + 1) * maskLength),
      maskSize: m,
    });
  }
  return perImage;
}

/**
 * Per-frame outputs for the first `count` images of a batch (the rest are padding). For a pair model the
 * semantic map comes from the semantic graph and detections from the instance graph.
 */
export function splitBatch(
  graphs: readonly GraphManifest[],
  outputs: readonly ReadonlyMap<string, RawTensor>[],
  count: number,
): FrameOutputs[] {
  const semanticGraph = graphs.findIndex((graph) => graph.semantic !== undefined);
  const instanceGraph = graphs.findIndex((graph) => graph.detections !== undefined);
  const first = graphs[0];
  if (first === undefined) throw new Error('a model needs at least one graph');
  const { width, height } = first.input;
  const detections =
    instanceGraph >= 0 ? detectionsFor(graphs[instanceGraph]!, outputs[instanceGraph]!, count) : undefined;
  return Array.from({ length: count }, (_, n) => {
    let semantic: Uint8Array;
    if (semanticGraph >= 0) {
      const graph = graphs[semanticGraph]!;
      const tensor = outputs[semanticGraph]!.get(graph.semantic!.name);
      if (tensor === undefined) throw new Error(`inference returned no output "${graph.semantic!.name}"`);
      semantic = semanticFor(graph, tensor, n);
    } else {
      semantic = new Uint8Array(width * height).fill(255);
    }
    return { width, height, semantic, detections: detections?.[n] ?? [] };
  });
}
