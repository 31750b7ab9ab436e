/**
 * Where a video stream's frames come from, confined: an upload (spooled to disk), a file under the media
 * root, or a URL are each checked (access, allowed container, pixel cap, URL host) and probed before one
 * ffmpeg decodes them; an encoded-video stream's chunks go to ffmpeg through a pipe under the same demuxer
 * whitelist and pixel cap. Failures are MediaErrors (video/media-error.ts): a clean client message and
 * the right status, ffmpeg's own words in the log.
 */
import type { Logger } from 'pino';
import type { OpenVideo } from '../../../proto/generated/fusionseg/v1/segmentation.pb.js';
import { invalidArgument } from '../errors.js';
import { demuxerWhitelist, requestedContainer } from '../video/containers.js';
import type { DecoderInput } from '../video/decoder.js';
import { resolveMediaPath, resolveMediaUrl } from '../video/media-access.js';
import { MediaError, tooLarge } from '../video/media-error.js';
import { expectedFrames, probeMedia, type VideoFacts } from '../video/probe.js';
import { spoolUpload, type SpooledUpload } from '../video/spool-upload.js';
import { resolveAllowedHost, UrlHostAllowList, urlHost } from '../video/url-guard.js';
import { startPinnedProxy, type PinnedProxy } from '../video/url-proxy.js';
import type { DecodedFrame } from './segment-frame.js';
import { decodedVideoFrames } from './video-frames.js';

export interface MediaPolicy {
  readonly mediaRoot: string | undefined;
  readonly allowedUrlSchemes: readonly string[];
  readonly allowUrlHosts: readonly string[];
  readonly urlTimeoutMs: number;
  readonly allowContainers: readonly string[];
  readonly maxPixels: number;
  readonly maxUploadBytes: number;
}

export interface VideoSource {
  /** Decoded frames at the model's input size, pts in microseconds from the decoder when it knows the rate. */
  readonly frames: AsyncIterable<DecodedFrame>;
  /** The expected frame count (0 when unknown). */
  readonly totalFrames: number;
  /** Stops ffmpeg, removes a spooled upload; safe to call twice. */
  close(): Promise<void>;
}

interface Sampling {
  readonly fps?: number;
  readonly startTime?: number;
  readonly maxFrames?: number;
}

function samplingOf(open: OpenVideo): Sampling {
  return {
    ...(open.fps > 0 ? { fps: open.fps } : {}),
    ...(open.startTime > 0 ? { startTime: open.startTime } : {}),
    ...(open.maxFrames > 0 ? { maxFrames: open.maxFrames } : {}),
  };
}

function checkPixels(facts: VideoFacts, maxPixels: number): void {
  if (facts.width * facts.height > maxPixels) throw tooLarge(facts.width, facts.height, maxPixels);
}

/**
 * ProcessVideo: resolve the source of `open` (upload chunks come from `uploadChunks`), check it (access,
 * container, pixel cap, URL host), probe it, start decoding.
 */
export async function openVideoSource(
  open: OpenVideo,
  uploadChunks: AsyncIterable<Uint8Array>,
  policy: MediaPolicy,
  model: { width: number; height: number },
  signal: AbortSignal,
  log: Logger,
): Promise<VideoSource> {
  const sampling = samplingOf(open);
  let formats = demuxerWhitelist(policy.allowContainers);
  const stop = new AbortController();
  const decodeSignal = AbortSignal.any([signal, stop.signal]);
  let upload: SpooledUpload | undefined;
  let proxy: PinnedProxy | undefined;
  let frameIterator: AsyncGenerator<DecodedFrame> | undefined;
  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      stop.abort(); // kills ffmpeg, so that a pull in progress ends
      await frameIterator?.return(undefined); // runs the decoder's cleanup: ffmpeg has exited after this
      await proxy?.close();
      await upload?.remove();
    })();
    return closing;
  };
  const base = {
    width: model.width,
    height: model.height,
    signal: decodeSignal,
    formats,
    maxPixels: policy.maxPixels,
    log,
    timestamps: true, // pts from the decoder's own timestamps
    ...sampling,
  };
  try {
    let input: DecoderInput;
    let facts: VideoFacts | undefined;
    let frames: AsyncIterable<DecodedFrame>;
    switch (open.source?.$case) {
      case 'upload':
      case 'serverPath': {
        let path: string;
        if (open.source.$case === 'upload') {
          if (open.source.upload.containerFormat !== '') {
            formats = requestedContainer(open.source.upload.containerFormat, policy.allowContainers);
          }
          upload = await spoolUpload(uploadChunks, policy.maxUploadBytes, open.source.upload.sizeBytes);
          path = upload.path;
        } else {
          path = await resolveMediaPath(policy.mediaRoot, open.source.serverPath);
        }
        facts = await probeMedia(`file:${path}`, { formats, maxPixels: policy.maxPixels, signal: decodeSignal, log });
        checkPixels(facts, policy.maxPixels);
        input = { kind: 'file', path };
        frames = decodedVideoFrames(
          input,
          { ...base, formats },
          undefined,
          sampling.fps ?? facts.frameRate,
          facts.width > 0 ? { width: facts.width, height: facts.height } : undefined,
        );
        break;
      }
      case 'url': {
        const checked = resolveMediaUrl(open.source.url, policy.allowedUrlSchemes);
        const url = new URL(checked.url);
        const allow = new UrlHostAllowList(policy.allowUrlHosts);
        // Resolved and checked once, before ffmpeg runs: a refused host sees no connection at all.
        const host = await resolveAllowedHost(urlHost(url), allow);
        if (url.protocol === 'http:' || url.protocol === 'https:') {
          // Every connection of ffmpeg (redirects included) goes through a proxy that checks it and connects
          // to the checked address; https stays end-to-end TLS to the name (a CONNECT tunnel).
          proxy = await startPinnedProxy({ allow, resolved: [host], timeoutMs: policy.urlTimeoutMs, log });
          input = { kind: 'url', url: checked.url, protocols: checked.protocols, httpProxy: proxy.url };
          // HLS (live cameras, CDNs) is safe here as it is not for files: its playlists and segments are
          // fetched over http(s) only (the protocol whitelist), each through the checking proxy.
          formats = [...formats, 'hls'];
        } else {
          // Other schemes connect to the checked address itself (their own redirects cannot be vetted).
          const first = host.addresses[0]!;
          url.hostname = first.family === 6 ? `[${first.address}]` : first.address;
          input = { kind: 'url', url: url.href, protocols: checked.protocols };
        }
        // One fetch: no ffprobe; ffmpeg reports the size and rate of what it reads.
        frames = urlFrames(
          decodedVideoFrames(
            input,
            { ...base, formats, ioTimeoutMs: policy.urlTimeoutMs },
            undefined,
            'input',
            undefined,
          ),
          proxy,
        );
        break;
      }
      case undefined:
        throw invalidArgument('"open" must name a source: upload, server_path or url');
    }
    const source = frames;
    frameIterator = (async function* () {
      yield* source;
    })();
    return { frames: frameIterator, totalFrames: expectedFrames(facts, sampling) ?? 0, close };
  } catch (error: unknown) {
    await close();
    throw error;
  }
}

/** A URL source's frames, whose failures say what the proxy saw (a refused redirect, an upstream failure). */
async function* urlFrames(
  frames: AsyncIterable<DecodedFrame>,
  proxy: PinnedProxy | undefined,
): AsyncGenerator<DecodedFrame> {
  try {
    yield* frames;
  } catch (error: unknown) {
    if (proxy?.refusal !== undefined) throw proxy.refusal;
    if (proxy?.upstreamFailed === true && error instanceof MediaError && error.kind === 'bad-media') {
      throw new MediaError('unreachable', 'the video source could not be reached or stopped sending data', {
        cause: error,
      });
    }
    throw error;
  } finally {
    await proxy?.close();
  }
}

/**
 * StreamFrames with INPUT_KIND_ENCODED_VIDEO: chunks fed to one ffmpeg through a pipe, with the demuxer
 * whitelist and -max_pixels.
 */
export async function* encodedVideoFrames(
  chunks: AsyncIterable<Uint8Array>,
  containerFormat: string,
  policy: MediaPolicy,
  model: { width: number; height: number },
  signal: AbortSignal,
  log: Logger,
): AsyncGenerator<DecodedFrame> {
  const formats =
    containerFormat === ''
      ? demuxerWhitelist(policy.allowContainers)
      : requestedContainer(containerFormat, policy.allowContainers);
  yield* decodedVideoFrames(
    { kind: 'pipe', ...(containerFormat === '' ? {} : { format: formats[0]! }) },
    { width: model.width, height: model.height, signal, formats, maxPixels: policy.maxPixels, log, timestamps: true },
    chunks,
    undefined,
    undefined,
  );
}
