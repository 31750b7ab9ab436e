/**
 * The client's own ffmpeg reader: decodes a local video (a file, a URL, or bytes written to it) into RGB24
 * frames of one size, for `fusionseg stream` (which sends them) and for the overlays of `fusionseg
 * process`. It reads what the user pointed it at on their own machine, so it has none of the server
 * decoder's confinement; it samples frames the way the server does (fps filter, start time, frame limit).
 */
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { exited, terminate, TextTail, writeToChild } from '../../wire/src/child-process.js';
import { RawFrameCutter } from '../../wire/src/raw-frames.js';
import { ffmpegBinary } from '../../wire/src/media-tools.js';

/** Where the video comes from. */
export type ReaderInput =
  /** Bytes written with `write()` / `end()` (e.g. standard input). */
  | { readonly kind: 'pipe'; readonly format?: string }
  | { readonly kind: 'file'; readonly path: string }
  /** A URL and the ffmpeg protocols its scheme needs (wire/src/media-urls.ts). */
  | { readonly kind: 'url'; readonly url: string; readonly protocols: readonly string[] };

export interface ReaderOptions {
  readonly input: ReaderInput;
  /** Size of the RGB24 frames; ffmpeg scales to it. */
  readonly width: number;
  readonly height: number;
  /** Frames per second to sample; unset keeps every frame. */
  readonly fps?: number | undefined;
  /** Seconds into the input to start at. */
  readonly startTime?: number | undefined;
  /** Stop after this many frames. */
  readonly maxFrames?: number | undefined;
  /** Aborting stops ffmpeg. */
  readonly signal?: AbortSignal;
  /** The ffmpeg executable; defaults to the resolved one (wire/src/media-tools.ts). */
  readonly ffmpegPath?: string;
}

/** A number as ffmpeg reads it: plain decimals, never exponent notation. */
function decimal(value: number): string {
  if (!Number.isFinite(value) || value < 0) throw new RangeError(`${value} is not a non-negative finite number`);
  return value.toFixed(6).replace(/\.?0+$/, '') || '0';
}

/** ffmpeg's argument list (never a shell string) for a read job. */
export function readerArguments(options: ReaderOptions): string[] {
  const { input } = options;
  const args = ['-hide_banner', '-nostdin', '-nostats', '-loglevel', 'error'];
  if (options.startTime !== undefined && options.startTime > 0) args.push('-ss', decimal(options.startTime));
  switch (input.kind) {
    case 'pipe':
      if (input.format !== undefined && input.format !== '') args.push('-f', input.format);
      args.push('-i', 'pipe:0');
      break;
    case 'file':
      args.push('-i', `file:${input.path}`);
      break;
    case 'url':
      args.push('-protocol_whitelist', input.protocols.join(','), '-i', input.url);
      break;
  }
  const filters = [];
  if (options.fps !== undefined && options.fps > 0) filters.push(`fps=${decimal(options.fps)}`);
  filters.push(`scale=${options.width}:${options.height}:flags=bilinear`);
  args.push('-an', '-sn', '-dn', '-vf', filters.join(','));
  if (options.maxFrames !== undefined && options.maxFrames > 0) args.push('-frames:v', String(options.maxFrames));
  args.push('-f', 'rawvideo', '-pix_fmt', 'rgb24', 'pipe:1');
  return args;
}

/**
 * One ffmpeg process turning a video into RGB24 frames. Frames are pulled with `frames()`; while nobody
 * pulls, ffmpeg's output is not read and it blocks. `close()` (or the signal) stops it.
 */
export class VideoReader {
  readonly frameBytes: number;
  readonly #child: ChildProcessByStdio<Writable, Readable, Readable>;
  readonly #stderr = new TextTail(8192);
  readonly #started: Promise<Error | undefined>;
  readonly #onAbort = () => void this.close();
  #closed = false;

  constructor(private readonly options: ReaderOptions) {
    if (!Number.isInteger(options.width) || options.width <= 0) throw new TypeError('width must be a positive integer');
    if (!Number.isInteger(options.height) || options.height <= 0) {
      throw new TypeError('height must be a positive integer');
    }
    this.frameBytes = options.width * options.height * 3;
    this.#child = spawn(options.ffmpegPath ?? ffmpegBinary().path, readerArguments(options), {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    this.#started = new Promise((resolve) => {
      this.#child.once('spawn', () => resolve(undefined));
      this.#child.once('error', (error) => resolve(error));
    });
    this.#child.stderr.on('data', (chunk: Buffer) => this.#stderr.push(chunk));
    // ffmpeg may stop reading before the input ends (frame limit, bad data): its exit code says what happened.
    this.#child.stdin.on('error', () => {});
    if (options.input.kind !== 'pipe') this.#child.stdin.end();
    options.signal?.addEventListener('abort', this.#onAbort, { once: true });
  }

  /** Writes encoded bytes (pipe input); resolves when ffmpeg can take more. */
  async write(chunk: Uint8Array): Promise<void> {
    if (!this.#closed) await writeToChild(this.#child.stdin, chunk);
  }

  /** Ends the written input (pipe input). */
  end(): void {
    if (!this.#child.stdin.writableEnded) this.#child.stdin.end();
  }

  /** The frames, each a fresh `Uint8Array` of `frameBytes`. Throws when ffmpeg cannot start or fails. */
  async *frames(): AsyncGenerator<Uint8Array, void, undefined> {
    const cutter = new RawFrameCutter(this.frameBytes);
    try {
      const startError = await this.#started;
      if (startError !== undefined) throw new Error(`cannot start ffmpeg: ${startError.message}`);
      try {
        for await (const chunk of this.#child.stdout as AsyncIterable<Buffer>) yield* cutter.push(chunk);
      } catch (error: unknown) {
        if (this.#closed) return; // stopped while reading: a quiet end
        throw error;
      }
      await exited(this.#child);
      if (this.#closed || this.options.signal?.aborted) return;
      const { exitCode, signalCode } = this.#child;
      if (exitCode !== 0) {
        const said = this.#stderr.lastLines(3);
        throw new Error(
          `ffmpeg could not read the video (${signalCode ?? `exit code ${exitCode}`})${said === '' ? '' : `: ${said}`}`,
        );
      }
      if (cutter.partialBytes !== 0) {
        throw new Error(`the video ended inside a frame (${cutter.partialBytes} of ${this.frameBytes} bytes)`);
      }
    } finally {
      await this.close();
    }
  }

  /** Stops ffmpeg if it is still running and waits for it to exit. Safe to call more than once. */
  async close(): Promise<void> {
    this.#closed = true;
    this.options.signal?.removeEventListener('abort', this.#onAbort);
    this.#child.stdout.destroy();
    if ((await this.#started) !== undefined) return; // never started: nothing to stop
    await terminate(this.#child);
  }
}
