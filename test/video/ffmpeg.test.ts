import test from 'ava';
import { execFile } from 'node:child_process';
import { chmod, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import {
  ffmpegBinary,
  ffprobeBinary,
  MissingBinaryError,
  resolveBinary,
  type BinaryCandidate,
} from '../../server/src/video/ffmpeg.js';
import { tempDir } from '../helpers/clips.js';

const execFileAsync = promisify(execFile);
const noPackages: BinaryCandidate[] = [];

test('the resolved ffmpeg and ffprobe run and report their versions', async (t) => {
  for (const binary of [ffmpegBinary(), ffprobeBinary()]) {
    const { stdout } = await execFileAsync(binary.path, ['-version']);
    t.regex(stdout, new RegExp(`^${binary.tool} version `), `${binary.tool} from ${binary.source}`);
  }
});

test('FFMPEG_PATH wins over every other place', async (t) => {
  const dir = await tempDir(t);
  const fake = join(dir, 'my-ffmpeg');
  await writeFile(fake, '#!/bin/sh\necho fake\n');
  await chmod(fake, 0o755);
  const resolved = resolveBinary('ffmpeg', { env: { FFMPEG_PATH: fake, PATH: '/usr/bin:/bin' } });
  t.deepEqual(resolved, { tool: 'ffmpeg', path: fake, source: 'env' });
});

test('an FFMPEG_PATH that is not executable is an error, not a silent fallback', (t) => {
  const error = t.throws(() => resolveBinary('ffmpeg', { env: { FFMPEG_PATH: '/nonexistent/ffmpeg' } }), {
    instanceOf: MissingBinaryError,
  });
  t.regex(error.message, /FFMPEG_PATH=\/nonexistent\/ffmpeg: not an executable file/);
});

test('the npm packages come before PATH, in order', async (t) => {
  const dir = await tempDir(t);
  const first = join(dir, 'first');
  const second = join(dir, 'second');
  for (const path of [first, second]) {
    await writeFile(path, '#!/bin/sh\n');
    await chmod(path, 0o755);
  }
  const candidates: BinaryCandidate[] = [
    { source: 'ffmpeg-static', description: 'missing', locate: () => undefined },
    { source: 'npm-package', description: 'first', locate: () => first },
    { source: 'npm-package', description: 'second', locate: () => second },
  ];
  const resolved = resolveBinary('ffmpeg', { env: { PATH: dir }, packageCandidates: candidates });
  t.is(resolved.path, first);
  t.is(resolved.source, 'npm-package');
});

test('PATH is the last resort', async (t) => {
  const dir = await tempDir(t);
  const onPath = join(dir, 'ffprobe');
  await writeFile(onPath, '#!/bin/sh\n');
  await chmod(onPath, 0o755);
  const resolved = resolveBinary('ffprobe', { env: { PATH: `/nonexistent:${dir}` }, packageCandidates: noPackages });
  t.deepEqual(resolved, { tool: 'ffprobe', path: onPath, source: 'path' });
});

test('a missing ffmpeg is a clear error that names every option', (t) => {
  const candidates: BinaryCandidate[] = [
    { source: 'ffmpeg-static', description: 'the ffmpeg-static package', locate: () => undefined },
    { source: 'npm-package', description: 'the @ffmpeg-installer/ffmpeg package', locate: () => '/nope/ffmpeg' },
  ];
  const error = t.throws(
    () => resolveBinary('ffmpeg', { env: { PATH: '/nonexistent' }, packageCandidates: candidates }),
    {
      instanceOf: MissingBinaryError,
    },
  );
  t.regex(error.message, /FFMPEG_PATH: not set/);
  t.regex(error.message, /ffmpeg-static package: not installed/);
  t.regex(error.message, /@ffmpeg-installer\/ffmpeg package: \/nope\/ffmpeg is not executable/);
  t.regex(error.message, /ffmpeg on PATH: not found/);
  t.regex(error.message, /apt-get install ffmpeg/);
});
