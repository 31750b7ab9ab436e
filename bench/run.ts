/**
 * The benchmark harness: frames/s, latency percentiles, per-stage time and fusion overhead through the whole
 * service, side by side (interleaved rounds) with the bounds that matter: the model alone, decoding alone,
 * fusion alone and transport alone. Writes JSON, Markdown and an SVG chart to bench/results/.
 *
 *   npm run bench [-- --quick] [--server ADDR] [--model DIR] [--video FILE] ...   (--help for all)
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { pino } from 'pino';
import { basename, join, relative } from 'node:path';
import { FusionsegClient } from '../clients/src/client.js';
import { median } from '../clients/src/summary.js';
import { loadManifest } from '../server/src/engine/model.js';
import { startService, type RunningService } from '../server/src/service.js';
import { renderChart } from './harness/chart.js';
import { decodeFrames, measureDecode, type FrameSet } from './harness/frame-source.js';
import { measureFusion, networkOutputs, type FusionFigures } from './harness/fusion-bound.js';
import { devicesFor, machineInfo, replicaDevicesFor } from './harness/machine.js';
import { measureModelAlone } from './harness/model-bound.js';
import { parseBenchOptions, USAGE, type BenchOptions } from './harness/options.js';
import { renderMarkdown } from './harness/report.js';
import {
  driveReplicas,
  startReplicas,
  warmReplicas,
  type ReplicaRound,
  type ReplicaSet,
} from './harness/replica-load.js';
import type { BenchResults, ModelAlone, ReplicaFigures, ServiceRun, Sweep } from './harness/results.js';
import { LoadSample, latencyFigures } from './harness/sample.js';
import { driveStreams } from './harness/stream-load.js';
import { startEcho } from './harness/transport-bound.js';
import { driveVideos } from './harness/video-load.js';
import { driveOverload, type OverloadFigures } from './harness/overload-load.js';
import { measureTrackingCost, type TrackingCost } from './harness/tracking-cost.js';
import { measurePeerLoop, peerLoopAvailable, type PeerBound } from './peers/peer-bound.js';

if (process.argv.includes('--help')) {
  console.log(USAGE);
  process.exit(0);
}
let options: BenchOptions;
try {
  options = parseBenchOptions(process.argv.slice(2));
} catch (error: unknown) {
  console.error(`${(error as Error).message}\n\n${USAGE}`);
  process.exit(64);
}

const log = (line: string) => process.stderr.write(`${line}\n`);
// The servers' own logs: errors only, on stderr (stdout carries the report; cancelled calls are expected).
const quietLog = pino({ level: 'error' }, pino.destination(2));
const machine = machineInfo();
const model = await loadManifest(options.modelDir);
const frameWidth = options.frameSize?.width ?? model.input.width;
const frameHeight = options.frameSize?.height ?? model.input.height;
const baseSessions = options.sessions.at(-1)!;
const baseMaxBatch = options.maxBatches.includes(4) ? 4 : options.maxBatches.at(-1)!;
const saturation = options.streams.at(-1)!;

/** One server configuration: a service started here, or the remote one. */
interface Target {
  readonly sessions: number;
  readonly maxBatch: number;
  readonly devices: string;
  readonly service: RunningService | undefined;
  readonly client: FusionsegClient;
}
const targets = new Map<string, Target>();
const keyOf = (sessions: number, maxBatch: number) => `${sessions}x${maxBatch}`;

async function target(sessions: number, maxBatch: number): Promise<Target> {
  const key = keyOf(sessions, maxBatch);
  const existing = targets.get(key);
  if (existing) return existing;
  let made: Target;
  if (options.server !== undefined) {
    made = { sessions, maxBatch, devices: 'remote', service: undefined, client: new FusionsegClient(options.server) };
  } else {
    const devices = devicesFor(sessions, machine);
    log(`starting a server: ${devices}, maxBatch ${maxBatch}`);
    const service = await startService(
      { modelDir: options.modelDir, address: '127.0.0.1:0', devices, maxBatch, maxQueue: 256 },
      { log: quietLog },
    );
    made = { sessions, maxBatch, devices, service, client: new FusionsegClient(`127.0.0.1:${service.port}`) };
  }
  targets.set(key, made);
  return made;
}

/** A service measurement point of the plan. */
interface Point {
  readonly sweep: Sweep;
  readonly mode: 'frames' | 'video';
  readonly streams: number;
  readonly target: Target;
  readonly fusion: boolean;
  readonly tracking: boolean;
  readonly samples: LoadSample[];
}

const points: Point[] = [];
// Frame streams are untracked unless asked; ProcessVideo tracks by default.
const addPoint = (sweep: Sweep, mode: Point['mode'], streams: number, at: Target, fusion = true, tracking = false) =>
  points.push({ sweep, mode, streams, target: at, fusion, tracking: mode === 'video' || tracking, samples: [] });

const base = await target(baseSessions, baseMaxBatch);
for (const mode of options.modes) for (const streams of options.streams) addPoint('streams', mode, streams, base);
if (options.server === undefined) {
  for (const maxBatch of options.maxBatches) {
    if (maxBatch !== baseMaxBatch) addPoint('maxBatch', 'frames', saturation, await target(baseSessions, maxBatch));
  }
  for (const sessions of options.sessions) {
    if (sessions !== baseSessions) addPoint('sessions', 'frames', saturation, await target(sessions, baseMaxBatch));
  }
}
if (options.modes.includes('frames')) {
  addPoint('fusionOff', 'frames', saturation, base, false);
  addPoint('trackingOn', 'frames', saturation, base, true, true);
}

// Replicas: N services here behind one balancing client, StreamFrames at saturation, in the same rounds.
// Each gets one session and a share of the cores (replicaDevicesFor): the replicas together hold the
// threads the base service has, so on a CPU machine the run shows the spread, not more throughput.
let replicaSet: ReplicaSet | undefined;
const replicaRounds: ReplicaRound[] = [];
if (options.replicas > 0) {
  const devices = replicaDevicesFor(options.replicas, machine);
  log(`starting ${options.replicas} replicas: ${devices.join(' / ')}, maxBatch ${baseMaxBatch}`);
  replicaSet = await startReplicas({ modelDir: options.modelDir, devices, maxBatch: baseMaxBatch, log: quietLog });
  addPoint('replicas', 'frames', saturation, {
    sessions: 1,
    maxBatch: baseMaxBatch,
    devices: `${options.replicas} x ${devices[0]!}`,
    service: undefined,
    client: replicaSet.client,
  });
}

log(`decoding ${options.video} at ${frameWidth}x${frameHeight}`);
const sendFrames = await decodeFrames(options.video, frameWidth, frameHeight);
const modelFrames: FrameSet =
  frameWidth === model.input.width && frameHeight === model.input.height
    ? sendFrames
    : await decodeFrames(options.video, model.input.width, model.input.height);

// Warm-up through the service, which also gives the result size the transport bound echoes.
log('warming up');
const probe = await driveStreams(base.client, sendFrames, {
  streams: 1,
  inFlight: options.inFlight,
  seconds: 1,
  fusion: true,
});
const responseBytes = probe.meanResultBytes();
if (replicaSet !== undefined) {
  // One stream per replica first, so that every subchannel of the balancing client is connected (round_robin
  // picks among the ready ones) before a measured round starts.
  const spreads = await warmReplicas(replicaSet, sendFrames, { inFlight: options.inFlight, fusion: true });
  log(`  replicas warmed up: streams per replica ${spreads.map((spread) => spread.join(', ')).join(', then ')}`);
}
const requestBytes = frameWidth * frameHeight * 3 + 32;

// Local engines give the model-alone bound and the network outputs fusion is timed on.
const localTargets = [...targets.values()].filter((t) => t.service !== undefined);
const modelAloneSamples = new Map(localTargets.map((t) => [t, [] as number[]]));
const outputs = localTargets[0] ? await networkOutputs(localTargets[0].service!.context.engine, modelFrames) : [];
const echo = await startEcho();
const transportSamples = new Map(options.streams.map((streams) => [streams, [] as LoadSample[]]));
const decodeSamples: number[] = [];
let fusionFigures: FusionFigures | null = null;
let trackingCosts: TrackingCost[] = [];
// What a user would write instead: a Python loop, the same weights in PyTorch eager, Panoptic FPN's combination.
const peerAvailable = await peerLoopAvailable();
if (!peerAvailable) log('no Python with torch, torchvision and onnx: the PyTorch peer is left out');
const peerSamples: PeerBound[] = [];
let overload: OverloadFigures | undefined;
let overloadModelFps = 0;

const settle = () => new Promise((resolve) => setTimeout(resolve, 250));
try {
  for (let round = 1; round <= options.rounds; round++) {
    log(`round ${round} of ${options.rounds}`);
    for (const point of points) {
      let sample: LoadSample;
      if (point.sweep === 'replicas') {
        const replicaRound = await driveReplicas(replicaSet!, sendFrames, {
          streams: point.streams,
          inFlight: options.inFlight,
          seconds: options.seconds,
          ...(options.frames === undefined ? {} : { frames: options.frames }),
          fusion: point.fusion,
        });
        replicaRounds.push(replicaRound);
        sample = replicaRound.sample;
      } else {
        sample =
          point.mode === 'frames'
            ? await driveStreams(point.target.client, sendFrames, {
                streams: point.streams,
                inFlight: options.inFlight,
                seconds: options.seconds,
                ...(options.frames === undefined ? {} : { frames: options.frames }),
                fusion: point.fusion,
                tracking: point.tracking,
              })
            : await driveVideos(point.target.client, options.video, {
                streams: point.streams,
                seconds: options.seconds,
                ...(options.frames === undefined ? {} : { frames: options.frames }),
                fusion: point.fusion,
              });
      }
      point.samples.push(sample);
      log(
        `  ${point.sweep.padEnd(10)} ${point.mode.padEnd(6)} ${point.streams} streams, ${point.target.sessions} sessions, maxBatch ${point.target.maxBatch}${point.fusion ? '' : ', fusion off'}${point.tracking ? ', tracked' : ''}: ${sample.fps.toFixed(1)} frames/s`,
      );
      if (point.sweep === 'replicas') {
        const { perReplica, window } = replicaRounds.at(-1)!;
        const each = perReplica.map((r, i) => `${r.streams} streams, ${r.frames} frames (${window.frames[i]!} steady)`);
        log(`    per replica: ${each.join(' / ')}; steady window ${(window.ms / 1000).toFixed(1)} s`);
      }
      await settle();
    }
    for (const [at, samples] of modelAloneSamples) {
      samples.push(await measureModelAlone(at.service!.context.engine, modelFrames, options.seconds));
      log(`  model alone ${at.devices}, maxBatch ${at.maxBatch}: ${samples.at(-1)!.toFixed(1)} frames/s`);
    }
    for (const [streams, samples] of transportSamples) {
      samples.push(
        await echo.measure({
          streams,
          inFlight: options.inFlight,
          seconds: options.seconds / 2,
          requestBytes,
          responseBytes,
        }),
      );
    }
    if (peerAvailable) {
      const peer = await measurePeerLoop({
        video: options.video,
        frames: options.quick ? 6 : 30,
        threads: machine.cores,
      });
      peerSamples.push(peer);
      log(`  PyTorch peer loop (${peer.threads} threads): ${peer.fps.toFixed(2)} frames/s`);
    }
    decodeSamples.push(await measureDecode(options.video, model.input.width, model.input.height, options.seconds / 2));
    log(`  decode alone: ${decodeSamples.at(-1)!.toFixed(1)} frames/s`);
  }
  if (outputs.length > 0) {
    fusionFigures = await measureFusion(outputs, model.labelSpace.definition, options.quick ? 1 : 3);
  }
  log('tracking alone');
  trackingCosts = measureTrackingCost({ frames: options.quick ? 20 : 100 });
  const baseModelAlone = modelAloneSamples.get(base);
  if (options.overloadStreams > 0 && baseModelAlone !== undefined) {
    const modelFps = median(baseModelAlone);
    const offeredFps = options.overloadFactor * modelFps;
    const sendSeconds = options.quick ? 1.5 : Math.max(10, 2 * options.seconds);
    const framesPerStream = Math.max(4, Math.ceil((offeredFps * sendSeconds) / options.overloadStreams));
    log(`overload: ${options.overloadStreams} eager streams offering ${offeredFps.toFixed(1)} frames/s`);
    overload = await driveOverload(base.client, sendFrames, {
      streams: options.overloadStreams,
      offeredFps,
      framesPerStream,
      inFlight: 8,
    });
    log(
      `  ${overload.totalFps.toFixed(1)} frames/s, spread ±${(overload.spread * 100).toFixed(0)}%, ${overload.killed} streams killed`,
    );
    overloadModelFps = modelFps;
  }
} finally {
  await echo.close();
}

const modelAlone: ModelAlone[] = [...modelAloneSamples].map(([at, samples]) => ({
  sessions: at.sessions,
  devices: at.devices,
  maxBatch: at.maxBatch,
  fps: median(samples),
  fpsPerRound: samples,
}));
// Replicas have no model-alone bound of their own (several services split the cores).
const modelAloneOf = (at: Target) =>
  at.client === replicaSet?.client
    ? undefined
    : modelAlone.find((m) => m.sessions === at.sessions && m.maxBatch === at.maxBatch);

const runs: ServiceRun[] = points.map((point) => {
  const merged = LoadSample.merge(point.samples);
  const fpsPerRound = point.samples.map((sample) => sample.fps);
  const fps = median(fpsPerRound);
  const stagesMs = merged.stagesMs();
  const latencyMs = latencyFigures(merged.latencies);
  const endToEnd =
    point.mode === 'frames' && merged.latencies.length ? stagesMs.server + (stagesMs.transport ?? 0) : stagesMs.server;
  const bound = modelAloneOf(point.target);
  return {
    sweep: point.sweep,
    mode: point.mode,
    streams: point.streams,
    sessions: point.target.sessions,
    devices: point.target.devices,
    maxBatch: point.target.maxBatch,
    fusion: point.fusion,
    tracking: point.tracking,
    fps,
    fpsPerRound,
    frames: merged.frames,
    latencyMs,
    firstResultMs: latencyFigures(merged.firstResults),
    stagesMs,
    meanBatchSize: merged.meanBatchSize(),
    fusionShare: endToEnd > 0 ? stagesMs.fusion / endToEnd : 0,
    efficiency: bound ? fps / bound.fps : null,
  };
});

const saturated = runs.find((r) => r.sweep === 'streams' && r.mode === 'frames' && r.streams === saturation);
const fusionOff = runs.find((r) => r.sweep === 'fusionOff');
const trackingOn = runs.find((r) => r.sweep === 'trackingOn');
const oneSession = modelAlone.find((m) => m.sessions === 1 && m.maxBatch === baseMaxBatch);
const mostSessions = modelAlone.find((m) => m.sessions === baseSessions && m.maxBatch === baseMaxBatch);
let largestLoss: BenchResults['summary']['largestLoss'] = null;
if (saturated) {
  const { decode, queue, fusion, encode, transport } = saturated.stagesMs;
  const losses = Object.entries({ decode, 'queue wait': queue, fusion, encode, transport: transport ?? 0 });
  const [stage, ms] = losses.sort((a, b) => b[1] - a[1])[0]!;
  largestLoss = { stage, ms };
}

let replicas: ReplicaFigures | null = null;
if (replicaSet !== undefined && replicaRounds.length > 0) {
  const set = replicaSet;
  const wallSeconds = replicaRounds.reduce((sum, round) => sum + round.wallMs, 0) / 1000;
  const windowSeconds = replicaRounds.reduce((sum, round) => sum + round.window.ms, 0) / 1000;
  const sumOf = (i: number, key: 'frames' | 'streams') =>
    replicaRounds.reduce((sum, round) => sum + round.perReplica[i]![key], 0);
  const windowFrames = (i: number) => replicaRounds.reduce((sum, round) => sum + round.window.frames[i]!, 0);
  const totalFrames = set.services.reduce((sum, _, i) => sum + sumOf(i, 'frames'), 0);
  const perReplica = set.addresses.map((address, i) => ({
    address,
    streams: sumOf(i, 'streams'),
    frames: sumOf(i, 'frames'),
    fps: windowFrames(i) / windowSeconds,
    share: totalFrames > 0 ? sumOf(i, 'frames') / totalFrames : 0,
  }));
  const oneService = runs.find((r) => r.sweep === 'streams' && r.mode === 'frames' && r.streams === saturation);
  const streamCounts = perReplica.map((r) => r.streams);
  replicas = {
    replicas: set.services.length,
    devices: set.devices[0]!,
    maxBatch: baseMaxBatch,
    streams: saturation,
    rounds: replicaRounds.length,
    wallSeconds,
    windowSeconds,
    perReplica,
    total: {
      streams: streamCounts.reduce((a, b) => a + b, 0),
      frames: totalFrames,
      fps: perReplica.reduce((sum, replica) => sum + replica.fps, 0),
    },
    clientAnswered: replicaRounds.reduce((sum, round) => sum + round.sample.answered, 0),
    clientFps: runs.find((r) => r.sweep === 'replicas')!.fps,
    oneServiceFps: oneService?.fps ?? null,
    streamSpread: Math.max(...streamCounts) - Math.min(...streamCounts),
  };
}

const results: BenchResults = {
  format: 'fusionseg-bench/1',
  date: new Date().toISOString(),
  quick: options.quick,
  machine,
  model: {
    name: model.name,
    width: model.input.width,
    height: model.input.height,
    maxBatch: base.service?.context.engine.maxBatch ?? null,
  },
  workload: {
    server: options.server ?? 'started here, one per configuration (127.0.0.1)',
    video: relative(process.cwd(), options.video) || basename(options.video),
    frameWidth,
    frameHeight,
    seconds: options.seconds,
    rounds: options.rounds,
    inFlight: options.inFlight,
  },
  bounds: {
    modelAlone,
    decodeFps: median(decodeSamples),
    fusion: fusionFigures,
    tracking: trackingCosts,
    peer:
      peerSamples.length === 0
        ? null
        : {
            fps: median(peerSamples.map((peer) => peer.fps)),
            fpsPerRound: peerSamples.map((peer) => peer.fps),
            latencyMs: {
              p50: median(peerSamples.map((peer) => peer.latencyMs.p50)),
              p95: median(peerSamples.map((peer) => peer.latencyMs.p95)),
            },
            threads: peerSamples[0]!.threads,
            detectionsPerFrame: median(peerSamples.map((peer) => peer.detectionsPerFrame)),
            torch: peerSamples[0]!.torch,
          },
    transport: [...transportSamples].map(([streams, samples]) => ({
      streams,
      fps: median(samples.map((s) => s.fps)),
      latencyMs: latencyFigures(LoadSample.merge(samples).latencies),
      requestBytes,
      responseBytes: Math.round(responseBytes),
    })),
  },
  runs,
  overload:
    overload === undefined
      ? null
      : { ...overload, modelAloneFps: overloadModelFps, efficiency: overload.totalFps / overloadModelFps },
  replicas,
  summary: {
    efficiencyAtSaturation: saturated?.efficiency ?? null,
    fusionShareAtSaturation: saturated?.fusionShare ?? null,
    fusionThroughputLoss: saturated && fusionOff ? 1 - saturated.fps / fusionOff.fps : null,
    trackingThroughputLoss: saturated && trackingOn ? 1 - trackingOn.fps / saturated.fps : null,
    trackMsAtSaturation: trackingOn?.stagesMs.track ?? null,
    peerRatio: saturated && peerSamples.length > 0 ? saturated.fps / median(peerSamples.map((peer) => peer.fps)) : null,
    noise: saturated ? (Math.max(...saturated.fpsPerRound) - Math.min(...saturated.fpsPerRound)) / saturated.fps : 0,
    sessionsScaling:
      oneSession && mostSessions && baseSessions > 1
        ? { sessions: baseSessions, ratio: mostSessions.fps / oneSession.fps }
        : null,
    largestLoss,
  },
};

for (const at of targets.values()) {
  at.client.close();
  await at.service?.stop();
}
await replicaSet?.close();

const markdown = renderMarkdown(results);
console.log(markdown);
if (options.outDir !== undefined) {
  await mkdir(options.outDir, { recursive: true });
  const stem = join(options.outDir, `${results.date.slice(0, 10)}-${machine.host}${options.quick ? '-quick' : ''}`);
  await writeFile(`${stem}.json`, `${JSON.stringify(results, null, 2)}\n`);
  await writeFile(`${stem}.md`, markdown);
  await writeFile(`${stem}.svg`, await renderChart(results));
  log(`wrote ${stem}.json, .md and .svg`);
}
