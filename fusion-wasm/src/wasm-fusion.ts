/**
 * The WebAssembly fusion: one module instance per `Fusion`, its buffers laid out in linear memory once
 * per frame size and reused, so a steady stream of same-sized frames allocates only its outputs.
 */
import { readFile } from 'node:fs/promises';
import { cityscapesLabelSpace } from './cityscapes.js';
import { labelTables, type LabelSpace, type LabelTables } from './label-space.js';
import type { Fusion, FusionInput, FusionOptions, FusionResult, PhaseTimings, Segment } from './types.js';
import { resolveOptions, selectDetections, validateInput } from './validate.js';

/** The parts of the WebAssembly API used here (Node's types do not declare the global). */
interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}
interface WasmModule {
  readonly kind: 'module';
}
const wasm = (
  globalThis as unknown as {
    WebAssembly: {
      compile(bytes: Uint8Array): Promise<WasmModule>;
      instantiate(module: WasmModule, imports: object): Promise<{ exports: object }>;
    };
  }
).WebAssembly;

interface KernelExports {
  readonly memory: WasmMemory;
  heapBase(): number;
  pasteDetection(
    width: number,
    height: number,
    semantic: number,
    instance: number,
    isThing: number,
    category: number,
    byClass: number,
    id: number,
    detectionClass: number,
    x1: number,
    y1: number,
    x2: number,
    y2: number,
    mask: number,
    maskSize: number,
    maskThreshold: number,
    scratch: number,
    rows: number,
    pasted: number,
  ): void;
  growRegions(
    width: number,
    height: number,
    semantic: number,
    instance: number,
    isThing: number,
    category: number,
    idCategory: number,
    queue: number,
    rows: number,
    table: number,
  ): number;
  finishFrame(
    width: number,
    height: number,
    semantic: number,
    instance: number,
    idClass: number,
    stats: number,
    newInstances: number,
    thingTables: number,
    thingChunks: number,
    visited: number,
    epoch: number,
    queue: number,
    idCategory: number,
    category: number,
    nextId: number,
    minArea: number,
    result: number,
    rows: number,
  ): number;
  clearInstances(width: number, height: number, instance: number, rows: number): number;
}

export type WasmBuild = 'release' | 'debug';

const modules = new Map<WasmBuild, Promise<WasmModule>>();

/** Compiles the kernel once per process and build; each Fusion instantiates its own copy. */
function kernelModule(build: WasmBuild): Promise<WasmModule> {
  let module = modules.get(build);
  if (module === undefined) {
    module = readFile(new URL(`../build/${build}.wasm`, import.meta.url)).then(
      (bytes) => wasm.compile(bytes),
      (error: unknown) => {
        modules.delete(build);
        throw new Error(`the fusion WebAssembly module is missing; run \`npm run build:wasm\` (${String(error)})`);
      },
    );
    modules.set(build, module);
  }
  return module;
}

const align = (offset: number, to = 16) => Math.ceil(offset / to) * to;
const MAX_IDS = 65536;
/**
 * Scratch for pasting, with room to spare: 8 bytes + 1 pass byte + 1 run byte per pixel column, 8 + 16 + 1
 * bytes per mask column (M <= 1024), a 256-byte match table, 64 bytes of run columns, and slack.
 */
const pasteScratch = (width: number) => 17 * width + 25 * 1024 + 512;

/** Byte offsets of one frame size's buffers. */
interface Layout {
  readonly pixels: number;
  readonly width: number;
  readonly semantic: number;
  readonly visited: number;
  readonly instance: number;
  readonly queue: number;
  readonly scratch: number;
  /** i32 pair per row: the span of pasted pixels (first, end). */
  readonly rows: number;
  readonly masks: number;
  readonly end: number;
}

class WasmFusion implements Fusion {
  readonly #kernel: KernelExports;
  readonly #tables: LabelTables;
  readonly #defaults: FusionOptions | undefined;
  // Fixed region at the heap base: label tables, per-id arrays, a result slot.
  readonly #thingVectors: number;
  readonly #isThing: number;
  readonly #category: number;
  readonly #thingChunks: number;
  readonly #idClass: number;
  readonly #idCategory: number;
  readonly #pasted: number;
  readonly #stats: number;
  readonly #result: number;
  readonly #framesBase: number;
  #layout: Layout | undefined;
  #epoch = 0;
  /** Whether `rows` holds the spans of the last frame's labelled pixels (the rest of `instance` is 0). */
  #spansValid = false;
  lastTimings: PhaseTimings | undefined;

  readonly #copyOutputs: boolean;

  constructor(kernel: KernelExports, tables: LabelTables, defaults: FusionOptions | undefined, copyOutputs: boolean) {
    this.#copyOutputs = copyOutputs;
    this.#kernel = kernel;
    this.#tables = tables;
    this.#defaults = defaults;
    let offset = align(kernel.heapBase());
    this.#thingVectors = offset;
    this.#isThing = offset += 256; // the kernel expects it right after the vectors
    this.#category = offset += 256;
    this.#idClass = offset += 256;
    this.#idCategory = offset += MAX_IDS;
    this.#pasted = offset = align(offset + MAX_IDS);
    this.#stats = offset += 4 * MAX_IDS;
    this.#result = offset += 20 * MAX_IDS;
    this.#framesBase = align(offset + 16);
    this.#ensureMemory(this.#framesBase);
    const bytes = this.#bytes();
    bytes.set(
      tables.isThing.map((thing) => (thing === 1 ? 0xff : 0)),
      this.#thingVectors,
    );
    bytes.set(tables.isThing, this.#isThing);
    bytes.set(tables.category, this.#category);
    let chunks = 0;
    for (let id = 0; id < 256; id++) if (tables.isThing[id] === 1) chunks |= 1 << (id >> 4);
    this.#thingChunks = chunks;
  }

  #bytes(): Uint8Array {
    // A fresh view each time: growing memory detaches the old buffer.
    return new Uint8Array(this.#kernel.memory.buffer);
  }

  #ensureMemory(bytes: number): void {
    const memory = this.#kernel.memory;
    const missing = bytes - memory.buffer.byteLength;
    if (missing > 0) memory.grow(Math.ceil(missing / 65536));
  }

  /** Lays out (or reuses) the per-frame buffers for this frame size and mask volume. */
  #layoutFor(width: number, height: number, maskFloats: number): Layout {
    const pixels = width * height;
    const current = this.#layout;
    if (current?.pixels === pixels && current.width === width && current.end - current.masks >= maskFloats * 4) {
      return current;
    }
    let offset = this.#framesBase;
    const semantic = offset; // the input classes, turned into the fused ones in place
    const visited = (offset = align(offset + pixels));
    const instance = (offset = align(offset + pixels));
    const queue = (offset = align(offset + 2 * pixels));
    const scratch = (offset = align(offset + 8 * pixels)); // i32 per pixel for searches, 8 bytes for floods
    const rows = (offset = align(offset + pasteScratch(width)));
    const masks = (offset = align(offset + 8 * height));
    // Room for at least 64 masks of 28x28 so that a growing detection count rarely moves the layout.
    const end = align(masks + 4 * Math.max(maskFloats, 64 * 28 * 28));
    this.#ensureMemory(end);
    this.#layout = { pixels, width, semantic, visited, instance, queue, scratch, rows, masks, end };
    this.#spansValid = false;
    // Visited marks of an earlier layout may lie anywhere in the new one: start the epochs afresh.
    this.#bytes().fill(0, visited, visited + pixels);
    this.#epoch = 0;
    return this.#layout;
  }

  /** The next visited-mark value; the marks are cleared only when the 8-bit epoch wraps around. */
  #nextEpoch(layout: Layout): number {
    if (this.#epoch === 255) {
      this.#bytes().fill(0, layout.visited, layout.visited + layout.pixels);
      this.#epoch = 0;
    }
    return ++this.#epoch;
  }

  fuse(input: FusionInput, options?: FusionOptions): FusionResult {
    const started = performance.now();
    validateInput(input, this.#tables);
    const o = resolveOptions(this.#defaults, options);
    const detections = selectDetections(input, o, this.#tables);
    const { width, height } = input;
    const maskFloats = detections.reduce((sum, d) => sum + d.mask.length, 0);
    const layout = this.#layoutFor(width, height, maskFloats);
    const k = this.#kernel;
    const bytes = this.#bytes();
    bytes.set(input.semantic, layout.semantic);
    if (this.#spansValid) {
      // The last frame's labelled spans: only those hold non-zero ids.
      k.clearInstances(width, height, layout.instance, layout.rows);
    } else {
      bytes.fill(0, layout.instance, layout.instance + 2 * layout.pixels);
      const spans = new Int32Array(k.memory.buffer, layout.rows, 2 * height);
      for (let y = 0; y < 2 * height; y += 2) {
        spans[y] = width;
        spans[y + 1] = 0;
      }
    }
    this.#spansValid = false; // until this frame's finishFrame has written its spans
    const floats = new Float32Array(k.memory.buffer, layout.masks, maskFloats);
    const maskOffsets: number[] = [];
    let floatOffset = 0;
    for (const detection of detections) {
      floats.set(detection.mask, floatOffset);
      maskOffsets.push(layout.masks + 4 * floatOffset);
      floatOffset += detection.mask.length;
    }
    const idCount = detections.length;
    bytes.fill(0, this.#pasted, this.#pasted + 4 * (idCount + 1));
    detections.forEach((d, i) => {
      bytes[this.#idClass + i + 1] = d.classId;
      bytes[this.#idCategory + i + 1] = this.#tables.category[d.classId]!;
    });
    const prepared = performance.now();

    const byClass = o.consistency === 'class' ? 1 : 0;
    detections.forEach((d, i) => {
      const [x1, y1, x2, y2] = d.box;
      k.pasteDetection(
        width,
        height,
        layout.semantic,
        layout.instance,
        this.#isThing,
        this.#category,
        byClass,
        i + 1,
        d.classId,
        x1,
        y1,
        x2,
        y2,
        maskOffsets[i]!,
        d.maskSize,
        o.maskThreshold,
        layout.scratch,
        layout.rows,
        this.#pasted + 4 * (i + 1),
      );
    });
    const pasted = performance.now();
    if (o.regionGrowing && idCount > 0) {
      k.growRegions(
        width,
        height,
        layout.semantic,
        layout.instance,
        this.#isThing,
        this.#category,
        this.#idCategory,
        layout.queue,
        layout.rows,
        layout.scratch,
      );
    }
    const grownAt = performance.now();
    // Detections' statistics start empty; finishFrame starts those of the new instances it labels.
    const stats = new Int32Array(k.memory.buffer, this.#stats, 5 * (idCount + 1));
    for (let id = 1; id <= idCount; id++) {
      const s = 5 * id;
      stats[s] = 0;
      stats[s + 1] = width;
      stats[s + 2] = height;
      stats[s + 3] = -1;
      stats[s + 4] = -1;
    }
    const nextId = k.finishFrame(
      width,
      height,
      layout.semantic,
      layout.instance,
      this.#idClass,
      this.#stats,
      o.newInstances ? 1 : 0,
      this.#thingVectors,
      this.#thingChunks,
      layout.visited,
      o.newInstances ? this.#nextEpoch(layout) : 0,
      layout.queue,
      this.#idCategory,
      this.#category,
      idCount + 1,
      o.minNewInstanceArea,
      this.#result,
      layout.rows,
    );
    this.#spansValid = true;
    const droppedComponents = new Int32Array(k.memory.buffer, this.#result, 1)[0]!;
    const finished = performance.now();

    const memory = k.memory.buffer; // no call below can grow memory
    const statsAll = new Int32Array(memory, this.#stats, 5 * nextId);
    const pastedArea = new Int32Array(memory, this.#pasted, nextId);
    const idClass = new Uint8Array(memory, this.#idClass, nextId);
    const segments: Segment[] = [];
    for (let id = 1; id < nextId; id++) {
      const area = statsAll[5 * id]!;
      if (area === 0) continue;
      const detected = id <= idCount;
      segments.push({
        id,
        classId: idClass[id]!,
        score: detected ? detections[id - 1]!.score : 0,
        area,
        box: [statsAll[5 * id + 1]!, statsAll[5 * id + 2]!, statsAll[5 * id + 3]!, statsAll[5 * id + 4]!],
        source: detected ? 'detected' : 'new',
        // New instances do not touch detections' pixels: what a detection has beyond its pasted pixels grew.
        grownArea: detected ? area - pastedArea[id]! : 0,
      });
    }
    const result: FusionResult = {
      width,
      height,
      semantic: this.#copyOutputs
        ? new Uint8Array(memory, layout.semantic, layout.pixels).slice()
        : new Uint8Array(memory, layout.semantic, layout.pixels),
      instance: this.#copyOutputs
        ? new Uint16Array(memory, layout.instance, layout.pixels).slice()
        : new Uint16Array(memory, layout.instance, layout.pixels),
      segments,
      droppedComponents,
    };
    const done = performance.now();
    this.lastTimings = {
      prepare: prepared - started,
      paste: pasted - prepared,
      grow: grownAt - pasted,
      finish: finished - grownAt,
      output: done - finished,
    };
    return result;
  }
}

export interface CreateFusionOptions {
  /** 'release' (default: -O3, no asserts, SIMD) or 'debug' (asserts kept). */
  readonly build?: WasmBuild;
  /**
   * 'copy' (default): the result's maps are arrays of their own. 'view': they are views into the module's
   * memory, valid only until the next `fuse` call on this Fusion (saves copying 3 bytes per pixel); they
   * must not be written: the next call clears only the spans of the instance map it labelled.
   */
  readonly outputs?: 'copy' | 'view';
}

/** A Fusion backed by its own WebAssembly instance. */
export async function createFusion(
  labelSpace: LabelSpace = cityscapesLabelSpace,
  options?: FusionOptions,
  create: CreateFusionOptions = {},
): Promise<Fusion> {
  const tables = labelTables(labelSpace);
  if (options !== undefined) resolveOptions(options); // fail at creation, not at the first frame
  const instance = await wasm.instantiate(await kernelModule(create.build ?? 'release'), {
    env: {
      abort: (_message: number, _file: number, line: number, column: number) => {
        throw new Error(`fusion kernel assertion failed at ${line}:${column}`);
      },
    },
  });
  return new WasmFusion(instance.exports as unknown as KernelExports, tables, options, create.outputs !== 'view');
}
