/**
 * Still frames sent by clients (raw RGB24, JPEG, PNG), decoded and resized to the model's input size
 * with sharp (libvips): the work runs on libuv's thread pool, so a frame's decode never blocks the event
 * loop, and each frame decodes on its own (no per-stream process to keep aligned with the input).
 */
import sharp from 'sharp';
import { invalidArgument } from '../errors.js';

export type StillImage =
  | { readonly kind: 'raw'; readonly width: number; readonly height: number; readonly rgb24: Uint8Array }
  | { readonly kind: 'jpeg' | 'png'; readonly bytes: Uint8Array };

export interface DecodedStill {
  /** RGB24 at the target size, in a buffer of its own (safe to transfer to a worker). */
  readonly rgb: Uint8Array;
  readonly sourceWidth: number;
  readonly sourceHeight: number;
}

/** The largest still frame accepted, in pixels (8K). */
const MAX_PIXELS = 7680 * 4320;

export async function decodeStill(
  image: StillImage,
  width: number,
  height: number,
  label: string,
): Promise<DecodedStill> {
  if (image.kind === 'raw') {
    const { width: w, height: h, rgb24 } = image;
    if (!Number.isInteger(w) || !Number.isInteger(h) || w <= 0 || h <= 0 || w * h > MAX_PIXELS) {
      throw invalidArgument(`${label}: raw frame size ${w}x${h} is not valid`);
    }
    if (rgb24.length !== w * h * 3) {
      throw invalidArgument(
        `${label}: a ${w}x${h} raw RGB24 frame has ${w * h * 3} bytes, but this one carries ${rgb24.length}`,
      );
    }
    // A copy in a buffer of its own: the message's bytes may be a Node Buffer view into a larger (pooled)
    // buffer, and the frame's buffer is transferred to a worker later.
    if (w === width && h === height) return { rgb: new Uint8Array(rgb24), sourceWidth: w, sourceHeight: h };
    const resized = await sharp(rgb24, { raw: { width: w, height: h, channels: 3 } })
      .resize(width, height, { fit: 'fill' })
      .raw()
      .toBuffer();
    return { rgb: new Uint8Array(resized), sourceWidth: w, sourceHeight: h };
  }
  if (image.bytes.length === 0) throw invalidArgument(`${label}: the ${image.kind} image is empty`);
  try {
    const decoder = sharp(image.bytes, { limitInputPixels: MAX_PIXELS, failOn: 'error' });
    const metadata = await decoder.metadata(); // the header only: the source size for the result
    const { data, info } = await decoder
      .removeAlpha()
      .toColourspace('srgb')
      .resize(width, height, { fit: 'fill' })
      .raw()
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) throw new Error(`decoded to ${info.channels} channels`);
    return { rgb: new Uint8Array(data), sourceWidth: metadata.width, sourceHeight: metadata.height };
  } catch (error: unknown) {
    const reason = error instanceof Error ? error.message : String(error);
    throw invalidArgument(`${label}: could not decode the ${image.kind} image: ${reason}`, error);
  }
}
