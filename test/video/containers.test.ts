import test from 'ava';
import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { promisify } from 'node:util';
import {
  DEFAULT_CONTAINERS,
  demuxerWhitelist,
  NEVER_ALLOWED_CONTAINERS,
  requestedContainer,
} from '../../server/src/video/containers.js';
import { ffmpegBinary } from '../../server/src/video/ffmpeg.js';

const execFileAsync = promisify(execFile);

async function demuxerNames(ffmpeg: string): Promise<Set<string>> {
  const { stdout } = await execFileAsync(ffmpeg, ['-hide_banner', '-demuxers']);
  const names = new Set<string>();
  for (const line of stdout.split('\n')) {
    const match = /^\s*D\S*\s+(\S+)/.exec(line);
    for (const name of match?.[1]?.split(',') ?? []) names.add(name);
  }
  return names;
}

test('every default container is a demuxer of the resolved ffmpeg and of the bundled 2018 build', async (t) => {
  const builds = [ffmpegBinary().path];
  try {
    const installer = (createRequire(import.meta.url)('@ffmpeg-installer/ffmpeg') as { path: string }).path;
    if (!builds.includes(installer)) builds.push(installer);
  } catch {
    // not installed on this platform
  }
  for (const build of builds) {
    const names = await demuxerNames(build);
    t.true(names.size > 100, build);
    for (const container of DEFAULT_CONTAINERS) t.true(names.has(container), `${container} in ${build}`);
  }
});

test('no default container is one that opens further files', (t) => {
  for (const container of DEFAULT_CONTAINERS) t.false(NEVER_ALLOWED_CONTAINERS.includes(container), container);
});

test('the whitelist drops never-allowed names; a requested container must be allowed', (t) => {
  t.deepEqual(demuxerWhitelist(['mp4', 'HLS', 'concat', 'matroska']), ['mp4', 'matroska']);
  t.deepEqual(requestedContainer('MP4', DEFAULT_CONTAINERS), ['mp4']);
  t.throws(() => requestedContainer('hls', DEFAULT_CONTAINERS), { message: /container_format "hls" is not accepted/ });
  t.throws(() => requestedContainer('image2', DEFAULT_CONTAINERS));
});
