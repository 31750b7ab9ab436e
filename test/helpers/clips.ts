import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { ExecutionContext } from 'ava';
import { ffmpegBinary } from '../../server/src/video/ffmpeg.js';

const execFileAsync = promisify(execFile);

export interface ClipOptions {
  readonly width?: number;
  readonly height?: number;
  readonly frames?: number;
  readonly rate?: number;
  /** File name; its extension picks the container (default `clip.mp4`, H.264). */
  readonly name?: string;
}

/** A temporary folder removed when the test ends. */
export async function tempDir(t: ExecutionContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'fusionseg-test-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** Makes a clip of ffmpeg's lavfi `testsrc` pattern with a known frame count and size. */
export async function makeTestClip(dir: string, options: ClipOptions = {}): Promise<string> {
  const { width = 320, height = 240, frames = 10, rate = 10, name = 'clip.mp4' } = options;
  const path = join(dir, name);
  const h264 = ['-c:v', 'libx264', '-pix_fmt', 'yuv420p'];
  // faststart puts the index first, so the MP4 also decodes from a pipe (ffmpeg cannot seek back there).
  const codec = name.endsWith('.mp4') ? [...h264, '-movflags', '+faststart'] : name.endsWith('.mkv') ? h264 : [];
  await execFileAsync(ffmpegBinary().path, [
    '-hide_banner',
    '-loglevel',
    'error',
    '-f',
    'lavfi',
    '-i',
    `testsrc=size=${width}x${height}:rate=${rate}`,
    '-frames:v',
    String(frames),
    ...codec,
    '-y',
    path,
  ]);
  return path;
}
