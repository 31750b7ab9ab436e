/**
 * The server's ffprobe: the shared probe (wire/src/probe.ts) run under the server's confinement
 * (protocol and demuxer whitelists, pixel cap, timeout), its child counted in the metrics, and every
 * failure a classified MediaError that echoes no path or ffprobe text.
 */
import type { Logger } from 'pino';
import {
  probeArguments,
  runProbe,
  videoFacts,
  type ProbeArgumentOptions,
  type ProbeJson,
  type ProbeRun,
  type VideoFacts,
} from '../../../wire/src/probe.js';
import { trackChild } from './child-process.js';
import { ffprobeBinary } from './ffmpeg.js';
import { classifyToolExit, logMediaFailure, MediaError, spawnFailure } from './media-error.js';

export { expectedFrames, probeArguments, type VideoFacts } from '../../../wire/src/probe.js';

export interface ProbeOptions extends ProbeArgumentOptions {
  /** ffprobe is killed after this long (default 15 s). */
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
  /** The ffprobe executable; defaults to the resolved one (see wire/src/media-tools.ts). */
  readonly ffprobePath?: string;
  /** Where ffprobe's own words about a failure go. */
  readonly log?: Logger;
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
      trackChild,
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
  let json: ProbeJson;
  try {
    json = JSON.parse(run.stdout) as ProbeJson;
  } catch (cause: unknown) {
    const error = new MediaError('bad-media', 'could not decode the video: it could not be examined', { cause });
    logMediaFailure(options.log, error, 'ffprobe', run.stdout.slice(0, 2000));
    throw error;
  }
  const facts = videoFacts(json);
  if (facts === undefined)
    throw new MediaError('bad-media', 'could not decode the video: the file has no video stream');
  return facts;
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
