/**
 * One ONNX Runtime session per worker thread: `run()` is synchronous native work that blocks the thread it
 * runs in, so it must not run on the main thread. The worker packs frames into the NCHW batch tensor,
 * runs every graph of the model, and splits the outputs per frame.
 */
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';
import { splitBatch, type FrameOutputs, type RawTensor } from './postprocess.js';
import type { FromWorker, ToWorker, WorkerInit } from './worker-protocol.js';

if (parentPort === null) throw new Error('session-worker.ts runs only as a worker thread');
const port: MessagePort = parentPort;
const init = workerData as WorkerInit;
const post = (message: FromWorker, transfer: ArrayBuffer[] = []) => port.postMessage(message, transfer);

/** Interleaved RGB frames -> planar uint8 [N, 3, H, W]; padding images stay black. */
function packBatch(frames: readonly Uint8Array[], batch: number, width: number, height: number): Uint8Array {
  const plane = width * height;
  const tensor = new Uint8Array(batch * 3 * plane);
  frames.forEach((frame, n) => {
    const r = n * 3 * plane;
    const g = r + plane;
    const b = g + plane;
    for (let p = 0, q = 0; p < plane; p++, q += 3) {
      tensor[r + p] = frame[q]!;
      tensor[g + p] = frame[q + 1]!;
      tensor[b + p] = frame[q + 2]!;
    }
  });
  return tensor;
}

function transferables(frames: readonly FrameOutputs[]): ArrayBuffer[] {
  const buffers: ArrayBuffer[] = [];
  for (const frame of frames) {
    buffers.push(frame.semantic.buffer as ArrayBuffer);
    for (const detection of frame.detections) buffers.push(detection.mask.buffer as ArrayBuffer);
  }
  return buffers;
}

async function main(): Promise<void> {
  let sessions: ort.InferenceSession[];
  try {
    sessions = await Promise.all(
      init.graphs.map((graph) => ort.InferenceSession.create(graph.onnxPath, init.sessionOptions)),
    );
  } catch (error: unknown) {
    post({ type: 'init-error', message: error instanceof Error ? error.message : String(error) });
    return;
  }
  const describe = (values: readonly ort.InferenceSession.ValueMetadata[]) =>
    values.map((value) =>
      value.isTensor
        ? { name: value.name, type: value.type, shape: [...value.shape] }
        : { name: value.name, type: 'non-tensor', shape: [] },
    );
  post({
    type: 'ready',
    graphs: sessions.map((session) => ({
      inputs: describe(session.inputMetadata),
      outputs: describe(session.outputMetadata),
    })),
  });

  port.on('message', (message: ToWorker) => void runBatch(sessions, message));
}

async function runBatch(sessions: ort.InferenceSession[], message: ToWorker): Promise<void> {
  const { id, frames, fixedBatch } = message;
  try {
    const { width, height } = init.graphs[0]!.input;
    const batch = fixedBatch ?? frames.length;
    const images = packBatch(frames, batch, width, height);
    const started = performance.now();
    const outputs: Map<string, RawTensor>[] = [];
    for (const [index, session] of sessions.entries()) {
      const graph = init.graphs[index]!;
      const feeds = { [graph.input.name]: new ort.Tensor('uint8', images, [batch, 3, height, width]) };
      const result = await session.run(feeds);
      outputs.push(
        new Map(
          Object.entries(result).map(([name, tensor]) => [
            name,
            { type: tensor.type, dims: tensor.dims, data: tensor.data as RawTensor['data'] },
          ]),
        ),
      );
    }
    const inferenceMs = performance.now() - started;
    const split = splitBatch(init.graphs, outputs, frames.length);
    post({ type: 'result', id, frames: split, inferenceMs }, transferables(split));
  } catch (error: unknown) {
    post({ type: 'run-error', id, message: error instanceof Error ? error.message : String(error) });
  }
}

void main();
