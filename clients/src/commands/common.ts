import { readFile } from 'node:fs/promises';
import type { TrackingOptions } from '../../../proto/generated/fusionseg/v1/segmentation.pb.js';
import { FusionsegClient, FusionsegError, grpcTarget } from '../client.js';

export const DEFAULT_SERVER = '127.0.0.1:50051';

/** A command-line mistake: printed with the usage, exit code 64. */
export class UsageError extends Error {
  override name = 'UsageError';
}

export interface ConnectionFlags {
  readonly server?: string | undefined;
  readonly tls?: boolean | undefined;
  readonly ca?: string | undefined;
  readonly 'tls-cert'?: string | undefined;
  readonly 'tls-key'?: string | undefined;
  readonly token?: string | undefined;
}

export const connectionOptions = {
  server: { type: 'string' },
  tls: { type: 'boolean' },
  ca: { type: 'string' },
  'tls-cert': { type: 'string' },
  'tls-key': { type: 'string' },
  token: { type: 'string' },
} as const;

/** `--help` / `-h`, which every command takes: it prints the command's usage and exits 0. */
export const helpOption = { help: { type: 'boolean', short: 'h' } } as const;

/** Prints a command's usage (with what the connection flags mean) for `--help`. */
export function printCommandUsage(usage: string): void {
  console.log(`usage: ${usage}\n\n${connectionHelp}`);
}

/** The connection flags, for each command's usage text. */
export const connectionUsage = `[--server ADDR] [--tls] [--ca FILE] [--tls-cert FILE --tls-key FILE] [--token T]`;

/** What the connection flags mean, once, at the end of the usage text. */
export const connectionHelp = `Connection: --server host:port (default ${DEFAULT_SERVER}); replicas as a comma-separated list of
IP:port (IPv6 as [::1]:port) or dns:///name:port (every address of the name), calls spread over the reachable
ones round-robin; --tls to use TLS (with --ca FILE, trust that PEM CA instead of the system's roots);
--tls-cert FILE --tls-key FILE, a PEM client certificate and key for servers that require mutual TLS
(implies --tls); --token T, a bearer token for servers with --auth-tokens-file (or FUSIONSEG_TOKEN in the
environment, which other users cannot read from ps).`;

export async function connect(flags: ConnectionFlags, env: NodeJS.ProcessEnv = process.env): Promise<FusionsegClient> {
  if ((flags['tls-cert'] === undefined) !== (flags['tls-key'] === undefined)) {
    throw new UsageError('--tls-cert and --tls-key go together (a client certificate and its key)');
  }
  const server = flags.server ?? DEFAULT_SERVER;
  try {
    grpcTarget(server);
  } catch (error: unknown) {
    throw new UsageError(`--server: ${(error as Error).message}`);
  }
  const file = async (path: string | undefined, flag: string) => {
    if (path === undefined) return undefined;
    try {
      return new Uint8Array(await readFile(path));
    } catch (error: unknown) {
      throw new Error(`--${flag}: cannot read ${path}: ${(error as Error).message}`);
    }
  };
  // One after another, so that with several unreadable files the error always names the first.
  const ca = await file(flags.ca, 'ca');
  const cert = await file(flags['tls-cert'], 'tls-cert');
  const key = await file(flags['tls-key'], 'tls-key');
  const token = flags.token ?? (env.FUSIONSEG_TOKEN || undefined);
  if (token !== undefined && !/^[\x21-\x7e]+$/.test(token)) {
    throw new UsageError(`--token (FUSIONSEG_TOKEN) must be visible ASCII characters, without spaces`);
  }
  return new FusionsegClient(server, {
    tls: flags.tls === true || ca !== undefined || cert !== undefined,
    ...(ca === undefined ? {} : { ca }),
    ...(cert === undefined || key === undefined ? {} : { cert, key }),
    ...(token === undefined ? {} : { token }),
  });
}

/** Exit codes: 0 ok; 1-16 the gRPC status of the server's error; 64 usage; 65 anything else. */
export function exitCodeFor(error: unknown): number {
  if (error instanceof FusionsegError) return error.code;
  if (error instanceof UsageError) return 64;
  return 65;
}

export function positiveNumber(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new UsageError(`--${flag} must be a positive number, got "${value}"`);
  return n;
}

export interface TrackingFlags {
  readonly track?: boolean | undefined;
  readonly 'no-tracking'?: boolean | undefined;
  readonly 'track-iou'?: string | undefined;
  readonly 'track-max-age'?: string | undefined;
  readonly tracks?: string | undefined;
}

/** The tracking settings flags of `process` and `stream` (each command adds the switch it needs). */
export const trackingSettingsOptions = {
  'track-iou': { type: 'string' },
  'track-max-age': { type: 'string' },
} as const;

/** What a command asks of tracking: the options to send, and whether its results will be tracked. */
export interface TrackingChoice {
  /** Always says `enabled`: the command's choice, whatever the server's default for the call. */
  readonly options: Partial<TrackingOptions>;
  readonly on: boolean;
}

/**
 * Tracking from the flags. `onByDefault`: the command's frames are a video (every command that streams one),
 * so `--no-tracking` switches tracking off; otherwise `--track` switches it on. `--track-iou`,
 * `--track-max-age` and `--tracks` need tracking on.
 */
export function trackingChoice(flags: TrackingFlags, onByDefault: boolean): TrackingChoice {
  const off = flags['no-tracking'] === true;
  const on = onByDefault ? !off : flags.track === true;
  if (off && flags.track === true) throw new UsageError('--track and --no-tracking contradict each other');
  const iou = unitInterval(flags['track-iou'], 'track-iou');
  const maxAge = nonNegativeInteger(flags['track-max-age'], 'track-max-age');
  const needsTracking = [
    ['--track-iou', iou],
    ['--track-max-age', maxAge],
    ['--tracks', flags.tracks],
  ] as const;
  for (const [flag, value] of needsTracking) {
    if (value !== undefined && !on) {
      throw new UsageError(
        `${flag} needs tracking, which ${onByDefault ? '--no-tracking switched off' : 'is off: add --track'}`,
      );
    }
  }
  if (!on) return { options: { enabled: false }, on };
  return {
    options: {
      enabled: true,
      ...(iou === undefined ? {} : { iouThreshold: iou }),
      ...(maxAge === undefined ? {} : { maxAge }),
    },
    on,
  };
}

function unitInterval(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n <= 0 || n > 1)
    throw new UsageError(`--${flag} must be a number in (0, 1], got "${value}"`);
  return n;
}

function nonNegativeInteger(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === '' || !Number.isSafeInteger(n) || n < 0)
    throw new UsageError(`--${flag} must be a whole number of frames (0 or more), got "${value}"`);
  return n;
}
