/**
 * What can go wrong with a client's media, in a few kinds, each with its gRPC status and a message that is
 * safe to show the client: never a server path, never ffmpeg's raw text (`[tcp @ 0x…]`, `file:/tmp/…`).
 * ffmpeg's own words go to the server's log (see `logMediaFailure`).
 */
import type { Logger } from 'pino';
import { ServerError, Status } from '../errors.js';

export type MediaErrorKind =
  /** Corrupt, truncated or not a video: INVALID_ARGUMENT. */
  | 'bad-media'
  /** A URL source that cannot be reached, or that stays silent: UNAVAILABLE. */
  | 'unreachable'
  /** ffmpeg / ffprobe killed by a signal or crashed: INTERNAL. */
  | 'decoder-crashed'
  /** ffmpeg / ffprobe could not be started (EMFILE, EAGAIN, ENOMEM...): RESOURCE_EXHAUSTED or UNAVAILABLE. */
  | 'spawn-failed'
  /** Frames larger than the server's pixel cap: INVALID_ARGUMENT. */
  | 'too-large'
  /** A container (demuxer) that is not on the server's list, e.g. a playlist: INVALID_ARGUMENT. */
  | 'forbidden-container'
  /** A URL whose host resolves to an address the server may not reach: PERMISSION_DENIED. */
  | 'forbidden-host';

/** Errno codes of a failed spawn that mean "the server is out of something" rather than "cannot run at all". */
const EXHAUSTED_CODES = new Set(['EMFILE', 'ENFILE', 'EAGAIN', 'ENOMEM']);

/** A media failure: a ServerError (its status and clean details reach the client) with a kind. */
export class MediaError extends ServerError {
  constructor(
    readonly kind: MediaErrorKind,
    details: string,
    options: { cause?: unknown; code?: Status } = {},
  ) {
    super(options.code ?? statusOfKind(kind), details, { cause: options.cause });
    this.name = 'MediaError';
  }
}

function statusOfKind(kind: MediaErrorKind): Status {
  switch (kind) {
    case 'bad-media':
    case 'too-large':
    case 'forbidden-container':
      return Status.INVALID_ARGUMENT;
    case 'unreachable':
      return Status.UNAVAILABLE;
    case 'decoder-crashed':
      return Status.INTERNAL;
    case 'spawn-failed':
      return Status.UNAVAILABLE;
    case 'forbidden-host':
      return Status.PERMISSION_DENIED;
  }
}

/** A failed spawn of `tool`: RESOURCE_EXHAUSTED when the host ran out of fds, processes or memory. */
export function spawnFailure(tool: string, error: unknown): MediaError {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  const exhausted = code !== undefined && EXHAUSTED_CODES.has(code);
  return new MediaError(
    'spawn-failed',
    exhausted
      ? `the server is out of resources to start a decoder (${code}); retry later`
      : `the server could not start its decoder${code === undefined ? '' : ` (${code})`}`,
    { cause: error, code: exhausted ? Status.RESOURCE_EXHAUSTED : Status.UNAVAILABLE },
  );
}

/** How a tool's process ended, and what it said. */
export interface ToolExit {
  readonly exitCode: number | null;
  readonly signal: NodeJS.Signals | null;
  /** The tail of its stderr. */
  readonly stderr: string;
  /** Whether the input was a network URL (network errors are then UNAVAILABLE, not bad media). */
  readonly network: boolean;
}

const NETWORK_FAILURE =
  /Connection refused|Connection timed out|timed out|Network is unreachable|No route to host|Connection reset|Host is unreachable|Name or service not known|Failed to resolve|Temporary failure in name resolution|Server returned [45]\d\d|HTTP error [45]\d\d|End of file|I\/O error|Broken pipe|Input\/output error/i;

/** Demuxer names of ffmpeg's `[name @ 0x…] Format not on whitelist` line. */
function refusedFormat(stderr: string): string | undefined {
  const match = /\[([\w,]+) @ [^\]]*\] Format not on whitelist/.exec(stderr);
  return match?.[1]?.split(',')[0];
}

/**
 * Classifies a failed ffmpeg / ffprobe run. `prefix` starts every client message (e.g. "could not decode
 * the video"); `maxPixels` names the cap in a too-large message.
 */
export function classifyToolExit(exit: ToolExit, maxPixels: number | undefined, prefix: string): MediaError {
  const { stderr } = exit;
  if (exit.signal !== null || /received signal|Segmentation fault|Aborted/i.test(stderr)) {
    return new MediaError('decoder-crashed', 'the decoder crashed (the server logged the details)');
  }
  const size = /Picture size (\d+)x(\d+) exceeds specified max pixel count/.exec(stderr);
  if (size !== null) {
    const [, width, height] = size;
    return tooLarge(Number(width), Number(height), maxPixels ?? 0);
  }
  if (/Format not on whitelist/.test(stderr)) {
    const format = refusedFormat(stderr);
    return new MediaError(
      'forbidden-container',
      `${prefix}: the ${format === undefined ? 'video' : `"${format}"`} container is not accepted by this server ` +
        '(playlists, concat lists, image sequences and other formats that name further files are refused)',
    );
  }
  if (/Protocol '?[\w-]*'? not on whitelist/.test(stderr)) {
    return new MediaError(
      'forbidden-container',
      `${prefix}: the video refers to other files or URLs, which this server does not open`,
    );
  }
  if (exit.network && NETWORK_FAILURE.test(stderr)) {
    return new MediaError('unreachable', 'the video source could not be reached or stopped sending data');
  }
  if (/moov atom not found|Invalid data found|could not find codec parameters|End of file/i.test(stderr)) {
    return new MediaError('bad-media', `${prefix}: the video is corrupt or truncated`);
  }
  if (/does not contain any stream|Output file #0 does not contain|matches no streams/i.test(stderr)) {
    return new MediaError('bad-media', `${prefix}: the file has no video stream`);
  }
  return new MediaError('bad-media', `${prefix}: the video is corrupt, truncated or not a supported video`);
}

export function tooLarge(width: number, height: number, maxPixels: number): MediaError {
  return new MediaError(
    'too-large',
    `the video's frames are ${width}x${height}, over this server's limit of ${maxPixels} pixels`,
  );
}

/** Logs a media failure with ffmpeg's own words (which the client never sees). */
export function logMediaFailure(log: Logger | undefined, error: MediaError, what: string, stderr: string): void {
  if (log === undefined) return;
  const fields = { kind: error.kind, details: error.details, ffmpeg: stderr, err: error.cause };
  if (error.kind === 'decoder-crashed' || error.kind === 'spawn-failed') log.error(fields, `${what} failed`);
  else log.warn(fields, `${what} failed`);
}
