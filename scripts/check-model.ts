/**
 * Loads a model folder through the server's engine (manifest and graph checked against the contract),
 * runs one frame, and prints what came out as JSON: `npm run check-model -- DIR`.
 */
import { Engine } from '../server/src/engine/engine.js';

const dir = process.argv[2];
if (dir === undefined) {
  console.error('usage: npm run check-model -- MODEL_DIR');
  process.exit(64);
}
const engine = await Engine.start({ modelDir: dir, devices: 'cpu' });
try {
  const { width, height } = engine.model.input;
  const frame = new Uint8Array(width * height * 3).map((_, i) => (i * 31) % 251);
  const { outputs, timings } = await engine.infer(frame);
  const labels = new Set(outputs.semantic);
  console.log(
    JSON.stringify({
      name: engine.model.name,
      kind: engine.model.kind,
      input: engine.model.input,
      semanticPixels: outputs.semantic.length,
      semanticLabels: [...labels].sort((a, b) => a - b),
      detections: outputs.detections.length,
      maskSize: outputs.detections[0]?.maskSize ?? null,
      inferenceMs: timings.inferenceMs,
    }),
  );
} finally {
  await engine.close();
}
