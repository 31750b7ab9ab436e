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
export const connectionHelp = `Connection: --server host:port (default ${DEFAULT_SERVER}); --tls to use TLS (with --ca FILE, trust
that PEM CA instead of the system's roots); --tls-cert FILE --tls-key FILE, a PEM client certificate and key
for servers that require mutual TLS (implies --tls); --token T, a bearer token for servers with
--auth-tokens-file (or FUSIONSEG_TOKEN in the environment, which other users cannot read from ps).`;

export async function connect(flags: ConnectionFlags, env: NodeJS.ProcessEnv = process.env): Promise<FusionsegClient> {
  if ((flags['tls-cert'] === undefined) !== (flags['tls-key'] === undefined)) {
    throw new UsageError('--tls-cert and --tls-key go together (a client certificate and its key)');
  }
  const file = async (path: string | undefined, flag: string) => {
    if (path === undefined) return undefined;
    try {
      return new Uint8Array(await readFile(path));
    } catch (error: unknown) {
      throw new Error(`--${flag}: cannot read ${path}: ${(error as Error).message}`);
    }
  };
  const [ca, cert, key] = await Promise.all([
    file(flags.ca, 'ca'),
    file(flags['tls-cert'], 'tls-cert'),
    file(flags['tls-key'], 'tls-key'),
  ]);
  const token = flags.token ?? (env.FUSIONSEG_TOKEN || undefined);
  if (token !== undefined && !/^[\x21-\x7e]+$/.test(token)) {
    throw new UsageError(`--token (FUSIONSEG_TOKEN) must be visible ASCII characters, without spaces`);
  }
  return new FusionsegClient(flags.server ?? DEFAULT_SERVER, {
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
