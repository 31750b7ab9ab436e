/** Decoded frames of the benchmark's video, held in memory so that clients send them without decoding. */
import { VideoDecoder } from '../../server/src/video/decoder.js';

export interface FrameSet {
  readonly width: number;
  readonly height: number;
  readonly frames: readonly Uint8Array[];
}

/** The first `maxFrames` frames of `video` as RGB24 at width x height (ffmpeg scales). */
export async function decodeFrames(video: string, width: number, height: number, maxFrames = 120): Promise<FrameSet> {
  const decoder = new VideoDecoder({ input: { kind: 'file', path: video }, width, height, maxFrames });
  const frames: Uint8Array[] = [];
  for await (const frame of decoder.frames()) frames.push(frame);
  if (frames.length === 0) throw new Error(`${video} has no video frames`);
  return { width, height, frames };
}

/** Decode alone: ffmpeg frames/s decoding `video` to RGB24 at width x height, repeated for `seconds`. */
export async function measureDecode(video: string, width: number, height: number, seconds: number): Promise<number> {
  const started = performance.now();
  let frames = 0;
  do {
    const decoder = new VideoDecoder({ input: { kind: 'file', path: video }, width, height });
    const decoded = decoder.frames();
    while (!(await decoded.next()).done) frames++;
  } while (performance.now() - started < seconds * 1000);
  return (frames * 1000) / (performance.now() - started);
}
