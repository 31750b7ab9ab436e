import type { ChildProcess } from 'node:child_process';

// The helpers clients use too (stopping a child, keeping the tail of its stderr) live in the shared module.
export { DEFAULT_KILL_GRACE_MS, exited, terminate, TextTail, writeToChild } from '../../../wire/src/child-process.js';

let alive = 0;

/** Counts `child` as alive until it exits or fails to start (for the ffmpeg processes metric). */
export function trackChild(child: ChildProcess): void {
  alive++;
  let counted = true;
  const done = () => {
    if (counted) alive--;
    counted = false;
  };
  child.once('exit', done);
  child.once('error', done);
}

/** Child processes (ffmpeg, ffprobe) started with trackChild that have not exited. */
export function aliveChildProcesses(): number {
  return alive;
}
