import { readFile } from 'node:fs/promises';
import { FusionsegClient, FusionsegError } from '../client.js';

export const DEFAULT_SERVER = '127.0.0.1:50051';

/** A command-line mistake: printed with the usage, exit code 64. */
export class UsageError extends Error {
  override name = 'UsageError';
}

export interface ConnectionFlags {
  readonly server?: string | undefined;
  readonly tls?: boolean | undefined;
  readonly ca?: string | undefined;
}

export const connectionOptions = {
  server: { type: 'string' },
  tls: { type: 'boolean' },
  ca: { type: 'string' },
} as const;

export async function connect(flags: ConnectionFlags): Promise<FusionsegClient> {
  const ca = flags.ca === undefined ? undefined : new Uint8Array(await readFile(flags.ca));
  return new FusionsegClient(flags.server ?? DEFAULT_SERVER, {
    tls: flags.tls === true || ca !== undefined,
    ...(ca === undefined ? {} : { ca }),
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
