/** Decoding a video on the client side (the `stream` command, and overlays of `process`). */
import { isUrl, urlProtocols } from '../../../wire/src/media-urls.js';
import { expectedFrames, probeLocalVideo, type VideoFacts } from '../../../wire/src/probe.js';
import { VideoReader, type ReaderInput } from '../video-reader.js';
import { UsageError } from './common.js';

export interface LocalVideo {
  readonly input: ReaderInput;
  readonly facts: VideoFacts | undefined;
}

/** A path, a URL, or `-` for standard input. */
export async function openLocalVideo(source: string): Promise<LocalVideo> {
  if (source === '-') return { input: { kind: 'pipe' }, facts: undefined };
  if (isUrl(source)) {
    let resolved: { url: string; protocols: readonly string[] };
    try {
      resolved = urlProtocols(source);
    } catch (error: unknown) {
      throw new UsageError((error as Error).message);
    }
    const { url, protocols } = resolved;
    return { input: { kind: 'url', url, protocols }, facts: await probeLocalVideo(url, { protocols }) };
  }
  const facts = await probeLocalVideo(`file:${source}`);
  if (facts === undefined)
    throw new Error(`cannot read a video from "${source}" (missing, or not a video ffprobe knows)`);
  return { input: { kind: 'file', path: source }, facts };
}

export interface Sampling {
  readonly fps?: number | undefined;
  readonly startTime?: number | undefined;
  readonly maxFrames?: number | undefined;
}

/** A reader of the local video at its own size (or `fallback` when unknown), with the same sampling as the server. */
export function localDecoder(
  video: LocalVideo,
  sampling: Sampling,
  fallback: { width: number; height: number },
  signal: AbortSignal,
) {
  const width = video.facts?.width || fallback.width;
  const height = video.facts?.height || fallback.height;
  const decoder = new VideoReader({
    input: video.input,
    width,
    height,
    signal,
    fps: sampling.fps,
    startTime: sampling.startTime,
    maxFrames: sampling.maxFrames,
  });
  const total = expectedFrames(video.facts, sampling) ?? 0;
  const frameRate = sampling.fps ?? video.facts?.frameRate ?? 25;
  return { decoder, width, height, total, frameRate };
}
