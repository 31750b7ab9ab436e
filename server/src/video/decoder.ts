import { spawn, type ChildProcess } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import type { Logger } from 'pino';
import { exited, terminate, TextTail, trackChild, writeToChild } from './child-process.js';
import { RawFrameCutter } from '../../../wire/src/raw-frames.js';
import { ffmpegBinary } from './ffmpeg.js';
import { classifyToolExit, logMediaFailure, MediaError, spawnFailure } from './media-error.js';

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
      /** `http://127.0.0.1:port`: an HTTP proxy every http(s) connection of ffmpeg goes through. */
      readonly httpProxy?: string;
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
  /** ffmpeg demuxers the input may be opened as (`-format_whitelist`); unset = any. */
  readonly formats?: readonly string[];
  /** The largest frame (width x height) ffmpeg's decoder accepts (`-max_pixels`). */
  readonly maxPixels?: number;
  /** A network read or connect that takes longer fails (`-rw_timeout`; URL inputs only). */
  readonly ioTimeoutMs?: number;
  /** Asks ffmpeg for its input description, so that `inputInfo` can report the source size and rate. */
  readonly reportInput?: boolean;
  /** Reports each frame's presentation time from ffmpeg itself (`frameTime`), not from its index. */
  readonly timestamps?: boolean;
  /** Aborting kills ffmpeg (SIGTERM, then SIGKILL). */
  readonly signal?: AbortSignal;
  /** The ffmpeg executable; defaults to the resolved one (see ffmpeg.ts). */
  readonly ffmpegPath?: string;
  /** Where ffmpeg's own words about a failure go (clients get a clean message only). */
  readonly log?: Logger;
}

/** What ffmpeg said about its input video stream. */
export interface InputInfo {
  readonly width: number;
  readonly height: number;
  readonly frameRate: number | undefined;
}

/**
 * A number as ffmpeg reads it: a plain decimal, never exponent notation (`String(1e-7)` is "1e-7", which
 * ffmpeg's time and rate parsers reject).
 */
export function plainDecimal(value: number): string {
  if (!Number.isFinite(value)) throw new RangeError(`${value} is not a finite number`);
  const text = String(value);
  const match = /^(-?)(\d+)(?:\.(\d+))?e([+-]\d+)$/.exec(text);
  if (match === null) return text;
  // The shortest digits that round-trip (what String() gives), with the point moved: 1.5e-7 -> 0.00000015.
  const [, sign = '', whole = '', fraction = '', exponentText = '0'] = match;
  const digits = whole + fraction;
  const point = whole.length + Number(exponentText);
  if (point <= 0) return `${sign}0.${'0'.repeat(-point)}${digits}`;
  if (point >= digits.length) return `${sign}${digits}${'0'.repeat(point - digits.length)}`;
  return `${sign}${digits.slice(0, point)}.${digits.slice(point)}`;
}

/** Builds ffmpeg's argument list (never a shell string) for a decode job. */
export function decoderArguments(options: DecoderOptions): string[] {
  const { input } = options;
  const verbose = options.reportInput === true || options.timestamps === true;
  const args = ['-hide_banner', '-nostdin', '-nostats', '-loglevel', verbose ? 'info' : 'error'];
  if (options.formats !== undefined) args.push('-format_whitelist', options.formats.join(','));
  if (options.maxPixels !== undefined) args.push('-max_pixels', String(Math.floor(options.maxPixels)));
  if (options.startTime !== undefined && options.startTime > 0) args.push('-ss', plainDecimal(options.startTime));
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
      args.push('-protocol_whitelist', input.protocols.join(','));
      if (options.ioTimeoutMs !== undefined) args.push('-rw_timeout', String(Math.round(options.ioTimeoutMs * 1000)));
      if (input.httpProxy !== undefined) args.push('-http_proxy', input.httpProxy);
      args.push('-i', input.url);
      break;
  }
  const filters = [];
  if (options.fps !== undefined && options.fps > 0) filters.push(`fps=${plainDecimal(options.fps)}`);
  filters.push(`scale=${options.width}:${options.height}:flags=bilinear`);
  // Last in the chain, so that it sees exactly the frames written: one line per frame with its pts_time.
  if (options.timestamps === true) filters.push('showinfo');
  args.push('-an', '-sn', '-dn', '-vf', filters.join(','));
  // Each decoded frame once, as the filters passed it: raw video output would otherwise duplicate frames
  // to make variable-rate video constant-rate, and frames and their reported times would drift apart.
  if (options.timestamps === true) args.push('-vsync', 'passthrough');
  if (options.maxFrames !== undefined && options.maxFrames > 0) args.push('-frames:v', String(options.maxFrames));
  args.push('-f', 'rawvideo', '-pix_fmt', 'rgb24', 'pipe:1');
  return args;
}

/** The environment ffmpeg runs with: no proxy settings of the server's own (they would bypass the URL checks). */
function childEnvironment(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const name of ['http_proxy', 'HTTP_PROXY', 'https_proxy', 'HTTPS_PROXY', 'no_proxy', 'NO_PROXY']) {
    delete env[name];
  }
  return env;
}

/** A showinfo line: `[Parsed_showinfo_2 @ 0x…] n:   3 pts: 3 pts_time:0.12 …`. */
const SHOWINFO_LINE = /\] n:\s*(\d+)\s+pts:\s*-?\d+\s+pts_time:(-?[\d.]+(?:e[-+]?\d+)?)/;

/** The first video stream of ffmpeg's input description (`Stream #0:0...: Video: h264 ..., 320x240 ..., 25 fps`). */
function parseInputInfo(received: string): InputInfo | undefined {
  const text = received.slice(0, received.lastIndexOf('\n') + 1); // complete lines only
  const start = text.indexOf('Input #0');
  if (start < 0) return undefined;
  const end = text.indexOf('Output #0', start);
  const section = text.slice(start, end < 0 ? undefined : end);
  const line = /Stream #0:\d+.*: Video: (.*)/.exec(section)?.[1];
  if (line === undefined) return undefined;
  const size = /, (\d+)x(\d+)(?=[ ,]|$)/.exec(line);
  if (size === null) return undefined;
  const fps = /, ([\d.]+)(k?) fps/.exec(line);
  const frameRate = fps === null ? undefined : Number(fps[1]) * (fps[2] === 'k' ? 1000 : 1);
  return {
    width: Number(size[1]),
    height: Number(size[2]),
    frameRate: frameRate !== undefined && Number.isFinite(frameRate) && frameRate > 0 ? frameRate : undefined,
  };
}

type DecoderChild = ChildProcess & { stdin: Writable | null; stdout: Readable | null; stderr: Readable | null };

/**
 * One ffmpeg process that turns encoded video into raw RGB24 frames of a fixed size.
 * Frames are pulled with `frames()`: while nobody pulls, ffmpeg's stdout is not read, so the pipe fills and
 * ffmpeg blocks (backpressure down to the source).
 *
 * A failed start (EMFILE, EAGAIN, ENOMEM, a missing binary) never throws from the constructor and never
 * becomes an unhandled `error` event: `frames()` throws it as a MediaError of kind `spawn-failed`.
 */
export class VideoDecoder {
  readonly frameBytes: number;
  readonly #child: DecoderChild | undefined;
  readonly #stderr: TextTail;
  readonly #onAbort = () => void this.close();
  #spawnError: Error | undefined;
  #closed = false;
  #inputInfo: InputInfo | undefined;
  #inputSettled = false;
  #inputWaiters: ((info: InputInfo | undefined) => void)[] = [];
  /** Presentation times in seconds of the frames written so far (`timestamps`), by frame number. */
  readonly #frameTimes: number[] = [];
  #partialLine = '';
  #stderrEnded = false;
  #timeWaiters: (() => void)[] = [];

  constructor(private readonly options: DecoderOptions) {
    if (!Number.isInteger(options.width) || options.width <= 0) throw new TypeError('width must be a positive integer');
    if (!Number.isInteger(options.height) || options.height <= 0) {
      throw new TypeError('height must be a positive integer');
    }
    this.frameBytes = options.width * options.height * 3;
    this.#stderr = new TextTail(options.reportInput === true ? 32_768 : 8192);
    let child: DecoderChild | undefined;
    try {
      const ffmpeg = options.ffmpegPath ?? ffmpegBinary().path;
      child = spawn(ffmpeg, decoderArguments(options), {
        stdio: ['pipe', 'pipe', 'pipe'],
        env: childEnvironment(),
      });
    } catch (error: unknown) {
      // Some spawn failures (ENOMEM, a missing binary) throw at once.
      this.#spawnError = error instanceof Error ? error : new Error(String(error));
    }
    this.#child = child;
    if (child !== undefined) {
      // First, before anything else can fail: with EMFILE the stdio pipes are never created (stdout and
      // stderr are null) and the failure arrives as an 'error' event on the next tick.
      child.on('error', (error: Error) => {
        this.#spawnError ??= error;
        this.#settleInput();
      });
      trackChild(child);
      child.stderr?.on('data', (chunk: Buffer) => {
        // Per-frame showinfo lines become frame times; only the rest is kept for error messages.
        if (options.timestamps === true) chunk = Buffer.from(this.#takeFrameTimes(chunk.toString()));
        this.#stderr.push(chunk);
        if (!this.#inputSettled && options.reportInput === true) {
          const text = this.#stderr.text();
          const info = parseInputInfo(text);
          if (info !== undefined || /Stream mapping:|Output #0|Press \[q\]/.test(text)) {
            this.#inputInfo = info;
            this.#settleInput();
          }
        }
      });
      child.stderr?.on('close', () => {
        this.#settleInput();
        this.#stderrEnded = true;
        for (const wake of this.#timeWaiters.splice(0)) wake();
      });
      // ffmpeg may exit before it has read all input (corrupt data, frame limit): the exit code, not EPIPE,
      // says what happened.
      child.stdin?.on('error', () => {});
      if (options.input.kind !== 'pipe') child.stdin?.end();
    }
    if (options.reportInput !== true) this.#settleInput();
    options.signal?.addEventListener('abort', this.#onAbort, { once: true });
  }

  /** Records the frame times of the complete showinfo lines in `text`; returns the other text. */
  #takeFrameTimes(text: string): string {
    const lines = (this.#partialLine + text).split('\n');
    this.#partialLine = lines.pop() ?? '';
    const rest: string[] = [];
    for (const line of lines) {
      const match = SHOWINFO_LINE.exec(line);
      if (match === null) {
        if (!line.includes('Parsed_showinfo')) rest.push(line);
        continue;
      }
      this.#frameTimes[Number(match[1])] = Number(match[2]);
    }
    for (const wake of this.#timeWaiters.splice(0)) wake();
    return rest.length === 0 ? '' : `${rest.join('\n')}\n`;
  }

  /**
   * The presentation time in seconds of frame `index` (0-based, in the order `frames()` yields them) as
   * ffmpeg reported it (with `timestamps`); undefined when it did not. ffmpeg reports a frame's time before
   * it writes the frame, so this waits only for the two pipes to be read.
   */
  async frameTime(index: number): Promise<number | undefined> {
    if (this.options.timestamps !== true) return undefined;
    while (this.#frameTimes[index] === undefined && !this.#stderrEnded) {
      await new Promise<void>((resolve) => this.#timeWaiters.push(resolve));
    }
    return this.#frameTimes[index];
  }

  #settleInput(): void {
    if (this.#inputSettled) return;
    this.#inputSettled = true;
    for (const resolve of this.#inputWaiters.splice(0)) resolve(this.#inputInfo);
  }

  /** The process id, for tests and diagnostics (undefined when ffmpeg could not be started). */
  get pid(): number | undefined {
    return this.#child?.pid;
  }

  /**
   * The input's video size and rate as ffmpeg described them (with `reportInput`); undefined when unknown.
   * Settles before the first frame is yielded, or when ffmpeg ends.
   */
  inputInfo(): Promise<InputInfo | undefined> {
    if (this.#inputSettled) return Promise.resolve(this.#inputInfo);
    return new Promise((resolve) => this.#inputWaiters.push(resolve));
  }

  /** Writes encoded bytes (pipe input); resolves when ffmpeg can take more. */
  async write(chunk: Uint8Array): Promise<void> {
    if (!this.#closed) await writeToChild(this.#child?.stdin, chunk);
  }

  /** Ends the encoded input (pipe input). */
  end(): void {
    const stdin = this.#child?.stdin;
    if (stdin != null && !stdin.writableEnded) stdin.end();
  }

  /** Resolves with the spawn error once it is known (at once, or on the next tick's 'error' event). */
  async #failedStart(): Promise<Error | undefined> {
    if (this.#spawnError !== undefined) return this.#spawnError;
    const child = this.#child;
    if (child === undefined) return new Error('ffmpeg was not started');
    if (child.pid !== undefined && child.stdout !== null) return undefined;
    await new Promise<void>((resolve) => setImmediate(resolve));
    return this.#spawnError ?? (child.stdout === null ? new Error('ffmpeg has no output pipe') : undefined);
  }

  /**
   * The decoded frames, each a fresh `Uint8Array` of `frameBytes` (copied once out of the pipe's chunks).
   * Throws a MediaError when decoding fails: its message is clean, ffmpeg's words go to the log.
   */
  async *frames(): AsyncGenerator<Uint8Array, void, undefined> {
    const cutter = new RawFrameCutter(this.frameBytes);
    try {
      const startError = await this.#failedStart();
      if (startError !== undefined) throw this.#fail(spawnFailure('ffmpeg', startError), 'starting ffmpeg');
      const child = this.#child!;
      const spawnError = new Promise<Error>((resolve) => child.once('error', resolve));
      try {
        for await (const chunk of child.stdout as AsyncIterable<Buffer>) {
          for (const frame of cutter.push(chunk)) {
            if (!this.#inputSettled) await this.#inputSoon();
            yield frame;
          }
        }
      } catch (error: unknown) {
        if (this.#closed) return; // closed or aborted while reading: a quiet end, not a decode error
        throw error;
      }
      const failure = await Promise.race([exited(child).then(() => undefined), spawnError]);
      if (failure !== undefined) throw this.#fail(spawnFailure('ffmpeg', failure), 'starting ffmpeg');
      if (this.options.signal?.aborted || this.#closed) return;
      const { exitCode, signalCode } = child;
      if (exitCode !== 0) {
        const error = classifyToolExit(
          {
            exitCode,
            signal: signalCode,
            stderr: this.#stderr.text(),
            network: this.options.input.kind === 'url',
          },
          this.options.maxPixels,
          'could not decode the video',
        );
        throw this.#fail(error, 'decoding');
      }
      if (cutter.partialBytes !== 0) {
        throw this.#fail(
          new MediaError(
            'bad-media',
            `could not decode the video: it ended inside a frame (${cutter.partialBytes} of ${this.frameBytes} bytes)`,
          ),
          'decoding',
        );
      }
    } finally {
      await this.close();
    }
  }

  /**
   * Waits for ffmpeg's input description: it precedes the first frame on stderr (the bound only guards
   * against an ffmpeg that never prints it).
   */
  async #inputSoon(): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.inputInfo(), new Promise<void>((resolve) => (timer = setTimeout(resolve, 5000)))]);
    clearTimeout(timer);
    this.#settleInput();
  }

  #fail(error: MediaError, what: string): MediaError {
    logMediaFailure(this.options.log, error, `ffmpeg ${what}`, this.#stderr.lastLines(12));
    return error;
  }

  /** Kills ffmpeg if it is still running and waits for it to exit. Safe to call more than once. */
  async close(): Promise<void> {
    this.#closed = true;
    this.options.signal?.removeEventListener('abort', this.#onAbort);
    this.#settleInput();
    const child = this.#child;
    if (child === undefined) return;
    child.stdout?.destroy();
    // A process that never started has nothing to stop (and never emits 'exit').
    if (child.pid === undefined || this.#spawnError !== undefined) return;
    await terminate(child);
  }
}
