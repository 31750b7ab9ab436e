import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { trackChild } from './child-process.js';
import { ffprobeBinary } from './ffmpeg.js';

const execFileAsync = promisify(execFile);

export interface VideoFacts {
  readonly width: number;
  readonly height: number;
  /** Frames in the video stream, when the container says or duration x rate gives it. */
  readonly frames: number | undefined;
  readonly frameRate: number | undefined;
  readonly durationSeconds: number | undefined;
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

/** Reads the first video stream's size, frame count and rate with ffprobe; undefined when it cannot. */
export async function probeVideo(
  input: string,
  protocols: readonly string[] = ['file'],
): Promise<VideoFacts | undefined> {
  try {
    const running = execFileAsync(
      ffprobeBinary().path,
      [
        '-v',
        'error',
        '-protocol_whitelist',
        protocols.join(','),
        '-select_streams',
        'v:0',
        '-show_entries',
        'stream=width,height,nb_frames,avg_frame_rate,duration:format=duration',
        '-of',
        'json',
        input,
      ],
      { timeout: 15_000 },
    );
    trackChild(running.child);
    const { stdout } = await running;
    const json = JSON.parse(stdout) as { streams?: Record<string, unknown>[]; format?: Record<string, unknown> };
    const stream = json.streams?.[0];
    if (stream === undefined) return undefined;
    const frameRate = rate(stream['avg_frame_rate']);
    const durationSeconds = positive(stream['duration']) ?? positive(json.format?.['duration']);
    const counted = positive(stream['nb_frames']);
    const estimated =
      frameRate !== undefined && durationSeconds !== undefined ? Math.round(frameRate * durationSeconds) : undefined;
    return {
      width: positive(stream['width']) ?? 0,
      height: positive(stream['height']) ?? 0,
      frames: counted ?? estimated,
      frameRate,
      durationSeconds,
    };
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
