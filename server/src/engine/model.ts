/**
 * The model contract (models/README.md): a folder with `model.json` (the manifest) and the ONNX graph it
 * names. `loadManifest` validates the manifest; `checkGraph` holds a loaded session's inputs and outputs
 * against it. Errors name the key, input or output, and the shapes involved.
 */
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { cityscapesLabelSpace, labelTables, type LabelClass, type LabelSpace } from '../../../fusion-wasm/src/index.js';

export const MANIFEST_FORMAT = 'fusionseg-model/1';

export type ModelKind = 'unified' | 'semantic' | 'instance' | 'pair';

/** How the semantic head reports its result. */
export type SemanticOutputType = 'labels' | 'logits';

/** Detection output roles, each naming a graph output. */
export interface DetectionOutputs {
  readonly boxes: string;
  readonly scores: string;
  readonly classes: string;
  readonly masks: string;
  /** Required when the batch size can exceed 1. */
  readonly batchIndex?: string;
}

/** The label space a model predicts in (built-in Cityscapes, or defined inline in the manifest). */
export interface LabelSpaceSpec {
  readonly name: string;
  readonly classCount: number;
  readonly thingIds: ReadonlySet<number>;
  /** The full definition: classes, categories, colours (what fusion and GetModelInfo use). */
  readonly definition: LabelSpace;
}

/** One graph: a unified, semantic-only or instance-only network. */
export interface GraphManifest {
  readonly name: string;
  readonly kind: Exclude<ModelKind, 'pair'>;
  /** Absolute path of the ONNX file. */
  readonly onnxPath: string;
  readonly input: { readonly name: string; readonly width: number; readonly height: number };
  readonly semantic?: { readonly name: string; readonly type: SemanticOutputType };
  readonly detections?: DetectionOutputs;
  readonly maskSize?: number;
  /** Detector class id -> semantic class id. */
  readonly classMap: ReadonlyMap<number, number>;
  readonly labelSpace: LabelSpaceSpec;
}

/** A loaded model: one graph (unified) or two run side by side (pair). */
export interface ModelManifest {
  readonly name: string;
  readonly kind: 'unified' | 'pair';
  readonly dir: string;
  readonly graphs: readonly GraphManifest[];
  readonly input: { readonly width: number; readonly height: number };
  readonly labelSpace: LabelSpaceSpec;
}

/** A manifest or graph that breaks the contract. */
export class ModelContractError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ModelContractError';
  }
}

function specOf(definition: LabelSpace): LabelSpaceSpec {
  return {
    name: definition.name,
    classCount: definition.classes.length,
    thingIds: new Set(definition.classes.filter((c) => c.isThing).map((c) => c.id)),
    definition,
  };
}

/** The 19 Cityscapes train classes; things are person, rider, car, truck, bus, train, motorcycle, bicycle. */
const CITYSCAPES = specOf(cityscapesLabelSpace);

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

class ManifestReader {
  constructor(readonly file: string) {}

  fail(key: string, problem: string): never {
    throw new ModelContractError(`${this.file}: "${key}" ${problem}`);
  }

  object(json: Json, key: string, path = key): Json {
    const value = json[key];
    if (!isObject(value)) this.fail(path, 'must be an object');
    return value;
  }

  string(json: Json, key: string, path = key): string {
    const value = json[key];
    if (typeof value !== 'string' || value === '') this.fail(path, 'must be a non-empty string');
    return value;
  }

  positiveInteger(json: Json, key: string, path = key): number {
    const value = json[key];
    if (typeof value !== 'number' || !Number.isInteger(value) || value <= 0) {
      this.fail(path, `must be a positive integer, got ${JSON.stringify(value)}`);
    }
    return value;
  }
}

function readLabelSpace(reader: ManifestReader, json: Json): LabelSpaceSpec {
  const value = json['labelSpace'];
  if (value === undefined || value === 'cityscapes') return CITYSCAPES;
  if (!isObject(value)) reader.fail('labelSpace', 'must be "cityscapes" or an inline label space object');
  const classes = value['classes'];
  const categories = value['categories'];
  if (!Array.isArray(classes)) reader.fail('labelSpace.classes', 'must be an array of classes');
  if (!Array.isArray(categories) || !categories.every((c) => typeof c === 'string')) {
    reader.fail('labelSpace.categories', 'must be an array of category names');
  }
  const definition: LabelSpace = {
    name: typeof value['name'] === 'string' ? value['name'] : 'custom',
    categories: categories,
    classes: classes.map((entry: unknown, index): LabelClass => {
      const key = `labelSpace.classes[${index}]`;
      if (!isObject(entry)) reader.fail(key, 'must be an object');
      const color = entry['color'];
      if (
        !Array.isArray(color) ||
        color.length !== 3 ||
        !color.every((c) => Number.isInteger(c) && c >= 0 && c <= 255)
      ) {
        reader.fail(`${key}.color`, 'must be [r, g, b] with values 0..255');
      }
      return {
        id: entry['id'] as number,
        name: reader.string(entry, 'name', `${key}.name`),
        category: reader.string(entry, 'category', `${key}.category`),
        isThing: entry['isThing'] === true,
        color: color as [number, number, number],
      };
    }),
  };
  try {
    labelTables(definition); // dense ids, known categories, 1..255 classes
  } catch (error: unknown) {
    reader.fail('labelSpace', (error as Error).message.replace(/^labelSpace\./, ''));
  }
  return specOf(definition);
}

function readClassMap(reader: ManifestReader, json: Json, labelSpace: LabelSpaceSpec): Map<number, number> {
  const value = json['classMap'];
  if (value === undefined) return new Map();
  if (!isObject(value)) reader.fail('classMap', 'must map detector class ids to semantic class ids');
  const map = new Map<number, number>();
  for (const [detector, semantic] of Object.entries(value)) {
    const detectorId = Number(detector);
    if (!Number.isInteger(detectorId) || detectorId < 0) reader.fail(`classMap.${detector}`, 'is not a class id');
    if (typeof semantic !== 'number' || !labelSpace.thingIds.has(semantic)) {
      reader.fail(`classMap.${detector}`, `must be a thing class of the label space, got ${JSON.stringify(semantic)}`);
    }
    map.set(detectorId, semantic);
  }
  return map;
}

function readGraph(reader: ManifestReader, json: Json, dir: string): GraphManifest {
  const kind = json['kind'];
  if (kind !== 'unified' && kind !== 'semantic' && kind !== 'instance') {
    reader.fail('kind', `must be "unified", "semantic", "instance" or "pair", got ${JSON.stringify(kind)}`);
  }
  const input = reader.object(json, 'input');
  const outputs = reader.object(json, 'outputs');
  const labelSpace = readLabelSpace(reader, json);
  let semantic: GraphManifest['semantic'];
  if (kind !== 'instance') {
    const value = reader.object(outputs, 'semantic', 'outputs.semantic');
    const type = value['type'];
    if (type !== 'labels' && type !== 'logits') reader.fail('outputs.semantic.type', 'must be "labels" or "logits"');
    semantic = { name: reader.string(value, 'name', 'outputs.semantic.name'), type };
  }
  let detections: DetectionOutputs | undefined;
  let maskSize: number | undefined;
  if (kind !== 'semantic') {
    const role = (key: string) => reader.string(outputs, key, `outputs.${key}`);
    const batchIndex = outputs['batchIndex'];
    if (batchIndex !== undefined && (typeof batchIndex !== 'string' || batchIndex === '')) {
      reader.fail('outputs.batchIndex', 'must be a non-empty string when given');
    }
    detections = {
      boxes: role('boxes'),
      scores: role('scores'),
      classes: role('classes'),
      masks: role('masks'),
      ...(batchIndex === undefined ? {} : { batchIndex }),
    };
    maskSize = reader.positiveInteger(json, 'maskSize');
  }
  return {
    name: reader.string(json, 'name'),
    kind,
    onnxPath: resolve(dir, typeof json['onnx'] === 'string' ? json['onnx'] : 'model.onnx'),
    input: {
      name: reader.string(input, 'name', 'input.name'),
      width: reader.positiveInteger(input, 'width', 'input.width'),
      height: reader.positiveInteger(input, 'height', 'input.height'),
    },
    ...(semantic === undefined ? {} : { semantic }),
    ...(detections === undefined ? {} : { detections, maskSize }),
    classMap: kind === 'semantic' ? new Map() : readClassMap(reader, json, labelSpace),
    labelSpace,
  };
}

async function readJson(file: string): Promise<Json> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error: unknown) {
    throw new ModelContractError(`cannot read the model manifest ${file}: ${(error as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error: unknown) {
    throw new ModelContractError(`${file} is not valid JSON: ${(error as Error).message}`);
  }
  if (!isObject(json)) throw new ModelContractError(`${file} must hold a JSON object`);
  const reader = new ManifestReader(file);
  if (json['format'] !== MANIFEST_FORMAT) reader.fail('format', `must be "${MANIFEST_FORMAT}"`);
  return json;
}

/** Reads and validates the manifest of a model folder (unified, or a pair of sub-folders). */
export async function loadManifest(modelDir: string): Promise<ModelManifest> {
  const dir = resolve(modelDir);
  const file = join(dir, 'model.json');
  const json = await readJson(file);
  const reader = new ManifestReader(file);
  if (json['kind'] === 'pair') {
    const semanticDir = resolve(dir, reader.string(json, 'semantic'));
    const instanceDir = resolve(dir, reader.string(json, 'instance'));
    const semanticFile = join(semanticDir, 'model.json');
    const instanceFile = join(instanceDir, 'model.json');
    const semantic = readGraph(new ManifestReader(semanticFile), await readJson(semanticFile), semanticDir);
    const instance = readGraph(new ManifestReader(instanceFile), await readJson(instanceFile), instanceDir);
    if (semantic.kind !== 'semantic') reader.fail('semantic', `names a "${semantic.kind}" model, not "semantic"`);
    if (instance.kind !== 'instance') reader.fail('instance', `names a "${instance.kind}" model, not "instance"`);
    if (semantic.input.width !== instance.input.width || semantic.input.height !== instance.input.height) {
      reader.fail(
        'instance',
        `input ${instance.input.width}x${instance.input.height} differs from the semantic model's ` +
          `${semantic.input.width}x${semantic.input.height}`,
      );
    }
    return {
      name: reader.string(json, 'name'),
      kind: 'pair',
      dir,
      graphs: [semantic, instance],
      input: semantic.input,
      labelSpace: semantic.labelSpace,
    };
  }
  const graph = readGraph(reader, json, dir);
  if (graph.kind !== 'unified') reader.fail('kind', `"${graph.kind}" models run only as part of a "pair"`);
  return { name: graph.name, kind: 'unified', dir, graphs: [graph], input: graph.input, labelSpace: graph.labelSpace };
}

/** A graph input or output as ONNX Runtime reports it. */
export interface ValueInfo {
  readonly name: string;
  readonly type: string;
  readonly shape: readonly (number | string)[];
}

/** What the engine learns from the graph: whether its batch size is fixed. */
export interface GraphFacts {
  /** The fixed batch size, or undefined when the batch dimension is symbolic. */
  readonly fixedBatch: number | undefined;
}

const show = (shape: readonly (number | string)[]) => `[${shape.join(', ')}]`;

/**
 * Checks a loaded graph's inputs and outputs against its manifest and the contract; throws a
 * ModelContractError naming the value, the expected and the actual shape or type.
 */
export function checkGraph(
  graph: GraphManifest,
  inputs: readonly ValueInfo[],
  outputs: readonly ValueInfo[],
): GraphFacts {
  function fail(message: string): never {
    throw new ModelContractError(`${graph.onnxPath}: ${message}`);
  }
  const input = inputs.find((value) => value.name === graph.input.name);
  if (input === undefined) {
    fail(`no input named "${graph.input.name}" (the graph's inputs: ${inputs.map((v) => v.name).join(', ')})`);
  }
  const { width, height } = graph.input;
  const expectedInput = ['N', 3, height, width];
  if (
    input.type !== 'uint8' ||
    input.shape.length !== 4 ||
    input.shape[1] !== 3 ||
    input.shape[2] !== height ||
    input.shape[3] !== width
  ) {
    fail(
      `input "${input.name}" must be uint8 ${show(expectedInput)}, but the graph has ${input.type} ${show(input.shape)}`,
    );
  }
  const batchDim = input.shape[0];
  const fixedBatch = typeof batchDim === 'number' ? batchDim : undefined;

  const output = (role: string, name: string): ValueInfo => {
    const value = outputs.find((candidate) => candidate.name === name);
    if (value === undefined) {
      fail(`no output named "${name}" for ${role} (the graph's outputs: ${outputs.map((v) => v.name).join(', ')})`);
    }
    return value;
  };
  const expect = (value: ValueInfo, role: string, types: readonly string[], shape: readonly (number | string)[]) => {
    const shapeMatches =
      value.shape.length === shape.length &&
      shape.every((dim, i) => typeof dim === 'string' || value.shape[i] === dim || typeof value.shape[i] === 'string');
    if (!types.includes(value.type) || !shapeMatches) {
      fail(
        `output "${value.name}" (${role}) must be ${types.join(' or ')} ${show(shape)}, ` +
          `but the graph has ${value.type} ${show(value.shape)}`,
      );
    }
  };

  if (graph.semantic !== undefined) {
    const value = output('semantic', graph.semantic.name);
    if (graph.semantic.type === 'labels') {
      expect(value, 'semantic labels', ['uint8', 'int32', 'int64'], ['N', "H'", "W'"]);
    } else {
      expect(value, 'semantic logits', ['float32'], ['N', graph.labelSpace.classCount, "H'", "W'"]);
    }
    const [h, w] = value.shape.slice(-2);
    if (typeof h === 'number' && typeof w === 'number') {
      const factor = height / h;
      if (!Number.isInteger(factor) || width / w !== factor) {
        fail(
          `output "${value.name}" has ${h}x${w} pixels: it must equal the input's ${height}x${width} ` +
            `or divide it by one integer factor`,
        );
      }
    }
  }
  if (graph.detections !== undefined) {
    const { boxes, scores, classes, masks, batchIndex } = graph.detections;
    const m = graph.maskSize ?? 0;
    expect(output('boxes', boxes), 'boxes', ['float32'], ['K', 4]);
    expect(output('scores', scores), 'scores', ['float32'], ['K']);
    expect(output('classes', classes), 'classes', ['int64', 'int32'], ['K']);
    const maskValue = output('masks', masks);
    expect(maskValue, 'masks', ['float32'], maskValue.shape.length === 4 ? ['K', 1, m, m] : ['K', m, m]);
    if (batchIndex !== undefined) expect(output('batchIndex', batchIndex), 'batch index', ['int64', 'int32'], ['K']);
    else if (fixedBatch !== 1) {
      fail(
        `the batch size can exceed 1 (input "${input.name}" is ${show(input.shape)}), so the manifest must ` +
          `name a batch index output in outputs.batchIndex`,
      );
    }
  }
  return { fixedBatch };
}
