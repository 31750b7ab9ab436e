import { spawn, type ChildProcessByStdio } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { invalidArgument } from '../errors.js';
import { exited, terminate, TextTail, trackChild } from './child-process.js';
import { ffmpegBinary } from './ffmpeg.js';

/** Where the encoded video comes from. */
export type DecoderInput =
  /** Bytes written with `write()` / `end()` (uploads, encoded streams). */
  | { readonly kind: 'pipe'; readonly format?: string }
  /** A local file the caller has already checked access to. */
  | { readonly kind: 'file'; readonly path: string }
  /** A URL; `protocols` is ffmpeg's protocol whitelist for it (e.g. `['https', 'tls', 'tcp']`). */
  | {
      readonly kind: 'url';
      readonly url: string;
      readonly protocols: readonly string[];
    };

export interface DecoderOptions {
  readonly input: DecoderInput;
  /** Size of the decoded RGB24 frames (the model's input size); ffmpeg scales to it. */
  readonly width: number;
  readonly height: number;
  /** Sample rate in frames per second; unset keeps every frame. */
  readonly fps?: number;
  /** Seconds into the input to start at. */
  readonly startTime?: number;
  /** Stop after this many frames. */
  readonly maxFrames?: number;
  /** Aborting kills ffmpeg (SIGTERM, then SIGKILL). */
  readonly signal?: AbortSignal;
  /** The ffmpeg executable; defaults to the resolved one (see ffmpeg.ts). */
  readonly ffmpegPath?: string;
}

/** Builds ffmpeg's argument list (never a shell string) for a decode job. */
export function decoderArguments(options: DecoderOptions): string[] {
  const { input } = options;
  const args = ['-hide_banner', '-nostdin', '-loglevel', 'error'];
  if (options.startTime !== undefined && options.startTime > 0) args.push('-ss', String(options.startTime));
  switch (input.kind) {
    case 'pipe':
      // Only the pipe: a playlist or concat file on stdin cannot make ffmpeg open anything else.
      args.push('-protocol_whitelist', 'pipe');
      if (input.format !== undefined && input.format !== '') args.push('-f', input.format);
      args.push('-i', 'pipe:0');
      break;
    case 'file':
      args.push('-protocol_whitelist', 'file', '-i', `file:${input.path}`);
      break;
    case 'url':
      args.push('-protocol_whitelist', input.protocols.join(','), '-i', input.url);
      break;
  }
  const filters = [];
  if (options.fps !== undefined && options.fps > 0) filters.push(`fps=${options.fps}`);
  filters.push(`scale=${options.width}:${options.height}:flags=bilinear`);
  args.push('-an', '-sn', '-dn', '-vf', filters.join(','));
  if (options.maxFrames !== undefined && options.maxFrames > 0) args.push('-frames:v', String(options.maxFrames));
  args.push('-f', 'rawvideo', '-pix_fmt', 'rgb24', 'pipe:1');
  return args;
}

/**
 * One ffmpeg process that turns encoded video into raw RGB24 frames of a fixed size.
 * Frames are pulled with `frames()`: while nobody pulls, ffmpeg's stdout is not read, so the pipe fills and
 * ffmpeg blocks (backpressure down to the source).
 */
export class VideoDecoder {
  readonly frameBytes: number;
  readonly #child: ChildProcessByStdio<Writable, Readable, Readable>;
  readonly #stderr = new TextTail();
  readonly #onAbort = () => void this.close();
  #closed = false;

  constructor(private readonly options: DecoderOptions) {
    if (!Number.isInteger(options.width) || options.width <= 0) throw new TypeError('width must be a positive integer');
    if (!Number.isInteger(options.height) || options.height <= 0) {
      throw new TypeError('height must be a positive integer');
    }
    this.frameBytes = options.width * options.height * 3;
    const ffmpeg = options.ffmpegPath ?? ffmpegBinary().path;
    this.#child = spawn(ffmpeg, decoderArguments(options), {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    this.#child.stderr.on('data', (chunk: Buffer) => this.#stderr.push(chunk));
    // ffmpeg may exit before it has read all input (corrupt data, frame limit): the exit code, not EPIPE,
    // says what happened.
    this.#child.stdin.on('error', () => {});
    this.#child.on('error', () => {}); // spawn failures surface through frames()
    trackChild(this.#child);
    options.signal?.addEventListener('abort', this.#onAbort, { once: true });
    if (options.input.kind !== 'pipe') this.#child.stdin.end();
  }

  /** The process id, for tests and diagnostics. */
  get pid(): number | undefined {
    return this.#child.pid;
  }

  /** Writes encoded bytes (pipe input); resolves when ffmpeg can take more. */
  async write(chunk: Uint8Array): Promise<void> {
    const stdin = this.#child.stdin;
    if (this.#closed || stdin.destroyed || stdin.writableEnded) return;
    if (!stdin.write(chunk)) {
      await new Promise<void>((resolve) => {
        const done = () => {
          stdin.off('drain', done);
          stdin.off('close', done);
          resolve();
        };
        stdin.on('drain', done);
        stdin.on('close', done);
      });
    }
  }

  /** Ends the encoded input (pipe input). */
  end(): void {
    if (!this.#child.stdin.writableEnded) this.#child.stdin.end();
  }

  /**
   * The decoded frames, each a fresh `Uint8Array` of `frameBytes` (copied once out of the pipe's
   * chunks). Throws INVALID_ARGUMENT with ffmpeg's own reason when decoding fails.
   */
  async *frames(): AsyncGenerator<Uint8Array, void, undefined> {
    const frameBytes = this.frameBytes;
    let frame = new Uint8Array(frameBytes);
    let filled = 0;
    const spawnError = new Promise<Error>((resolve) => this.#child.once('error', resolve));
    try {
      try {
        for await (const chunk of this.#child.stdout as AsyncIterable<Buffer>) {
          let offset = 0;
          while (offset < chunk.length) {
            const take = Math.min(frameBytes - filled, chunk.length - offset);
            frame.set(chunk.subarray(offset, offset + take), filled);
            filled += take;
            offset += take;
            if (filled === frameBytes) {
              yield frame;
              frame = new Uint8Array(frameBytes);
              filled = 0;
            }
          }
        }
      } catch (error: unknown) {
        if (this.#closed) return; // closed or aborted while reading: a quiet end, not a decode error
        throw error;
      }
      const failure = await Promise.race([exited(this.#child).then(() => undefined), spawnError]);
      if (failure !== undefined)
        throw new Error(`could not start ffmpeg: ${failure.message}`, {
          cause: failure,
        });
      if (this.options.signal?.aborted || this.#closed) return;
      const { exitCode } = this.#child;
      if (exitCode !== 0) {
        const reason = this.#stderr.lastLines() || `ffmpeg exited with code ${String(exitCode)}`;
        throw invalidArgument(`could not decode the video: ${reason}`);
      }
      if (filled !== 0) throw invalidArgument(`the video ended inside a frame (${filled} of ${frameBytes} bytes)`);
    } finally {
      await this.close();
    }
  }

  /** Kills ffmpeg if it is still running and waits for it to exit. Safe to call more than once. */
  async close(): Promise<void> {
    this.#closed = true;
    this.options.signal?.removeEventListener('abort', this.#onAbort);
    this.#child.stdout.destroy();
    await terminate(this.#child);
  }
}
