/**
 * Frames of an encoded video, decoded by one ffmpeg process at the model's input size. With a `feed`, the
 * bytes come from the client (written to ffmpeg's stdin as they arrive, waiting for ffmpeg to take them);
 * otherwise ffmpeg reads the file or URL itself.
 */
import type { Logger } from 'pino';
import { VideoDecoder, type DecoderInput } from '../video/decoder.js';
import type { DecodedFrame } from './segment-frame.js';

export interface VideoFrameOptions {
  readonly width: number;
  readonly height: number;
  readonly signal: AbortSignal;
  readonly fps?: number;
  readonly startTime?: number;
  readonly maxFrames?: number;
  /** ffmpeg demuxers the input may be opened as. */
  readonly formats?: readonly string[];
  /** The decoder's pixel cap (`-max_pixels`). */
  readonly maxPixels?: number;
  /** Network read/connect timeout of URL inputs. */
  readonly ioTimeoutMs?: number;
  /** Where ffmpeg's own words about a failure go. */
  readonly log?: Logger;
  /** pts from ffmpeg's own frame timestamps (microseconds from the first frame), not from frame numbers. */
  readonly timestamps?: boolean;
}

/**
 * What the results echo. `source` undefined: the size ffmpeg reports for its input (the model's size if it
 * reports none). `frameRate` 'input': the rate ffmpeg reports (pts then in microseconds; frame numbers
 * when it reports none).
 */
export async function* decodedVideoFrames(
  input: DecoderInput,
  options: VideoFrameOptions,
  feed: AsyncIterable<Uint8Array> | undefined,
  /** Frames per second of the decoded frames, when known: pts are then in microseconds. */
  frameRate: number | 'input' | undefined,
  source?: { width: number; height: number },
): AsyncGenerator<DecodedFrame> {
  const decoder = new VideoDecoder({
    input,
    width: options.width,
    height: options.height,
    signal: options.signal,
    reportInput: source === undefined || frameRate === 'input',
    ...(options.timestamps === true ? { timestamps: true } : {}),
    ...(options.fps === undefined ? {} : { fps: options.fps }),
    ...(options.startTime === undefined ? {} : { startTime: options.startTime }),
    ...(options.maxFrames === undefined ? {} : { maxFrames: options.maxFrames }),
    ...(options.formats === undefined ? {} : { formats: options.formats }),
    ...(options.maxPixels === undefined ? {} : { maxPixels: options.maxPixels }),
    ...(options.ioTimeoutMs === undefined ? {} : { ioTimeoutMs: options.ioTimeoutMs }),
    ...(options.log === undefined ? {} : { log: options.log }),
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
    let size = source;
    let rate = frameRate === 'input' ? undefined : frameRate;
    let firstTime: number | undefined;
    for await (const rgb of decoder.frames()) {
      const time = await decoder.frameTime(index);
      firstTime ??= time;
      if (index === 0 && (size === undefined || frameRate === 'input')) {
        const info = await decoder.inputInfo();
        size ??= info === undefined ? { width: options.width, height: options.height } : info;
        if (frameRate === 'input') rate = options.fps ?? info?.frameRate;
      }
      const arrivedAt = performance.now();
      yield {
        index,
        frameId: index,
        pts:
          time !== undefined && firstTime !== undefined
            ? Math.round((time - firstTime) * 1_000_000)
            : rate === undefined
              ? index
              : Math.round((index * 1_000_000) / rate),
        sourceWidth: size?.width ?? options.width,
        sourceHeight: size?.height ?? options.height,
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
