/**
 * Runs two ONNX graphs of the same model contract on the same inputs in ONNX Runtime (CPU, one thread) and
 * reports whether every output agrees to the bit, and how fast each ran, measured interleaved. For graph
 * rewrites that must not change results (models/fusionseg_model/graph_rewrite.py):
 *
 *   npm run compare-graphs -- A.onnx B.onnx [--video FILE] [--frames N] [--rounds N]
 *
 * Inputs: N frames of the video (default the demo) at the graph's input size, a black frame and a noise
 * frame. Prints one JSON line; exits 1 when an output differs.
 */
import { parseArgs } from 'node:util';
import * as ort from 'onnxruntime-node';
import { median } from '../clients/src/summary.js';
import { decodeFrames } from '../bench/harness/frame-source.js';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    video: { type: 'string', default: 'models/demo/street.mp4' },
    frames: { type: 'string', default: '12' },
    rounds: { type: 'string', default: '0' },
  },
});
if (positionals.length !== 2) {
  console.error('usage: npm run compare-graphs -- A.onnx B.onnx [--video FILE] [--frames N] [--rounds N]');
  process.exit(64);
}
const options: ort.InferenceSession.SessionOptions = {
  graphOptimizationLevel: 'all',
  executionMode: 'sequential',
  intraOpNumThreads: 1,
  interOpNumThreads: 1,
  executionProviders: ['cpu'],
  logSeverityLevel: 3,
};
const sessions = await Promise.all(positionals.map((path) => ort.InferenceSession.create(path, options)));
const input = sessions[0]!.inputMetadata[0]!;
if (!input.isTensor || input.shape.length !== 4) throw new Error(`${input.name}: not an [N, 3, H, W] tensor`);
const [batch, , height, width] = input.shape.map((d): number => (typeof d === 'number' ? d : 1));

/** Interleaved RGB -> planar [batch, 3, H, W], the frame repeated over the batch. */
function planar(rgb: Uint8Array): ort.Tensor {
  const plane = width! * height!;
  const data = new Uint8Array(batch! * 3 * plane);
  for (let n = 0; n < batch!; n++) {
    for (let p = 0; p < plane; p++) {
      for (let c = 0; c < 3; c++) data[(n * 3 + c) * plane + p] = rgb[p * 3 + c]!;
    }
  }
  return new ort.Tensor('uint8', data, [batch!, 3, height!, width!]);
}

const frames = (await decodeFrames(values.video, width!, height!)).frames.slice(0, Number(values.frames));
const noise = new Uint8Array(width! * height! * 3).map((_, i) => Math.imul(i, 2654435761) >>> 24);
const feeds = [...frames, new Uint8Array(width! * height! * 3), noise].map((rgb) => ({ [input.name]: planar(rgb) }));

const bytes = (tensor: ort.Tensor) => {
  const data = tensor.data as ArrayBufferView;
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
};
const differing = new Set<string>();
let detections = 0;
for (const feed of feeds) {
  const [a, b] = await Promise.all(sessions.map((session) => session.run(feed)));
  for (const name of Object.keys(a!)) {
    const same = String(a![name]!.dims) === String(b![name]?.dims) && bytes(a![name]!).equals(bytes(b![name]!));
    if (!same) differing.add(name);
  }
  detections += a!['scores']?.dims[0] ?? 0;
}
const msPerRun: number[][] = [[], []];
for (let round = 0; round < Number(values.rounds); round++) {
  for (const [index, session] of sessions.entries()) {
    const started = performance.now();
    for (const feed of feeds.slice(0, 4)) await session.run(feed);
    msPerRun[index]!.push((performance.now() - started) / 4);
  }
}
const timing =
  Number(values.rounds) > 0
    ? { msA: median(msPerRun[0]!), msB: median(msPerRun[1]!), ratio: median(msPerRun[1]!) / median(msPerRun[0]!) }
    : {};
console.log(JSON.stringify({ inputs: feeds.length, detections, differing: [...differing], ...timing }));
await Promise.all(sessions.map((session) => session.release()));
process.exit(differing.size === 0 ? 0 : 1);
