/** Runs the real `fusionseg` command (bin/fusionseg.mjs) in a child process, as a user would. */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const CLI = fileURLToPath(new URL('../../bin/fusionseg.mjs', import.meta.url));

export interface CliRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Resolves when the command exits, with its exit code and output. `env` is added to this process's
 * environment (FUSIONSEG_TOKEN is cleared first, so a token in the developer's shell never leaks in);
 * `onSpawn` gets the child (to kill it, or to act while it runs).
 */
export function fusionseg(
  args: readonly string[],
  onSpawn?: (child: ChildProcess) => void,
  env: NodeJS.ProcessEnv = {},
): Promise<CliRun> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, FUSIONSEG_TOKEN: '', ...env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
    onSpawn?.(child);
  });
}
