/**
 * Tracking speed: median and p95 ms per frame of the stream tracker (`Tracker.update`, run on the main
 * thread) on synthetic moving scenes, mask and box association, against the goals (1 ms at 512x256 and 3 ms
 * at 2048x1024, 50 segments, one core).
 *
 *   npx tsx bench/track/run.ts [--frames 200] [--json]
 */
import { parseArgs } from 'node:util';
import { machineInfo } from '../harness/machine.js';
import { measureTrackingCost, trackingGoalMs } from '../harness/tracking-cost.js';

const { values: args } = parseArgs({
  options: { json: { type: 'boolean', default: false }, frames: { type: 'string', default: '200' } },
});
const frames = Number(args.frames);
if (!Number.isInteger(frames) || frames < 1) {
  console.error(`--frames must be a whole number >= 1, got "${args.frames}"`);
  process.exit(2);
}

const results = measureTrackingCost({ frames }).map((r) => {
  const goalMs = trackingGoalMs(r.width, r.height);
  return { ...r, goalMs, met: r.msPerFrame < goalMs };
});
const machine = machineInfo();
if (args.json) {
  console.log(JSON.stringify({ machine, frames, results }, null, 2));
} else {
  console.log(`Tracking per frame on ${machine.cpu} (one core), ${frames} frames per case after 30 warm-up frames\n`);
  console.log('| map | objects | segments (mean) | coverage | association | median ms | p95 ms | goal | met |');
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const r of results) {
    console.log(
      `| ${r.width}x${r.height} | ${r.objects} | ${r.segments.toFixed(1)} | ${(100 * r.coverage).toFixed(0)}% | ` +
        `${r.association} | ${r.msPerFrame.toFixed(3)} | ${r.p95Ms.toFixed(3)} | < ${r.goalMs} ms | ${r.met ? 'yes' : 'NO'} |`,
    );
  }
}
