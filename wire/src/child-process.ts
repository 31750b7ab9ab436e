/** Helpers for the ffmpeg and ffprobe child processes of the server and the clients. */
import type { ChildProcess } from 'node:child_process';
import type { Writable } from 'node:stream';

/** How long a child gets between SIGTERM and SIGKILL. */
export const DEFAULT_KILL_GRACE_MS = 2000;

/**
 * Writes to a child's stdin and resolves when it can take more ('drain'), or at once when the pipe is
 * closed (the child stopped reading: its exit code, not the write, says why).
 */
export async function writeToChild(stdin: Writable | null | undefined, chunk: Uint8Array): Promise<void> {
  if (stdin == null || stdin.destroyed || stdin.writableEnded) return;
  if (stdin.write(chunk)) return;
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

/** Resolves when the child has exited (at once if it already has). */
export function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

/**
 * Stops a child: SIGTERM, then SIGKILL if it is still alive after `graceMs`. Resolves once it has
 * exited, so no zombie outlives the call.
 */
export async function terminate(child: ChildProcess, graceMs = DEFAULT_KILL_GRACE_MS): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const done = exited(child);
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  try {
    await done;
  } finally {
    clearTimeout(timer);
  }
}

/** Keeps the last `maxBytes` of a stream's text (ffmpeg's stderr), for error messages. */
export class TextTail {
  #text = '';
  constructor(private readonly maxBytes = 4096) {}

  push(chunk: Buffer | string): void {
    this.#text += chunk.toString();
    if (this.#text.length > this.maxBytes) this.#text = this.#text.slice(-this.maxBytes);
  }

  /** Everything kept. */
  text(): string {
    return this.#text;
  }

  /** The last `lines` non-empty lines. */
  lastLines(lines = 5): string {
    return this.#text
      .split(/\r?\n/)
      .map((line) => line.trim())
      .filter((line) => line !== '')
      .slice(-lines)
      .join('\n');
  }
}
