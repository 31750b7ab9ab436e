import test from 'ava';
import { fileURLToPath } from 'node:url';
import { createFusion } from '../../fusion-wasm/src/index.js';
import { DEFAULT_MODEL_DIR } from '../../server/src/config.js';
import { Engine } from '../../server/src/engine/engine.js';
import { VideoDecoder } from '../../server/src/video/decoder.js';

const demoVideo = fileURLToPath(new URL('../../models/demo/street.mp4', import.meta.url));

test('the shipped default model runs on a demo frame and honours the model contract', async (t) => {
  const engine = await Engine.start({ modelDir: DEFAULT_MODEL_DIR, devices: 'cpu' });
  t.teardown(() => engine.close());
  const { width, height } = engine.model.input;
  t.deepEqual({ width, height }, { width: 512, height: 256 });
  t.is(engine.model.kind, 'unified');

  const decoder = new VideoDecoder({
    input: { kind: 'file', path: demoVideo },
    width,
    height,
    startTime: 2,
    maxFrames: 1,
  });
  const frames: Uint8Array[] = [];
  for await (const frame of decoder.frames()) frames.push(frame);
  t.is(frames.length, 1);

  const { outputs } = await engine.infer(frames[0]!);
  t.is(outputs.semantic.length, width * height);
  const labels = new Set(outputs.semantic);
  t.true(
    [...labels].every((label) => label < 19),
    'semantic labels are Cityscapes train ids',
  );
  t.true(labels.has(0) && labels.has(10), 'a street scene: road and sky are found');
  t.true(labels.size >= 4, `${labels.size} classes in the semantic map`);
  for (const detection of outputs.detections) {
    t.true(detection.classId >= 11 && detection.classId <= 18, 'detections map to thing classes');
    t.is(detection.maskSize, 28);
    t.is(detection.mask.length, 28 * 28);
    t.true(
      detection.mask.every((p) => p >= 0 && p <= 1),
      'mask probabilities',
    );
    t.true(
      detection.box.every(Number.isFinite) &&
        detection.box[2] > detection.box[0] &&
        detection.box[3] > detection.box[1],
    );
  }
  t.true(
    outputs.detections.some((d) => d.score >= 0.5),
    'at least one confident detection on a street with traffic',
  );

  const fusion = await createFusion();
  const fused = fusion.fuse({ width, height, semantic: outputs.semantic, detections: outputs.detections });
  t.true(fused.segments.length > 0, 'fusion finds instances');
});
