/**
 * Frames of an encoded video, decoded by one ffmpeg process at the model's input size. With a `feed`, the
 * bytes come from the client (written to ffmpeg's stdin as they arrive, waiting for ffmpeg to take them);
 * otherwise ffmpeg reads the file or URL itself.
 */
import { VideoDecoder, type DecoderInput } from '../video/decoder.js';
import type { DecodedFrame } from './segment-frame.js';

export interface VideoFrameOptions {
  readonly width: number;
  readonly height: number;
  readonly signal: AbortSignal;
  readonly fps?: number;
  readonly startTime?: number;
  readonly maxFrames?: number;
}

export async function* decodedVideoFrames(
  input: DecoderInput,
  options: VideoFrameOptions,
  feed: AsyncIterable<Uint8Array> | undefined,
  /** Frames per second of the decoded frames, when known: pts are then in microseconds. */
  frameRate: number | undefined,
  source: { width: number; height: number } = { width: options.width, height: options.height },
): AsyncGenerator<DecodedFrame> {
  const decoder = new VideoDecoder({
    input,
    width: options.width,
    height: options.height,
    signal: options.signal,
    ...(options.fps === undefined ? {} : { fps: options.fps }),
    ...(options.startTime === undefined ? {} : { startTime: options.startTime }),
    ...(options.maxFrames === undefined ? {} : { maxFrames: options.maxFrames }),
  });
  let feedError: unknown;
  const feeding =
    feed === undefined
      ? Promise.resolve()
      : (async () => {
          try {
            for await (const chunk of feed) await decoder.write(chunk);
          } catch (error: unknown) {
            feedError = error;
            await decoder.close();
          } finally {
            decoder.end();
          }
        })();
  try {
    let index = 0;
    let waitStarted = performance.now();
    for await (const rgb of decoder.frames()) {
      const arrivedAt = performance.now();
      yield {
        index,
        frameId: index,
        pts: frameRate === undefined ? index : Math.round((index * 1_000_000) / frameRate),
        sourceWidth: source.width,
        sourceHeight: source.height,
        rgb,
        decodeUs: Math.round((arrivedAt - waitStarted) * 1000),
        arrivedAt,
      };
      index++;
      waitStarted = performance.now();
    }
    await feeding;
    if (feedError instanceof Error) throw feedError;
    if (feedError !== undefined) throw new Error('feeding the video to ffmpeg failed');
  } finally {
    await decoder.close();
  }
}
