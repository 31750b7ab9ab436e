/**
 * ffprobe of a video: its arguments, a run that never throws an unhandled 'error' event, the facts read
 * from its JSON, and the frames a decode job will produce. The server wraps this with its confinement and
 * error classes (server/src/video/probe.ts); clients use `probeLocalVideo`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { Readable } from 'node:stream';
import { terminate, TextTail } from './child-process.js';
import { ffprobeBinary } from './media-tools.js';

export interface VideoFacts {
  readonly width: number;
  readonly height: number;
  /** Frames in the video stream, when the container says or duration x rate gives it. */
  readonly frames: number | undefined;
  readonly frameRate: number | undefined;
  readonly durationSeconds: number | undefined;
  /** ffmpeg's name of the demuxer that opened it (e.g. "mov,mp4,m4a,3gp,3g2,mj2"), when known. */
  readonly formatName?: string | undefined;
}

export interface ProbeArgumentOptions {
  /** ffmpeg's protocol whitelist for the input (default `file`). */
  readonly protocols?: readonly string[];
  /** Demuxers the input may be opened as (`-format_whitelist`); unset = any. */
  readonly formats?: readonly string[];
  /** `-max_pixels` for the decoders ffprobe opens while it looks at the stream. */
  readonly maxPixels?: number;
}

/** ffprobe's argument list (never a shell string) for the first video stream's facts, as JSON. */
export function probeArguments(input: string, options: ProbeArgumentOptions = {}): string[] {
  const args = ['-hide_banner', '-v', 'error', '-protocol_whitelist', (options.protocols ?? ['file']).join(',')];
  if (options.formats !== undefined) args.push('-format_whitelist', options.formats.join(','));
  if (options.maxPixels !== undefined) args.push('-max_pixels', String(Math.floor(options.maxPixels)));
  args.push(
    '-select_streams',
    'v:0',
    '-show_entries',
    'stream=width,height,nb_frames,avg_frame_rate,duration:format=duration,format_name',
    '-of',
    'json',
    input,
  );
  return args;
}

/** What one ffprobe run gave. */
export interface ProbeRun {
  readonly stdout: string;
  readonly stderr: TextTail;
  readonly exitCode: number | null;
  readonly signal: NodeJS.Signals | null;
  /** Killed after `timeoutMs`. */
  readonly timedOut: boolean;
}

type ProbeChild = ChildProcess & { stdout: Readable | null; stderr: Readable | null };

/**
 * Runs ffprobe; rejects only with a spawn failure (never an unhandled 'error' event). `onSpawn` sees the
 * child first (the server counts it in its metrics).
 */
export function runProbe(
  path: string,
  args: readonly string[],
  timeoutMs: number,
  signal?: AbortSignal,
  onSpawn?: (child: ChildProcess) => void,
): Promise<ProbeRun> {
  return new Promise<ProbeRun>((resolve, reject) => {
    let child: ProbeChild;
    try {
      child = spawn(path, [...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (error: unknown) {
      reject(error instanceof Error ? error : new Error(String(error)));
      return;
    }
    let settled = false;
    let timedOut = false;
    const stderr = new TextTail(8192);
    const stdout: Buffer[] = [];
    const stop = () => {
      timedOut = true;
      void terminate(child, 500);
    };
    const timer = setTimeout(stop, timeoutMs);
    const onAbort = () => void terminate(child, 500);
    signal?.addEventListener('abort', onAbort, { once: true });
    const finish = (result: ProbeRun | Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      if (result instanceof Error) reject(result);
      else resolve(result);
    };
    // Before anything else: with EMFILE there are no pipes and the failure comes as this event.
    child.on('error', (error: Error) => finish(error));
    onSpawn?.(child);
    child.stdout?.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr?.on('data', (chunk: Buffer) => stderr.push(chunk));
    child.on('close', (exitCode: number | null, signalCode: NodeJS.Signals | null) =>
      finish({ stdout: Buffer.concat(stdout).toString(), stderr, exitCode, signal: signalCode, timedOut }),
    );
  });
}

/** ffprobe's JSON output (the entries `probeArguments` asks for). */
export interface ProbeJson {
  readonly streams?: Record<string, unknown>[];
  readonly format?: Record<string, unknown>;
}

const positive = (value: unknown): number | undefined => {
  const n = typeof value === 'string' ? Number(value) : typeof value === 'number' ? value : NaN;
  return Number.isFinite(n) && n > 0 ? n : undefined;
};

function rate(value: unknown): number | undefined {
  if (typeof value !== 'string') return undefined;
  const [num, den] = value.split('/').map(Number);
  return num !== undefined && den !== undefined && den > 0 ? positive(num / den) : undefined;
}

/** The facts of the first video stream in ffprobe's JSON; undefined when it lists no video stream. */
export function videoFacts(json: ProbeJson): VideoFacts | undefined {
  const stream = json.streams?.[0];
  if (stream === undefined) return undefined;
  const frameRate = rate(stream['avg_frame_rate']);
  const durationSeconds = positive(stream['duration']) ?? positive(json.format?.['duration']);
  const counted = positive(stream['nb_frames']);
  const estimated =
    frameRate !== undefined && durationSeconds !== undefined ? Math.round(frameRate * durationSeconds) : undefined;
  const formatName = json.format?.['format_name'];
  return {
    width: positive(stream['width']) ?? 0,
    height: positive(stream['height']) ?? 0,
    frames: counted ?? estimated,
    frameRate,
    durationSeconds,
    formatName: typeof formatName === 'string' ? formatName : undefined,
  };
}

/**
 * Reads the first video stream's size, frame count and rate of a local input (`file:path`, or a URL with
 * its `protocols`); undefined when ffprobe cannot (missing, not a video, unreachable, no ffprobe).
 */
export async function probeLocalVideo(
  input: string,
  options: { protocols?: readonly string[]; timeoutMs?: number; signal?: AbortSignal; ffprobePath?: string } = {},
): Promise<VideoFacts | undefined> {
  try {
    const run = await runProbe(
      options.ffprobePath ?? ffprobeBinary().path,
      probeArguments(input, { protocols: options.protocols ?? ['file'] }),
      options.timeoutMs ?? 15_000,
      options.signal,
    );
    if (run.timedOut || run.exitCode !== 0) return undefined;
    return videoFacts(JSON.parse(run.stdout) as ProbeJson);
  } catch {
    return undefined;
  }
}

/** Frames a decode job will produce, given sampling and limits; undefined when unknown. */
export function expectedFrames(
  facts: VideoFacts | undefined,
  options: { fps?: number | undefined; startTime?: number | undefined; maxFrames?: number | undefined },
): number | undefined {
  if (facts === undefined) return undefined;
  let frames = facts.frames;
  if (facts.durationSeconds !== undefined && (options.fps || options.startTime)) {
    const remaining = Math.max(0, facts.durationSeconds - (options.startTime ?? 0));
    const perSecond = options.fps || facts.frameRate;
    frames = perSecond === undefined ? undefined : Math.round(remaining * perSecond);
  }
  if (frames !== undefined && options.maxFrames) frames = Math.min(frames, options.maxFrames);
  return frames;
}
