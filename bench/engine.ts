/**
 * Engine throughput: frames/s for 1 vs 2 sessions and batch sizes 1, 2, 4, measured side by side in one
 * run (all engines start first, then short bursts rotate between them for several rounds; the median
 * burst counts), so that the machine's noise hits every configuration alike.
 *
 *   npm run bench:engine [-- --model DIR] [--rounds 5] [--burst-ms 1500] [--json]
 *
 * Without --model it uses the shipped default model when present, else a generated convolutional graph
 * with the model contract's inputs and outputs at 256x512.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { median } from '../clients/src/summary.js';
import { machineInfo } from './harness/machine.js';
import { Engine } from '../server/src/engine/engine.js';
import { writeTestModel } from '../test/helpers/onnx-models.js';

const { values: args } = parseArgs({
  options: {
    model: { type: 'string' },
    rounds: { type: 'string', default: '5' },
    'burst-ms': { type: 'string', default: '1500' },
    json: { type: 'boolean', default: false },
  },
});
const rounds = Number(args.rounds);
const burstMs = Number(args['burst-ms']);
const machine = machineInfo();
const cores = machine.cores;

interface Config {
  readonly label: string;
  readonly devices: string;
  readonly sessions: number;
  readonly maxBatch: number;
}

const configs: Config[] = [];
for (const sessions of [1, 2]) {
  for (const maxBatch of [1, 2, 4]) {
    // One session gets every core; two sessions split them (the CPU stand-in for one session per GPU).
    const devices = sessions === 1 ? `cpu:${cores}` : 'cpu,cpu';
    configs.push({
      label: `${sessions} session${sessions > 1 ? 's' : ''}, maxBatch ${maxBatch}`,
      devices,
      sessions,
      maxBatch,
    });
  }
}

async function modelDir(): Promise<{ dir: string; description: string; cleanup: () => Promise<void> }> {
  const shipped = fileURLToPath(new URL('../models/default', import.meta.url));
  if (args.model !== undefined) return { dir: args.model, description: args.model, cleanup: async () => {} };
  if (existsSync(join(shipped, 'model.json')))
    return { dir: shipped, description: 'models/default', cleanup: async () => {} };
  const scratch = await mkdtemp(join(tmpdir(), 'fusionseg-bench-'));
  const dir = await writeTestModel(join(scratch, 'model'), { width: 512, height: 256, heavyChannels: 16 });
  return {
    dir,
    description: 'generated graph (256x512, one 5x5 conv to 16 channels + contract outputs)',
    cleanup: () => rm(scratch, { recursive: true, force: true }),
  };
}

/** Keeps enough frames in flight to saturate the engine for `durationMs`; returns frames/s. */
async function burst(engine: Engine, durationMs: number, inFlight: number): Promise<number> {
  const { width, height } = engine.model.input;
  const template = new Uint8Array(width * height * 3).map((_, i) => (i * 37) % 251);
  let done = 0;
  const started = performance.now();
  const deadline = started + durationMs;
  const worker = async () => {
    while (performance.now() < deadline) {
      await engine.infer(template.slice()); // slice: the engine takes ownership of the buffer
      done++;
    }
  };
  await Promise.all(Array.from({ length: inFlight }, worker));
  return (done * 1000) / (performance.now() - started);
}

const model = await modelDir();
const engines: Engine[] = [];
try {
  for (const config of configs) {
    engines.push(
      await Engine.start({
        modelDir: model.dir,
        devices: config.devices,
        batching: { maxBatch: config.maxBatch, maxDelayMs: 2, maxQueue: 256 },
      }),
    );
  }
  const samples: number[][] = configs.map(() => []);
  for (let round = 0; round <= rounds; round++) {
    for (const [i, engine] of engines.entries()) {
      const config = configs[i]!;
      const inFlight = 2 * config.maxBatch * config.sessions;
      const fps = await burst(engine, round === 0 ? 300 : burstMs, inFlight); // round 0 warms up
      if (round > 0) samples[i]!.push(fps);
    }
  }
  const results = configs.map((config, i) => ({ ...config, fps: median(samples[i]!), samples: samples[i]! }));
  const baseline = results[0]!.fps;
  if (args.json) {
    console.log(JSON.stringify({ machine, model: model.description, rounds, burstMs, results }, null, 2));
  } else {
    console.log(`Engine throughput on ${machine.cpu} (${cores} cores), model: ${model.description}`);
    console.log(`median of ${rounds} interleaved bursts of ${burstMs} ms per configuration\n`);
    console.log('| sessions | devices | maxBatch | frames/s | vs 1 session, batch 1 |');
    console.log('| --- | --- | --- | --- | --- |');
    for (const result of results) {
      console.log(
        `| ${result.sessions} | ${result.devices} | ${result.maxBatch} | ${result.fps.toFixed(1)} | ${(result.fps / baseline).toFixed(2)}x |`,
      );
    }
  }
} finally {
  await Promise.all(engines.map((engine) => engine.close()));
  await model.cleanup();
}
