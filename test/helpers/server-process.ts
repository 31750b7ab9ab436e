/** A real server process (`server/src/main.ts`, as `npm start` runs it) on 127.0.0.1, killed when the test ends. */
import type { ExecutionContext } from 'ava';
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface ServerProcess {
  readonly child: ChildProcessByStdio<null, Readable, Readable>;
  readonly address: string;
  /** Everything the server printed so far (its log lines). */
  output(): string;
  /** The exit code once it exited; undefined while it runs. */
  exitCode(): number | null | undefined;
  /** Resolves with the exit code. */
  readonly exited: Promise<number | null>;
}

/**
 * Starts the server with `args` (the address is 127.0.0.1:0) and resolves once it serves; `ulimitFiles`
 * runs it under `ulimit -n`. Its info log line "serving model ... on 127.0.0.1:PORT" gives the port.
 */
export async function startServerProcess(
  t: ExecutionContext,
  args: readonly string[],
  options: { readonly ulimitFiles?: number } = {},
): Promise<ServerProcess> {
  const node = [process.execPath, '--import', 'tsx', 'server/src/main.ts', '--address', '127.0.0.1:0', ...args];
  const child =
    options.ulimitFiles === undefined
      ? spawn(node[0]!, node.slice(1), { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
      : spawn('bash', ['-c', `ulimit -n ${options.ulimitFiles}; exec "$0" "$@"`, ...node], {
          cwd: ROOT,
          stdio: ['ignore', 'pipe', 'pipe'],
        });
  t.teardown(() => child.kill('SIGKILL'));
  let output = '';
  let exitCode: number | null | undefined;
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => {
      exitCode = code;
      resolve(code);
    }),
  );
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout.on('data', () => {
      const match = /on 127\.0\.0\.1:(\d+)/.exec(output);
      if (match) resolve(Number(match[1]));
    });
    void exited.then(() => reject(new Error(`the server exited early:\n${output}`)));
  });
  return { child, address: `127.0.0.1:${port}`, output: () => output, exitCode: () => exitCode, exited };
}
