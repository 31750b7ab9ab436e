import test from 'ava';
import { execFile } from 'node:child_process';
import { chmod, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import {
  describeBinary,
  isOlderThan5,
  ffmpegBinary,
  ffprobeBinary,
  MissingBinaryError,
  resolveBinary,
  type BinaryCandidate,
} from '../../server/src/video/ffmpeg.js';
import { tempDir } from '../helpers/clips.js';

const execFileAsync = promisify(execFile);
const noPackages: BinaryCandidate[] = [];
const noVersion = () => undefined;

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
  const resolved = resolveBinary('ffmpeg', { env: { PATH: dir }, packageCandidates: candidates, versionOf: noVersion });
  t.is(resolved.path, first);
  t.is(resolved.source, 'npm-package');
});

test('PATH is the last resort', async (t) => {
  const dir = await tempDir(t);
  const onPath = join(dir, 'ffprobe');
  await writeFile(onPath, '#!/bin/sh\n');
  await chmod(onPath, 0o755);
  const resolved = resolveBinary('ffprobe', {
    env: { PATH: `/nonexistent:${dir}` },
    packageCandidates: noPackages,
    versionOf: noVersion,
  });
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

async function fakeTool(dir: string, name: string): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, '#!/bin/sh\n');
  await chmod(path, 0o755);
  return path;
}

const packaged = (path: string): BinaryCandidate[] => [
  { source: 'npm-package', description: 'the @ffmpeg-installer/ffmpeg package', locate: () => path },
];

test('a system ffmpeg 5.0 or newer on PATH wins over the npm packages', async (t) => {
  const dir = await tempDir(t);
  const system = await fakeTool(dir, 'ffmpeg');
  const bundled = await fakeTool(dir, 'bundled');
  const resolved = resolveBinary('ffmpeg', {
    env: { PATH: dir },
    packageCandidates: packaged(bundled),
    versionOf: () => 'ffmpeg version 5.1.6-0+deb12u1 Copyright (c) 2000-2024 the FFmpeg developers',
  });
  t.deepEqual(resolved, { tool: 'ffmpeg', path: system, source: 'system' });
});

test('an older ffmpeg on PATH comes after the npm packages, and is still the last resort', async (t) => {
  const dir = await tempDir(t);
  const system = await fakeTool(dir, 'ffmpeg');
  const bundled = await fakeTool(dir, 'bundled');
  const old = () => 'ffmpeg version 4.4.2-0ubuntu0.22.04.1 Copyright (c) 2000-2021 the FFmpeg developers';
  t.is(
    resolveBinary('ffmpeg', { env: { PATH: dir }, packageCandidates: packaged(bundled), versionOf: old }).path,
    bundled,
  );
  t.deepEqual(resolveBinary('ffmpeg', { env: { PATH: dir }, packageCandidates: noPackages, versionOf: old }), {
    tool: 'ffmpeg',
    path: system,
    source: 'path',
  });
});

test('versions: releases by number, git builds by copyright year', (t) => {
  t.false(isOlderThan5('ffmpeg version 5.1.6-0+deb12u1 Copyright (c) 2000-2024 the FFmpeg developers'));
  t.false(isOlderThan5('ffmpeg version n7.0.2 Copyright (c) 2000-2024 the FFmpeg developers'));
  t.true(isOlderThan5('ffmpeg version 4.4.2-0ubuntu0.22.04.1 Copyright (c) 2000-2021 the FFmpeg developers'));
  t.true(
    isOlderThan5(
      'ffmpeg version N-47683-g0e8eb07980-static https://johnvansickle.com/ffmpeg/  Copyright (c) 2000-2018',
    ),
  );
  t.false(
    isOlderThan5(
      'ffprobe version N-66595-gc2b38619c0-static https://x/  Copyright (c) 2007-2023 the FFmpeg developers',
    ),
  );
  t.true(isOlderThan5('garbage'));
});

test('describeBinary names the chosen binary, its version and whether it is old', (t) => {
  const described = describeBinary(ffmpegBinary());
  t.is(described.path, ffmpegBinary().path);
  t.regex(described.versionLine, /^ffmpeg version /);
  t.is(typeof described.olderThan5, 'boolean');
  const old = describeBinary(
    { tool: 'ffmpeg', path: '/x/ffmpeg', source: 'npm-package' },
    () =>
      'ffmpeg version N-47683-g0e8eb07980-static https://johnvansickle.com/ffmpeg/  Copyright (c) 2000-2018 the FFmpeg developers',
  );
  t.is(old.version, 'N-47683-g0e8eb07980-static');
  t.true(old.olderThan5);
  t.is(old.source, 'npm-package');
});
