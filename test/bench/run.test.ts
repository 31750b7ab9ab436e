import test from 'ava';
import { execFile } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { BenchResults } from '../../bench/harness/results.js';
import { tempDir } from '../helpers/clips.js';

const execFileAsync = promisify(execFile);

// A smoke run of the real harness (servers, clients, ffmpeg, engines): it checks the report's structure, not speed.
test.serial('npm run bench -- --quick writes JSON, Markdown and an SVG chart with every sweep and bound', async (t) => {
  t.timeout(240_000);
  const out = await tempDir(t);
  const { stdout } = await execFileAsync('npm', ['run', '--silent', 'bench', '--', '--quick', '--out', out], {
    timeout: 230_000,
    killSignal: 'SIGKILL',
    maxBuffer: 16 * 1024 * 1024,
  });
  const files = (await readdir(out)).sort();
  t.is(files.length, 3);
  const stem = files[0]!.replace(/\.json$/, '');
  t.deepEqual(files, [`${stem}.json`, `${stem}.md`, `${stem}.svg`]);
  t.regex(stem, /^\d{4}-\d{2}-\d{2}-.+-quick$/);

  const results = JSON.parse(await readFile(join(out, `${stem}.json`), 'utf8')) as BenchResults;
  t.is(results.format, 'fusionseg-bench/1');
  t.true(results.quick);
  t.true(results.machine.cores >= 1 && results.machine.cpu.length > 0);
  const sweep = results.runs.filter((run) => run.sweep === 'streams');
  t.deepEqual(
    sweep.map((run) => [run.mode, run.streams]),
    [
      ['frames', 1],
      ['frames', 4],
      ['video', 1],
      ['video', 4],
    ],
  );
  for (const run of results.runs) {
    t.true(run.fps > 0 && run.frames > 0, `${run.mode} ${run.streams} answered frames`);
    t.true(run.stagesMs.inference > 0);
    t.true(run.efficiency !== null && run.efficiency > 0);
    if (run.mode === 'frames') t.true(run.latencyMs!.p50 > 0 && run.latencyMs!.p99 >= run.latencyMs!.p50);
    else t.true(run.firstResultMs!.p50 > 0);
  }
  const off = results.runs.find((run) => run.sweep === 'fusionOff');
  t.is(off?.fusion, false);
  t.is(off?.stagesMs.fusion !== undefined && off.stagesMs.fusion < sweep[1]!.stagesMs.fusion, true);
  // Tracking on vs off, side by side: the tracked run spends time in the track stage, the untracked none.
  const tracked = results.runs.find((run) => run.sweep === 'trackingOn');
  t.is(tracked?.tracking, true);
  t.false(sweep[1]!.tracking);
  t.true(tracked!.stagesMs.track > 0);
  t.is(sweep[1]!.stagesMs.track, 0);
  t.true(sweep.filter((run) => run.mode === 'video').every((run) => run.tracking && run.stagesMs.track > 0));
  t.not(results.summary.trackingThroughputLoss, null);
  t.true(results.summary.trackMsAtSaturation! > 0);
  t.deepEqual(
    results.bounds.tracking.filter((cost) => cost.association === 'mask').map((cost) => [cost.width, cost.height]),
    [
      [512, 256],
      [512, 256],
      [2048, 1024],
    ],
  );
  t.true(results.bounds.tracking.every((cost) => cost.msPerFrame > 0));
  // The PyTorch peer (CI installs torch, torchvision and onnx), measured in the same rounds.
  t.true(results.bounds.peer!.fps > 0 && results.bounds.peer!.latencyMs.p95 >= results.bounds.peer!.latencyMs.p50);
  t.true(results.summary.peerRatio! > 0);
  t.true(results.bounds.modelAlone.length === 1 && results.bounds.modelAlone[0]!.fps > 0);
  t.true(results.bounds.decodeFps > 0);
  t.true(results.bounds.fusion!.wasmMs > 0 && results.bounds.fusion!.referenceMs > 0);
  t.deepEqual(
    results.bounds.transport.map((bound) => bound.streams),
    [1, 4],
  );
  t.true(results.summary.efficiencyAtSaturation! > 0);
  t.true(results.summary.fusionShareAtSaturation! > 0 && results.summary.fusionShareAtSaturation! < 1);
  t.not(results.summary.largestLoss, null);

  // Overload: slowed, never killed; every frame answered.
  t.is(results.overload?.streams, 4);
  t.is(results.overload?.killed, 0);
  t.is(results.overload?.answered, results.overload?.sent);
  t.true(results.overload!.totalFps > 0);
  // Replicas are not part of the quick default: they are their own test, below.
  t.is(results.replicas, null);

  const markdown = await readFile(join(out, `${stem}.md`), 'utf8');
  t.is(stdout.trim(), markdown.trim());
  for (const heading of [
    '## Summary',
    '## Bounds, measured in the same run',
    '## Concurrent streams',
    '## Fusion on and off',
    '## Tracking on and off',
    '## Overload',
  ]) {
    t.true(markdown.includes(heading), heading);
  }
  t.true(markdown.includes(results.machine.cpu));
  const svg = await readFile(join(out, `${stem}.svg`), 'utf8');
  t.regex(svg, /^<svg[^>]+xmlns="http:\/\/www.w3.org\/2000\/svg"/);
  t.true(svg.includes('concurrent streams') && svg.includes('model alone'));
});

// Two replicas on 127.0.0.1 behind one round_robin client, in a small configuration: the figures come from each
// replica's own metrics, and they must add up to what the client received.
test.serial(
  'npm run bench -- --replicas 2 reports the streams and frames each replica served, and totals that add up',
  async (t) => {
    t.timeout(240_000);
    const out = await tempDir(t);
    const args = ['--quick', '--replicas', '2', '--streams', '2', '--modes', 'frames', '--frames', '12'];
    const { stdout } = await execFileAsync(
      'npm',
      ['run', '--silent', 'bench', '--', ...args, '--overload-streams', '0', '--out', out],
      { timeout: 230_000, killSignal: 'SIGKILL', maxBuffer: 16 * 1024 * 1024 },
    );
    const [json] = (await readdir(out)).filter((file) => file.endsWith('.json'));
    const results = JSON.parse(await readFile(join(out, json!), 'utf8')) as BenchResults;
    const replicas = results.replicas!;
    t.is(replicas.replicas, 2);
    t.is(replicas.streams, 2);
    t.is(replicas.rounds, 1);
    t.is(replicas.perReplica.length, 2);
    t.is(new Set(replicas.perReplica.map((replica) => replica.address)).size, 2);
    for (const replica of replicas.perReplica) {
      t.regex(replica.address, /^127\.0\.0\.1:\d+$/);
      t.true(replica.streams >= 1, `${replica.address} served a stream`);
      t.true(replica.frames > 0 && replica.fps > 0, `${replica.address} answered frames`);
    }
    const sum = (key: 'streams' | 'frames' | 'fps' | 'share') =>
      replicas.perReplica.reduce((total, replica) => total + replica[key], 0);
    t.is(sum('streams'), replicas.total.streams);
    t.is(replicas.total.streams, replicas.streams * replicas.rounds);
    t.is(sum('frames'), replicas.total.frames);
    // Every result the client received was counted by exactly one replica.
    t.is(replicas.total.frames, replicas.clientAnswered);
    t.true(Math.abs(sum('fps') - replicas.total.fps) < 1e-9);
    t.true(Math.abs(sum('share') - 1) < 1e-9);
    t.is(replicas.streamSpread, 0);
    t.true(replicas.clientFps > 0 && replicas.oneServiceFps! > 0);
    const run = results.runs.find((r) => r.sweep === 'replicas');
    t.true(run !== undefined && run.fps > 0 && run.streams === 2);
    t.regex(run!.devices, /^2 x /);
    t.is(run!.efficiency, null);

    const section = stdout.slice(stdout.indexOf('## Replicas'));
    t.true(stdout.includes('## Replicas'));
    for (const replica of replicas.perReplica) t.true(section.includes(`| ${replica.address} |`));
    if (!results.machine.cudaProvider) t.true(section.includes('this shows distribution, not speed-up'));
  },
);

test('bad options exit 64 with a message naming the option', async (t) => {
  const cases: [args: string[], message: RegExp][] = [
    [['--streams', '0,x'], /--streams must be a comma-separated list/],
    [['--replicas', '9'], /--replicas must be an integer from 0 to 8/],
    [['--replicas', '1'], /--replicas must be 0 \(none\) or 2 to 8/],
    [['--replicas', '2', '--server', '127.0.0.1:50051'], /--replicas .* cannot be used with --server/],
    [['--replicas', '4', '--streams', '1,2'], /--replicas 4 needs at least as many streams/],
  ];
  for (const [args, message] of cases) {
    const error = await t.throwsAsync<Error & { code: number; stderr: string }>(
      execFileAsync('npm', ['run', '--silent', 'bench', '--', ...args]),
    );
    t.is(error?.code, 64, args.join(' '));
    t.regex(error?.stderr ?? '', message);
  }
});
