/** A finishing worker: owns one fusion WASM instance and finishes frames one at a time. */
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { createFusion, type Fusion, type LabelSpace } from '../../../fusion-wasm/src/index.js';
import type { FinishedFrame, FromFinisher, ToFinisher } from './finish-protocol.js';
import { detachFused, encodeFrame, finishFrame, fuseFrame } from './finish-frame.js';

if (parentPort === null) throw new Error('finish-worker.ts runs only as a worker thread');
const port: MessagePort = parentPort;

function buffersOf(result: FinishedFrame): ArrayBuffer[] {
  const buffers = new Set<ArrayBuffer>();
  for (const data of [result.semantic?.data, result.instance?.data, result.panopticPng]) {
    if (data !== undefined) buffers.add(data.buffer as ArrayBuffer); // finishFrame made them standalone
  }
  return [...buffers];
}

let fusion: Fusion;
try {
  // Views: the maps are encoded (or copied, for raw output) before the next frame reuses the memory.
  fusion = await createFusion(workerData as LabelSpace, undefined, { outputs: 'view' });
  port.postMessage({ type: 'ready' } satisfies FromFinisher);
} catch (error: unknown) {
  port.postMessage({
    type: 'init-error',
    message: error instanceof Error ? error.message : String(error),
  } satisfies FromFinisher);
  throw error;
}

port.on('message', (request: ToFinisher) => {
  try {
    if (request.type === 'finish' && request.fuseOnly) {
      const result = detachFused(fuseFrame(fusion, request));
      const transfer = [result.semantic.buffer as ArrayBuffer, result.instance.buffer as ArrayBuffer];
      port.postMessage({ type: 'fused', id: request.id, result } satisfies FromFinisher, transfer);
      return;
    }
    const result =
      request.type === 'finish'
        ? finishFrame(fusion, request)
        : encodeFrame(request.fused, request.output, request.sourceWidth, request.sourceHeight, request.tracks);
    port.postMessage({ type: 'finished', id: request.id, result } satisfies FromFinisher, buffersOf(result));
  } catch (error: unknown) {
    const message = error instanceof Error ? error.message : String(error);
    port.postMessage({ type: 'finish-error', id: request.id, message } satisfies FromFinisher);
  }
});
