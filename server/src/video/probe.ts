import { spawn, type ChildProcess } from 'node:child_process';
import type { Readable } from 'node:stream';
import type { Logger } from 'pino';
import { terminate, TextTail, trackChild } from './child-process.js';
import { ffprobeBinary } from './ffmpeg.js';
import { classifyToolExit, logMediaFailure, MediaError, spawnFailure } from './media-error.js';

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

export interface ProbeOptions {
  /** ffmpeg's protocol whitelist for the input (default `file`). */
  readonly protocols?: readonly string[];
  /** Demuxers the input may be opened as (`-format_whitelist`); unset = any. */
  readonly formats?: readonly string[];
  /** `-max_pixels` for the decoders ffprobe opens while it looks at the stream. */
  readonly maxPixels?: number;
  /** ffprobe is killed after this long (default 15 s). */
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
  /** The ffprobe executable; defaults to the resolved one (see ffmpeg.ts). */
  readonly ffprobePath?: string;
  /** Where ffprobe's own words about a failure go. */
  readonly log?: Logger;
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

export function probeArguments(input: string, options: ProbeOptions = {}): string[] {
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

type ProbeChild = ChildProcess & { stdout: Readable | null; stderr: Readable | null };

interface ProbeRun {
  readonly stdout: string;
  readonly stderr: TextTail;
  readonly exitCode: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly timedOut: boolean;
}

/** Runs ffprobe; rejects only with a spawn failure (never an unhandled 'error' event). */
function runProbe(path: string, args: string[], timeoutMs: number, signal: AbortSignal | undefined): Promise<ProbeRun> {
  return new Promise<ProbeRun>((resolve, reject) => {
    let child: ProbeChild;
    try {
      child = spawn(path, args, { stdio: ['ignore', 'pipe', 'pipe'] });
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
    trackChild(child);
    child.stdout?.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr?.on('data', (chunk: Buffer) => stderr.push(chunk));
    child.on('close', (exitCode: number | null, signalCode: NodeJS.Signals | null) =>
      finish({ stdout: Buffer.concat(stdout).toString(), stderr, exitCode, signal: signalCode, timedOut }),
    );
  });
}

/**
 * Reads the first video stream's size, frame count and rate with ffprobe. Throws a MediaError when the
 * input is refused (container not on the list, frames over the pixel cap), corrupt, or ffprobe cannot run.
 */
export async function probeMedia(input: string, options: ProbeOptions = {}): Promise<VideoFacts> {
  const protocols = options.protocols ?? ['file'];
  let run: ProbeRun;
  try {
    run = await runProbe(
      options.ffprobePath ?? ffprobeBinary().path,
      probeArguments(input, options),
      options.timeoutMs ?? 15_000,
      options.signal,
    );
  } catch (error: unknown) {
    const failure = spawnFailure('ffprobe', error);
    logMediaFailure(options.log, failure, 'starting ffprobe', '');
    throw failure;
  }
  const network = !protocols.every((protocol) => protocol === 'file' || protocol === 'pipe');
  if (run.timedOut) {
    const error = network
      ? new MediaError('unreachable', 'the video source could not be reached or stopped sending data')
      : new MediaError('bad-media', 'could not read the video: examining it took too long');
    logMediaFailure(options.log, error, 'ffprobe', run.stderr.lastLines(12));
    throw error;
  }
  if (run.exitCode !== 0) {
    const error = classifyToolExit(
      { exitCode: run.exitCode, signal: run.signal, stderr: run.stderr.text(), network },
      options.maxPixels,
      'could not decode the video',
    );
    logMediaFailure(options.log, error, 'ffprobe', run.stderr.lastLines(12));
    throw error;
  }
  let json: { streams?: Record<string, unknown>[]; format?: Record<string, unknown> };
  try {
    json = JSON.parse(run.stdout) as typeof json;
  } catch (cause: unknown) {
    const error = new MediaError('bad-media', 'could not decode the video: it could not be examined', { cause });
    logMediaFailure(options.log, error, 'ffprobe', run.stdout.slice(0, 2000));
    throw error;
  }
  const stream = json.streams?.[0];
  if (stream === undefined)
    throw new MediaError('bad-media', 'could not decode the video: the file has no video stream');
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

/** Reads the first video stream's size, frame count and rate with ffprobe; undefined when it cannot. */
export async function probeVideo(
  input: string,
  protocols: readonly string[] = ['file'],
): Promise<VideoFacts | undefined> {
  try {
    return await probeMedia(input, { protocols });
  } catch {
    return undefined;
  }
}

/** Frames a decode job will produce, given sampling and limits; undefined when unknown. */
export function expectedFrames(
  facts: VideoFacts | undefined,
  options: { fps?: number; startTime?: number; maxFrames?: number },
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
