/**
 * The benchmark's options: what to drive (a server started here or `--server`), with what (the demo video or
 * any file, at the model's size or another), for how long, and which sweeps. Validated here, with messages
 * that name the option.
 */
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

/** At most this many replicas: each holds a model, its sessions and worker threads in the bench's process. */
export const MAX_REPLICAS = 8;

export interface BenchOptions {
  /** Drive this server instead of starting one here (sweeps of maxBatch and sessions need a local server). */
  readonly server: string | undefined;
  readonly modelDir: string;
  readonly video: string;
  /** Size of the frames clients send; undefined = the model's input size. */
  readonly frameSize: { readonly width: number; readonly height: number } | undefined;
  /** Length of one measurement, seconds. */
  readonly seconds: number;
  /** Instead of seconds: frames per measurement (across its streams). */
  readonly frames: number | undefined;
  /** Measurement rounds; each round visits every point once (interleaved), the median counts. */
  readonly rounds: number;
  /** Frames each stream keeps in flight. */
  readonly inFlight: number;
  readonly streams: readonly number[];
  readonly maxBatches: readonly number[];
  readonly sessions: readonly number[];
  readonly modes: readonly ('frames' | 'video')[];
  /** Folder for the JSON, Markdown and SVG results; undefined = do not write. */
  readonly outDir: string | undefined;
  readonly quick: boolean;
  /** Overload: eager streams offering `overloadFactor` x the model alone's frames/s (0 streams = skip). */
  readonly overloadStreams: number;
  readonly overloadFactor: number;
  /**
   * Replicas started here and driven through one balancing client at the largest stream count (0 = none,
   * today's runs only).
   */
  readonly replicas: number;
}

export const USAGE = `npm run bench -- [options]

  --quick               a smoke run (short measurements, small sweeps; about a minute here)
  --server ADDR         drive a running server (host:port); default: start one here per configuration
  --model DIR           model folder (default models/default)
  --video FILE          video the clients send (default models/demo/street.mp4)
  --size WxH            frame size the clients send (default the model's input size)
  --seconds S           length of one measurement (default 6, quick 2)
  --frames N            or: frames per measurement, across its streams (quick default 24: a quick run
                        measures by frames, so a slow start-up cannot leave a time window empty)
  --rounds N            interleaved rounds, the median counts (default 3, quick 1)
  --in-flight N         frames in flight per stream (default 2)
  --streams LIST        concurrent streams to sweep (default 1,2,4,8; quick 1,4)
  --max-batch LIST      maxBatch values to sweep (default 1,2,4,8; quick 4)
  --sessions LIST       session counts to sweep (default 1,2; quick 2)
  --modes LIST          frames,video (default both)
  --overload-streams N  eager streams of the overload run (default 16, quick 4; 0 skips it)
  --overload-factor F   frames/s they offer, as a multiple of the model alone (default 2)
  --replicas N          also start N replicas here (2 to ${MAX_REPLICAS}, one session each) and drive StreamFrames
                        through one round_robin client over them at the largest --streams; 0 (default) skips it
  --out DIR             where results go (default bench/results); --no-write to only print`;

const REPO = fileURLToPath(new URL('../..', import.meta.url));

function list(value: string, option: string, min: number, max: number): number[] {
  const items = value.split(',').map((item) => Number(item.trim()));
  if (items.length === 0 || items.some((item) => !Number.isInteger(item) || item < min || item > max)) {
    throw new TypeError(`--${option} must be a comma-separated list of integers from ${min} to ${max}, got "${value}"`);
  }
  return [...new Set(items)].sort((a, b) => a - b);
}

function number(value: string, option: string, min: number, max: number, integer = true): number {
  const parsed = Number(value);
  if (!Number.isFinite(parsed) || parsed < min || parsed > max || (integer && !Number.isInteger(parsed))) {
    throw new TypeError(
      `--${option} must be ${integer ? 'an integer' : 'a number'} from ${min} to ${max}, got "${value}"`,
    );
  }
  return parsed;
}

export function parseBenchOptions(argv: readonly string[]): BenchOptions {
  const { values } = parseArgs({
    args: [...argv],
    strict: true,
    options: {
      quick: { type: 'boolean', default: false },
      server: { type: 'string' },
      model: { type: 'string' },
      video: { type: 'string' },
      size: { type: 'string' },
      seconds: { type: 'string' },
      frames: { type: 'string' },
      rounds: { type: 'string' },
      'in-flight': { type: 'string', default: '2' },
      streams: { type: 'string' },
      'max-batch': { type: 'string' },
      sessions: { type: 'string' },
      modes: { type: 'string', default: 'frames,video' },
      out: { type: 'string' },
      'no-write': { type: 'boolean', default: false },
      'overload-streams': { type: 'string' },
      'overload-factor': { type: 'string', default: '2' },
      replicas: { type: 'string', default: '0' },
    },
  });
  const quick = values.quick;
  let frameSize: BenchOptions['frameSize'];
  if (values.size !== undefined) {
    const match = /^(\d+)x(\d+)$/.exec(values.size);
    const width = Number(match?.[1]);
    const height = Number(match?.[2]);
    if (match === null || width < 16 || height < 16 || width > 8192 || height > 8192 || width % 2 || height % 2) {
      throw new TypeError(`--size must be WIDTHxHEIGHT with even sides from 16 to 8192, got "${values.size}"`);
    }
    frameSize = { width, height };
  }
  const modes = values.modes.split(',').map((mode) => mode.trim());
  for (const mode of modes) {
    if (mode !== 'frames' && mode !== 'video') throw new TypeError(`--modes: "${mode}" is not frames or video`);
  }
  if (values.server !== undefined && !/^[\w.-]+:\d+$|^\[[\da-f:]+\]:\d+$/i.test(values.server)) {
    throw new TypeError(`--server must be host:port, got "${values.server}"`);
  }
  const streams = list(values.streams ?? (quick ? '1,4' : '1,2,4,8'), 'streams', 1, 64);
  const replicas = number(values.replicas, 'replicas', 0, MAX_REPLICAS);
  if (replicas === 1)
    throw new TypeError(`--replicas must be 0 (none) or 2 to ${MAX_REPLICAS}: one replica is the base run`);
  if (replicas > 0 && values.server !== undefined) {
    throw new TypeError('--replicas starts its replicas here (127.0.0.1); it cannot be used with --server');
  }
  if (replicas > streams.at(-1)!) {
    throw new TypeError(
      `--replicas ${replicas} needs at least as many streams (the largest of --streams is ${streams.at(-1)!})`,
    );
  }
  return {
    server: values.server,
    modelDir: values.model ?? `${REPO}models/default`,
    video: values.video ?? `${REPO}models/demo/street.mp4`,
    frameSize,
    seconds: number(values.seconds ?? (quick ? '2' : '6'), 'seconds', 0.5, 600, false),
    frames:
      values.frames === undefined
        ? quick && values.seconds === undefined
          ? 24
          : undefined
        : number(values.frames, 'frames', 3, 1_000_000),
    rounds: number(values.rounds ?? (quick ? '1' : '3'), 'rounds', 1, 20),
    inFlight: number(values['in-flight'], 'in-flight', 1, 64),
    streams,
    maxBatches: list(values['max-batch'] ?? (quick ? '4' : '1,2,4,8'), 'max-batch', 1, 64),
    sessions: list(values.sessions ?? (quick ? '2' : '1,2'), 'sessions', 1, 8),
    modes: modes as ('frames' | 'video')[],
    outDir: values['no-write'] ? undefined : (values.out ?? `${REPO}bench/results`),
    quick,
    overloadStreams: number(values['overload-streams'] ?? (quick ? '4' : '16'), 'overload-streams', 0, 256),
    overloadFactor: number(values['overload-factor'], 'overload-factor', 1, 16, false),
    replicas,
  };
}
