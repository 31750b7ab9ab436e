/** Hostile media made by the tests: playlists that point outside, concat lists, frames that declare a huge size. */
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { pino, type Logger } from 'pino';
import { ffmpegBinary } from '../../server/src/video/ffmpeg.js';

const execFileAsync = promisify(execFile);

async function ffmpeg(args: string[]): Promise<void> {
  await execFileAsync(ffmpegBinary().path, ['-hide_banner', '-loglevel', 'error', ...args]);
}

/** A small MPEG-TS clip (the "secret" a playlist must not reach). */
export async function makeTsClip(dir: string, name = 'secret.ts', frames = 5): Promise<string> {
  const path = join(dir, name);
  await ffmpeg([
    '-f',
    'lavfi',
    '-i',
    'testsrc=size=64x48:rate=10',
    '-frames:v',
    String(frames),
    '-c:v',
    'mpeg2video',
    '-f',
    'mpegts',
    '-y',
    path,
  ]);
  return path;
}

/** An HLS playlist whose one segment is `segment` (an absolute path or URL). */
export function hlsPlaylist(segment: string): string {
  return `#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:1\n#EXTINF:0.5,\n${segment}\n#EXT-X-ENDLIST\n`;
}

/** An ffconcat list naming `file`. */
export function concatList(file: string): string {
  return `ffconcat version 1.0\nfile '${file}'\n`;
}

/**
 * A tiny FFV1 AVI whose headers declare `size` x `size` frames (62 KB of data decoding to 16000x16000 makes
 * an unguarded ffmpeg allocate hundreds of MiB). Encoded at 256x256, then the AVI's fixed-width size
 * fields (avih and the stream's BITMAPINFOHEADER) are rewritten: no huge frame is ever made.
 */
export async function makeHugeDeclaredAvi(dir: string, size = 16000, name = 'huge.avi'): Promise<string> {
  const small = join(dir, `small-${name}`);
  await ffmpeg([
    '-f',
    'lavfi',
    '-i',
    'color=red:size=256x256:rate=5',
    '-frames:v',
    '3',
    '-c:v',
    'ffv1',
    '-f',
    'avi',
    '-y',
    small,
  ]);
  const bytes = await readFile(small);
  const patch = (tag: string, offset: number) => {
    const at = bytes.indexOf(tag);
    if (at < 0) throw new Error(`no ${tag} chunk in the AVI`);
    bytes.writeUInt32LE(size, at + offset);
    bytes.writeUInt32LE(size, at + offset + 4);
  };
  patch('avih', 8 + 32); // dwWidth, dwHeight after 8 DWORDs
  patch('strf', 8 + 4); // biWidth, biHeight after biSize
  const path = join(dir, name);
  await writeFile(path, bytes);
  return path;
}

/** A pino logger whose lines are kept in `lines` (to check what the server logs, and that clients do not see it). */
export function memoryLogger(): { log: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const log = pino(
    { level: 'debug' },
    {
      write(line: string) {
        lines.push(JSON.parse(line) as Record<string, unknown>);
      },
    },
  );
  return { log, lines };
}
