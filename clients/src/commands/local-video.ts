/** Decoding a video on the client side (the `stream` command, and overlays of `process`). */
import { VideoDecoder, type DecoderInput } from '../../../server/src/video/decoder.js';
import { resolveMediaUrl, SUPPORTED_URL_SCHEMES } from '../../../server/src/video/media-access.js';
import { expectedFrames, probeVideo, type VideoFacts } from '../../../server/src/video/probe.js';

export interface LocalVideo {
  readonly input: DecoderInput;
  readonly facts: VideoFacts | undefined;
}

/** A path, a URL, or `-` for standard input. */
export async function openLocalVideo(source: string): Promise<LocalVideo> {
  if (source === '-') return { input: { kind: 'pipe' }, facts: undefined };
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(source)) {
    const { url, protocols } = resolveMediaUrl(source, SUPPORTED_URL_SCHEMES);
    return { input: { kind: 'url', url, protocols }, facts: await probeVideo(url, protocols) };
  }
  const facts = await probeVideo(`file:${source}`);
  if (facts === undefined)
    throw new Error(`cannot read a video from "${source}" (missing, or not a video ffprobe knows)`);
  return { input: { kind: 'file', path: source }, facts };
}

export interface Sampling {
  readonly fps?: number | undefined;
  readonly startTime?: number | undefined;
  readonly maxFrames?: number | undefined;
}

/** A decoder of the local video at its own size (or `fallback` when unknown), with the same sampling as the server. */
export function localDecoder(
  video: LocalVideo,
  sampling: Sampling,
  fallback: { width: number; height: number },
  signal: AbortSignal,
) {
  const width = video.facts?.width || fallback.width;
  const height = video.facts?.height || fallback.height;
  const decoder = new VideoDecoder({
    input: video.input,
    width,
    height,
    signal,
    ...(sampling.fps === undefined ? {} : { fps: sampling.fps }),
    ...(sampling.startTime === undefined ? {} : { startTime: sampling.startTime }),
    ...(sampling.maxFrames === undefined ? {} : { maxFrames: sampling.maxFrames }),
  });
  const total = expectedFrames(video.facts, sampling) ?? 0;
  const frameRate = sampling.fps ?? video.facts?.frameRate ?? 25;
  return { decoder, width, height, total, frameRate };
}
