/**
 * fusion-wasm: the output fusion of Costea, Petrovai & Nedevschi (semantic + instance segmentation fused
 * per pixel) as a WebAssembly module, with a plain TypeScript reference implementation.
 */
export { createFusion, type CreateFusionOptions, type WasmBuild } from './wasm-fusion.js';
export { fuseReference } from './reference.js';
export { pasteMask } from './paste.js';
export { cityscapesLabelSpace } from './cityscapes.js';
export { labelTables, VOID_ID, type LabelClass, type LabelSpace, type LabelTables } from './label-space.js';
export {
  DEFAULT_FUSION_OPTIONS,
  MAX_INSTANCE_ID,
  type Detection,
  type Fusion,
  type FusionInput,
  type FusionOptions,
  type FusionResult,
  type PhaseTimings,
  type Segment,
} from './types.js';
export { generateScene, generateStressScene, type SceneOptions } from './synthetic-scenes.js';
