/**
 * Whole-service throughput, a first cut (the full harness is `npm run bench`, to come): a server on
 * 127.0.0.1 with a generated 256x512 graph, N concurrent StreamFrames clients sending raw frames at the
 * model's size; frames/s and latency percentiles per concurrency, measured in one run.
 *
 *   npm run bench:service [-- --frames 200] [--streams 1,4] [--model models/default]
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { FusionsegClient, type ClientFrame } from '../clients/src/client.js';
import { percentile } from '../clients/src/summary.js';
import { startService } from '../server/src/service.js';
import { writeTestModel } from '../test/helpers/onnx-models.js';

const { values: args } = parseArgs({
  options: {
    frames: { type: 'string', default: '200' },
    streams: { type: 'string', default: '1,4' },
    model: { type: 'string' },
  },
});
const framesPerStream = Number(args.frames);
const concurrencies = args.streams.split(',').map(Number);
const WIDTH = 512;
const HEIGHT = 256;

const scratch = await mkdtemp(join(tmpdir(), 'fusionseg-bench-'));
// --model: a model folder at 512x256 (e.g. models/default); otherwise a generated graph of that size.
const modelDir =
  args.model ?? (await writeTestModel(join(scratch, 'model'), { width: WIDTH, height: HEIGHT, heavyChannels: 16 }));
const service = await startService({ modelDir, address: '127.0.0.1:0' });
const client = new FusionsegClient(`127.0.0.1:${service.port}`);
// A street-like frame: sky, buildings, road and a car, so fusion has real work.
const rgb24 = new Uint8Array(WIDTH * HEIGHT * 3);
for (let y = 0; y < HEIGHT; y++) {
  for (let x = 0; x < WIDTH; x++) {
    const red = y < 60 ? 16 * 10 : y < 140 ? 16 * 2 : x > 200 && x < 320 && y < 220 ? 16 * 13 : 0;
    rgb24.set([red, 200, 200], (y * WIDTH + x) * 3);
  }
}

async function runStream(count: number, latencies: number[]): Promise<void> {
  const sentAt = new Map<number, number>();
  function* frames(): Generator<ClientFrame> {
    for (let i = 0; i < count; i++) {
      sentAt.set(i, performance.now());
      yield { frameId: i, raw: { width: WIDTH, height: HEIGHT, rgb24 } };
    }
  }
  for await (const { result } of client.streamFrames(frames())) {
    latencies.push(performance.now() - sentAt.get(result.frameId)!);
  }
}

console.log(
  `Service throughput on ${cpus()[0]?.model} (${cpus().length} cores), ${args.model ?? `generated ${WIDTH}x${HEIGHT} graph`}, raw frames\n`,
);
console.log('| streams | frames | frames/s | p50 ms | p95 ms | p99 ms |');
console.log('| --- | --- | --- | --- | --- | --- |');
try {
  await runStream(20, []); // warm-up
  for (const streams of concurrencies) {
    const latencies: number[] = [];
    const started = performance.now();
    await Promise.all(Array.from({ length: streams }, () => runStream(framesPerStream, latencies)));
    const seconds = (performance.now() - started) / 1000;
    latencies.sort((a, b) => a - b);
    console.log(
      `| ${streams} | ${streams * framesPerStream} | ${((streams * framesPerStream) / seconds).toFixed(1)} | ` +
        `${percentile(latencies, 50).toFixed(1)} | ${percentile(latencies, 95).toFixed(1)} | ${percentile(latencies, 99).toFixed(1)} |`,
    );
  }
} finally {
  client.close();
  await service.stop();
  await rm(scratch, { recursive: true, force: true });
}
