/**
 * Fusion alone: ms per frame of the WASM module (as the server's fusion workers run it) and of the TypeScript
 * reference, on the network's real outputs for the benchmark's frames.
 */
import { median } from '../../clients/src/summary.js';
import { createFusion, fuseReference, type FusionInput, type LabelSpace } from '../../fusion-wasm/src/index.js';
import type { Engine } from '../../server/src/engine/engine.js';
import type { FrameSet } from './frame-source.js';

export interface FusionFigures {
  readonly wasmMs: number;
  readonly referenceMs: number;
  readonly meanDetections: number;
  readonly width: number;
  readonly height: number;
}

/** Runs `frames` frames through the model once, to fuse their outputs again and again. */
export async function networkOutputs(engine: Engine, source: FrameSet, frames = 8): Promise<FusionInput[]> {
  const picked = Array.from({ length: Math.min(frames, source.frames.length) }, (_, i) =>
    Math.floor((i * source.frames.length) / Math.min(frames, source.frames.length)),
  );
  const inferences = await Promise.all(picked.map((i) => engine.infer(source.frames[i]!.slice())));
  return inferences.map(({ outputs }) => outputs);
}

export async function measureFusion(
  inputs: readonly FusionInput[],
  labelSpace: LabelSpace,
  seconds: number,
): Promise<FusionFigures> {
  const fusion = await createFusion(labelSpace, undefined, { outputs: 'view' });
  const wasm: number[] = [];
  const reference: number[] = [];
  const deadline = performance.now() + seconds * 1000;
  // Interleaved so that the machine's noise hits both alike; at least two passes.
  for (let pass = 0; pass < 2 || performance.now() < deadline; pass++) {
    for (const input of inputs) {
      let started = performance.now();
      fusion.fuse(input);
      wasm.push(performance.now() - started);
      started = performance.now();
      fuseReference(input, undefined, labelSpace);
      reference.push(performance.now() - started);
    }
  }
  const first = inputs[0]!;
  return {
    wasmMs: median(wasm),
    referenceMs: median(reference),
    meanDetections: inputs.reduce((sum, input) => sum + input.detections.length, 0) / inputs.length,
    width: first.width,
    height: first.height,
  };
}
