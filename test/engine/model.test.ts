import test, { type ExecutionContext } from 'ava';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Engine } from '../../server/src/engine/engine.js';
import { loadManifest, ModelContractError } from '../../server/src/engine/model.js';
import { tempDir } from '../helpers/clips.js';
import { unifiedTestManifest, writeTestModel } from '../helpers/onnx-models.js';

async function manifestError(t: ExecutionContext, overrides: Record<string, unknown>) {
  const dir = await writeTestModel(join(await tempDir(t), 'model'), {}, overrides);
  return t.throwsAsync(loadManifest(dir), { instanceOf: ModelContractError });
}

test('a valid manifest loads with its label space and class map', async (t) => {
  const dir = await writeTestModel(join(await tempDir(t), 'model'));
  const manifest = await loadManifest(dir);
  t.is(manifest.kind, 'unified');
  t.deepEqual(manifest.input, { name: 'images', width: 64, height: 32 });
  t.is(manifest.labelSpace.classCount, 19);
  t.is(manifest.graphs[0]?.classMap.get(3), 13);
});

test('manifest errors name the key', async (t) => {
  t.regex((await manifestError(t, { format: 'v0' })).message, /"format" must be "fusionseg-model\/1"/);
  t.regex((await manifestError(t, { kind: 'magic' })).message, /"kind" must be/);
  t.regex((await manifestError(t, { maskSize: 0 })).message, /"maskSize" must be a positive integer/);
  t.regex((await manifestError(t, { input: { name: 'images', width: 64 } })).message, /"input.height"/);
  t.regex((await manifestError(t, { classMap: { '1': 0 } })).message, /"classMap.1" must be a thing class/);
  const outputs = { ...(unifiedTestManifest().outputs as object), semantic: { name: 'semantic', type: 'probs' } };
  t.regex((await manifestError(t, { outputs })).message, /"outputs.semantic.type"/);
});

test('a missing or broken manifest is a clear error', async (t) => {
  const dir = await tempDir(t);
  await t.throwsAsync(loadManifest(dir), { instanceOf: ModelContractError, message: /cannot read the model manifest/ });
  await mkdir(join(dir, 'bad'));
  await writeFile(join(dir, 'bad', 'model.json'), '{ not json');
  await t.throwsAsync(loadManifest(join(dir, 'bad')), { message: /is not valid JSON/ });
});

async function graphError(t: ExecutionContext, overrides: Record<string, unknown>, options = {}) {
  const dir = await writeTestModel(join(await tempDir(t), 'model'), options, overrides);
  return t.throwsAsync(Engine.start({ modelDir: dir, devices: 'cpu:1' }), { instanceOf: ModelContractError });
}

test('graph mismatches name the output and both shapes', async (t) => {
  const masks = await graphError(t, { maskSize: 14 });
  t.regex(
    masks.message,
    /output "masks" \(masks\) must be float32 \[K, 14, 14\], but the graph has float32 \[K, 8, 8\]/,
  );
  const input = await graphError(t, { input: { name: 'images', width: 128, height: 32 } });
  t.regex(input.message, /input "images" must be uint8 \[N, 3, 32, 128\], but the graph has uint8 \[N, 3, 32, 64\]/);
  const outputs = { ...(unifiedTestManifest().outputs as object), boxes: 'detections' };
  t.regex((await graphError(t, { outputs })).message, /no output named "detections" for boxes/);
  const logits = { ...(unifiedTestManifest().outputs as object), semantic: { name: 'semantic', type: 'logits' } };
  t.regex(
    (await graphError(t, { outputs: logits })).message,
    /output "semantic" \(semantic logits\) must be float32 \[N, 19, H', W'\], but the graph has uint8 \[N, 32, 64\]/,
  );
});

test('a batched graph without a batch index output is refused', async (t) => {
  const error = await graphError(t, {}, { withoutBatchIndex: true });
  t.regex(error.message, /must name a batch index output in outputs.batchIndex/);
});

test('a pair model joins a semantic and an instance model', async (t) => {
  const dir = await tempDir(t);
  const base = unifiedTestManifest();
  const outputs = base.outputs as Record<string, unknown>;
  await writeTestModel(join(dir, 'semantic'), {}, { kind: 'semantic', outputs: { semantic: outputs['semantic'] } });
  const { semantic: _semantic, ...detections } = outputs;
  await writeTestModel(join(dir, 'instance'), {}, { kind: 'instance', outputs: detections });
  await writeFile(
    join(dir, 'model.json'),
    JSON.stringify({
      format: 'fusionseg-model/1',
      name: 'pair',
      kind: 'pair',
      semantic: 'semantic',
      instance: 'instance',
    }),
  );
  const manifest = await loadManifest(dir);
  t.is(manifest.kind, 'pair');
  t.deepEqual(
    manifest.graphs.map((graph) => graph.kind),
    ['semantic', 'instance'],
  );
  const engine = await Engine.start({ modelDir: dir, devices: 'cpu:1' });
  t.teardown(() => engine.close());
  const frame = new Uint8Array(64 * 32 * 3).fill(16 * 5);
  const { outputs: result } = await engine.infer(frame);
  t.true(result.semantic.every((label) => label === 5));
  t.is(result.detections.length, 1);
  t.is(result.detections[0]?.classId, 13);
});

const inlineSpace = {
  name: 'warehouse',
  categories: ['floor', 'goods'],
  classes: [
    { id: 0, name: 'ground', category: 'floor', isThing: false, color: [10, 10, 10] },
    { id: 1, name: 'box', category: 'goods', isThing: true, color: [200, 100, 0] },
    { id: 2, name: 'crate', category: 'goods', isThing: true, color: [100, 200, 0] },
  ],
};

test('an inline label space is validated and carried through to the model', async (t) => {
  const dir = await writeTestModel(
    join(await tempDir(t), 'model'),
    {},
    { labelSpace: inlineSpace, classMap: { '3': 2 } },
  );
  const manifest = await loadManifest(dir);
  t.is(manifest.labelSpace.name, 'warehouse');
  t.is(manifest.labelSpace.classCount, 3);
  t.deepEqual([...manifest.labelSpace.thingIds], [1, 2]);
  t.is(manifest.labelSpace.definition.classes[2]?.name, 'crate');
  const bad = { ...inlineSpace, classes: [{ ...inlineSpace.classes[0], category: 'sky' }] };
  t.regex(
    (await manifestError(t, { labelSpace: bad })).message,
    /"labelSpace" classes\[0\].category "sky" is not one of labelSpace.categories/,
  );
  t.regex(
    (await manifestError(t, { labelSpace: inlineSpace, classMap: { '3': 0 } })).message,
    /"classMap.3" must be a thing class/,
  );
});
