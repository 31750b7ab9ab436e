/** Messages between the engine (main thread) and a session worker. */
import type { InferenceSession } from 'onnxruntime-node';
import type { GraphManifest, ValueInfo } from './model.js';
import type { FrameOutputs } from './postprocess.js';

export interface WorkerInit {
  readonly graphs: readonly GraphManifest[];
  readonly sessionOptions: InferenceSession.SessionOptions;
}

export interface ToWorker {
  readonly type: 'run';
  readonly id: number;
  /** RGB24 frames (H*W*3, row-major) at the model's input size; transferred, not copied. */
  readonly frames: readonly Uint8Array[];
  /** The graph's fixed batch size, or undefined when dynamic: partial batches are padded to it. */
  readonly fixedBatch: number | undefined;
}

export type FromWorker =
  | { readonly type: 'ready'; readonly graphs: readonly { inputs: ValueInfo[]; outputs: ValueInfo[] }[] }
  | { readonly type: 'init-error'; readonly message: string }
  | { readonly type: 'result'; readonly id: number; readonly frames: FrameOutputs[]; readonly inferenceMs: number }
  | { readonly type: 'run-error'; readonly id: number; readonly message: string };
