/**
 * Small, real ONNX graphs with the model contract's inputs and outputs (models/README.md), built with
 * onnx-proto so that the engine's tests run real ONNX Runtime sessions before the shipped model exists.
 *
 * The unified test graph computes, for input `images: uint8 [N, 3, H, W]`:
 * - semantic labels `floor(R / 16)` per pixel (so a test picks a pixel's class through its red value),
 *   or logits `-(R / 16 - c)^2` whose argmax is the nearest class to R / 16;
 * - one detection per image: a fixed box, class and mask, scored `mean(image) / 255`, with its batch index.
 * An optional convolution branch makes inference slow enough to observe batching and queueing.
 */
import onnxProto, { type onnx } from 'onnx-proto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

const proto = onnxProto.onnx;
const { TensorProto } = proto;
type DataType = onnx.TensorProto.DataType;

export interface TestModelOptions {
  readonly width?: number;
  readonly height?: number;
  /** A fixed batch size, or 'dynamic' (a symbolic N). */
  readonly batch?: number | 'dynamic';
  readonly maskSize?: number;
  /** The detector's class id of the one detection (maps through the manifest's classMap). */
  readonly detectorClass?: number;
  readonly box?: readonly [number, number, number, number];
  readonly semantic?: 'labels-uint8' | 'labels-int64' | 'logits';
  /** Output channels of a 5x5 convolution whose result feeds the scores (x0): makes inference cost time. */
  readonly heavyChannels?: number;
  /** Masks as [K, 1, M, M] (torchvision's layout) instead of [K, M, M]. */
  readonly masks4d?: boolean;
  /** Leave out the batch index output (only valid for batch 1). */
  readonly withoutBatchIndex?: boolean;
}

const CLASS_COUNT = 19;

function tensor(name: string, dataType: DataType, dims: number[], values: number[]): onnx.ITensorProto {
  const proto: onnx.ITensorProto = { name, dataType, dims };
  if (dataType === TensorProto.DataType.INT64) proto.int64Data = values;
  else proto.floatData = values;
  return proto;
}

function node(opType: string, inputs: string[], outputs: string[], attribute: onnx.IAttributeProto[] = []) {
  return proto.NodeProto.create({ opType, input: inputs, output: outputs, attribute, name: outputs[0] });
}

const intAttr = (name: string, i: number): onnx.IAttributeProto => ({
  name,
  i,
  type: proto.AttributeProto.AttributeType.INT,
});
const intsAttr = (name: string, ints: number[]): onnx.IAttributeProto => ({
  name,
  ints,
  type: proto.AttributeProto.AttributeType.INTS,
});

function valueInfo(name: string, elemType: DataType, dims: (number | string)[]): onnx.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType,
        shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

/** Builds the unified test graph; returns the serialized ONNX model. */
export function buildUnifiedTestModel(options: TestModelOptions = {}): Uint8Array {
  const {
    width = 64,
    height = 32,
    batch = 'dynamic',
    maskSize = 8,
    detectorClass = 3,
    box = [8, 4, 24, 20],
    semantic = 'labels-uint8',
    heavyChannels = 0,
    masks4d = false,
    withoutBatchIndex = false,
  } = options;
  const F = TensorProto.DataType.FLOAT;
  const I64 = TensorProto.DataType.INT64;
  const U8 = TensorProto.DataType.UINT8;
  const n: number | string = batch === 'dynamic' ? 'N' : batch;
  const K: number | string = batch === 'dynamic' ? 'K' : batch;

  const initializer: onnx.ITensorProto[] = [
    tensor('sixteen', F, [], [16]),
    tensor('two_fifty_five', F, [], [255]),
    tensor('zero_f', F, [], [0]),
    tensor('box_one', F, [1, 4], [...box]),
    tensor('class_one', I64, [1], [detectorClass]),
    tensor('mask_one', F, masks4d ? [1, 1, maskSize, maskSize] : [1, maskSize, maskSize], maskPattern(maskSize)),
    tensor('four', I64, [1], [4]),
    tensor('mask_dims', I64, masks4d ? [3] : [2], masks4d ? [1, maskSize, maskSize] : [maskSize, maskSize]),
    tensor('zero_i', I64, [], [0]),
    tensor('one_i', I64, [], [1]),
    tensor('start0', I64, [1], [0]),
    tensor('end1', I64, [1], [1]),
    tensor(
      'class_ids',
      F,
      [1, CLASS_COUNT, 1, 1],
      Array.from({ length: CLASS_COUNT }, (_, c) => c),
    ),
  ];
  const nodes: onnx.INodeProto[] = [
    node('Cast', ['images'], ['x'], [intAttr('to', F)]),
    // Red channel / 16, as [N, 1, H, W].
    node('Slice', ['x', 'start0', 'end1', 'end1'], ['red']),
    node('Div', ['red', 'sixteen'], ['red16']),
    // Batch size as a 1-D tensor and as a scalar.
    node('Shape', ['images'], ['input_shape']),
    node('Slice', ['input_shape', 'start0', 'end1'], ['n1']),
    node('Squeeze', ['n1'], ['n_scalar']),
    // Scores: mean intensity per image (+ 0 x the heavy branch).
    node('ReduceMean', ['x'], ['mean'], [intsAttr('axes', [1, 2, 3]), intAttr('keepdims', 0)]),
    node('Div', ['mean', 'two_fifty_five'], ['mean01']),
  ];
  let scoreSource = 'mean01';
  if (heavyChannels > 0) {
    const weights = Array.from({ length: heavyChannels * 3 * 25 }, (_, i) => ((i * 7919) % 13) / 13 - 0.5);
    initializer.push(tensor('heavy_w', F, [heavyChannels, 3, 5, 5], weights));
    nodes.push(
      node('Conv', ['x', 'heavy_w'], ['heavy'], [intsAttr('pads', [2, 2, 2, 2])]),
      node('ReduceMean', ['heavy'], ['heavy_mean'], [intsAttr('axes', [1, 2, 3]), intAttr('keepdims', 0)]),
      node('Mul', ['heavy_mean', 'zero_f'], ['heavy_zero']),
      node('Add', ['mean01', 'heavy_zero'], ['scored']),
    );
    scoreSource = 'scored';
  }
  nodes.push(node('Identity', [scoreSource], ['scores']));
  if (semantic === 'logits') {
    nodes.push(
      node('Sub', ['red16', 'class_ids'], ['distance']),
      node('Mul', ['distance', 'distance'], ['distance2']),
      node('Neg', ['distance2'], ['semantic']),
    );
  } else {
    nodes.push(
      node('Floor', ['red16'], ['red_floor']),
      node('Squeeze', ['red_floor', 'end1'], ['red_hw']),
      node('Cast', ['red_hw'], ['semantic'], [intAttr('to', semantic === 'labels-uint8' ? U8 : I64)]),
    );
  }
  nodes.push(
    node('Concat', ['n1', 'four'], ['box_shape'], [intAttr('axis', 0)]),
    node('Expand', ['box_one', 'box_shape'], ['boxes']),
    node('Expand', ['class_one', 'n1'], ['classes']),
    node('Concat', ['n1', 'mask_dims'], ['mask_shape'], [intAttr('axis', 0)]),
    node('Expand', ['mask_one', 'mask_shape'], ['masks']),
  );
  const outputs = [
    semantic === 'logits'
      ? valueInfo('semantic', F, [n, CLASS_COUNT, height, width])
      : valueInfo('semantic', semantic === 'labels-uint8' ? U8 : I64, [n, height, width]),
    valueInfo('boxes', F, [K, 4]),
    valueInfo('scores', F, [K]),
    valueInfo('classes', I64, [K]),
    valueInfo('masks', F, masks4d ? [K, 1, maskSize, maskSize] : [K, maskSize, maskSize]),
  ];
  if (!withoutBatchIndex) {
    nodes.push(node('Range', ['zero_i', 'n_scalar', 'one_i'], ['batch_index']));
    outputs.push(valueInfo('batch_index', I64, [K]));
  }
  // Keep only the constants this variant uses (ONNX Runtime warns about the others).
  const used = new Set(nodes.flatMap((n) => n.input ?? []));
  const usedInitializers = initializer.filter((t) => used.has(t.name ?? ''));
  const model = proto.ModelProto.create({
    irVersion: 8,
    producerName: 'fusionseg-tests',
    opsetImport: [{ domain: '', version: 13 }],
    graph: {
      name: 'unified-test',
      node: nodes,
      initializer: usedInitializers,
      input: [valueInfo('images', U8, [n, 3, height, width])],
      output: outputs,
    },
  });
  return proto.ModelProto.encode(model).finish();
}

/** The test mask: probability rising left to right, so thresholds select a predictable part. */
function maskPattern(size: number): number[] {
  return Array.from({ length: size * size }, (_, i) => ((i % size) + 0.5) / size);
}

/** The manifest that matches `buildUnifiedTestModel(options)`. */
export function unifiedTestManifest(options: TestModelOptions = {}): Record<string, unknown> {
  const { width = 64, height = 32, maskSize = 8, semantic = 'labels-uint8', withoutBatchIndex = false } = options;
  return {
    format: 'fusionseg-model/1',
    name: 'unified-test',
    kind: 'unified',
    onnx: 'model.onnx',
    input: { name: 'images', width, height },
    outputs: {
      semantic: { name: 'semantic', type: semantic === 'logits' ? 'logits' : 'labels' },
      boxes: 'boxes',
      scores: 'scores',
      classes: 'classes',
      masks: 'masks',
      ...(withoutBatchIndex ? {} : { batchIndex: 'batch_index' }),
    },
    maskSize,
    labelSpace: 'cityscapes',
    classMap: { '1': 11, '2': 12, '3': 13, '4': 14 },
  };
}

/** Writes a model folder (model.onnx + model.json) and returns its path. */
export async function writeTestModel(
  dir: string,
  options: TestModelOptions = {},
  manifestOverrides: Record<string, unknown> = {},
): Promise<string> {
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'model.onnx'), buildUnifiedTestModel(options));
  await writeFile(
    join(dir, 'model.json'),
    JSON.stringify({ ...unifiedTestManifest(options), ...manifestOverrides }, null, 2),
  );
  return dir;
}
