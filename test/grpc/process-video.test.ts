import test from 'ava';
import { status } from '@grpc/grpc-js';
import { mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { VideoRequest } from '../../proto/generated/fusionseg/v1/segmentation.pb.js';
import { makeTestClip, tempDir } from '../helpers/clips.js';
import {
  childFfmpegCount,
  collect,
  openVideoRequest,
  processVideoCall,
  startTestService,
  uploadRequests,
  writeAll,
} from '../helpers/service.js';

const openVideo = openVideoRequest;

async function run(client: Parameters<typeof processVideoCall>[0], requests: VideoRequest[]) {
  const call = processVideoCall(client);
  const outcome = collect(call);
  await writeAll(call, requests);
  return outcome;
}

test.serial('an uploaded MP4 (index at the end) is answered frame by frame with the total known', async (t) => {
  const dir = await tempDir(t);
  const clip = await makeTestClip(dir, { name: 'plain.mov', width: 160, height: 120, frames: 12, rate: 12 });
  const { client } = await startTestService(t);
  const { results, error } = await run(client, uploadRequests(await readFile(clip)));
  t.is(error, undefined);
  t.deepEqual(
    results.map((r) => r.index),
    Array.from({ length: 12 }, (_, i) => i),
  );
  t.true(results.every((r) => r.totalFrames === 12 && r.sourceWidth === 160 && r.sourceHeight === 120));
  t.deepEqual(
    results.slice(0, 3).map((r) => r.pts),
    [0, 83333, 166667],
  );
  t.is(await childFfmpegCount(), 0);
});

test('a server-side file under the media root, sampled with fps and maxFrames', async (t) => {
  const root = await tempDir(t);
  await mkdir(join(root, 'videos'));
  await makeTestClip(join(root, 'videos'), { frames: 20, rate: 10 });
  const { client } = await startTestService(t, { mediaRoot: root });
  const sampled = await run(client, [
    openVideo({ source: { $case: 'serverPath', serverPath: 'videos/clip.mp4' }, fps: 5 }),
  ]);
  t.is(sampled.error, undefined);
  t.is(sampled.results.length, 10);
  t.true(sampled.results.every((r) => r.totalFrames === 10));
  const limited = await run(client, [
    openVideo({ source: { $case: 'serverPath', serverPath: 'videos/clip.mp4' }, maxFrames: 4 }),
  ]);
  t.is(limited.results.length, 4);
  t.true(limited.results.every((r) => r.totalFrames === 4));
});

test('paths outside the media root are PERMISSION_DENIED; a missing file is NOT_FOUND; the root or an absolute path is INVALID_ARGUMENT', async (t) => {
  const root = await tempDir(t);
  const outside = await tempDir(t);
  await writeFile(join(outside, 'secret.mp4'), 'not for clients');
  await writeFile(join(root, 'inside.mp4'), 'a file under the root');
  await symlink(join(outside, 'secret.mp4'), join(root, 'link.mp4'));
  const { client } = await startTestService(t, { mediaRoot: root });
  const cases: [string, number, RegExp][] = [
    ['../secret.mp4', status.PERMISSION_DENIED, /may not contain "\.\." segments/],
    [join(outside, 'secret.mp4'), status.INVALID_ARGUMENT, /must be relative to the media root/],
    [join(root, 'inside.mp4'), status.INVALID_ARGUMENT, /must be relative to the media root/],
    ['.', status.INVALID_ARGUMENT, /names the media root, not a file/],
    ['inside.mp4/more.mp4', status.NOT_FOUND, /no file "inside.mp4\/more.mp4" under the media root/],
    ['link.mp4', status.PERMISSION_DENIED, /leads outside the media root \(symlink\)/],
    ['missing.mp4', status.NOT_FOUND, /no file "missing.mp4" under the media root/],
  ];
  for (const [serverPath, code, details] of cases) {
    const { error } = await run(client, [openVideo({ source: { $case: 'serverPath', serverPath } })]);
    t.is(error?.code, code, serverPath);
    t.regex(error?.details ?? '', details);
  }
});

test('server-side paths and URLs are refused unless configured', async (t) => {
  const { client } = await startTestService(t, { allowUrlSchemes: ['rtsp'] });
  const path = await run(client, [openVideo({ source: { $case: 'serverPath', serverPath: 'a.mp4' } })]);
  t.is(path.error?.code, status.PERMISSION_DENIED);
  t.regex(path.error?.details ?? '', /server-side paths are disabled/);
  const url = await run(client, [openVideo({ source: { $case: 'url', url: 'file:///etc/passwd' } })]);
  t.is(url.error?.code, status.PERMISSION_DENIED);
  t.regex(url.error?.details ?? '', /url scheme "file" is not allowed on this server \(allowed: rtsp\)/);
});

test.serial('corrupt and truncated uploads are INVALID_ARGUMENT with ffmpeg’s reason', async (t) => {
  const dir = await tempDir(t);
  const clip = await readFile(await makeTestClip(dir, { name: 'plain.mov', frames: 10 }));
  const { client } = await startTestService(t);
  const garbage = new Uint8Array(50_000).map((_, i) => (i * 7919) % 256);
  for (const bytes of [garbage, clip.subarray(0, Math.floor(clip.length / 2))]) {
    const { error } = await run(client, uploadRequests(bytes));
    t.is(error?.code, status.INVALID_ARGUMENT);
    t.regex(error?.details ?? '', /could not decode the video: .+/);
  }
  t.is(await childFfmpegCount(), 0);
});

test.serial('a cancelled ProcessVideo stops its ffmpeg', async (t) => {
  const root = await tempDir(t);
  await makeTestClip(root, { frames: 300, rate: 30, width: 320, height: 240 });
  const { client } = await startTestService(t, { mediaRoot: root }, { heavyChannels: 32 });
  const call = processVideoCall(client);
  const outcome = collect(call);
  let seen = 0;
  call.on('data', () => {
    if (++seen === 3) call.cancel();
  });
  await writeAll(call, [openVideo({ source: { $case: 'serverPath', serverPath: 'clip.mp4' } })]);
  const { results, error } = await outcome;
  t.is(error?.code, status.CANCELLED);
  t.true(results.length < 300);
  for (let i = 0; i < 50 && (await childFfmpegCount()) > 0; i++)
    await new Promise((resolve) => setTimeout(resolve, 100));
  t.is(await childFfmpegCount(), 0);
});

test.serial('a passed deadline stops the stream’s work and its ffmpeg', async (t) => {
  const root = await tempDir(t);
  await makeTestClip(root, { frames: 300, rate: 30, width: 320, height: 240 });
  const { client, service } = await startTestService(
    t,
    { mediaRoot: root },
    { width: 512, height: 256, heavyChannels: 64 },
  );
  const call = processVideoCall(client, 1500);
  const outcome = collect(call);
  await writeAll(call, [openVideo({ source: { $case: 'serverPath', serverPath: 'clip.mp4' } })]);
  const { results, error } = await outcome;
  t.is(error?.code, status.DEADLINE_EXCEEDED);
  t.true(results.length < 300);
  for (let i = 0; i < 50 && (service.context.activeStreams > 0 || (await childFfmpegCount()) > 0); i++) {
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  t.is(service.context.activeStreams, 0);
  t.is(await childFfmpegCount(), 0);
  const settled = service.context.framesSegmented;
  await new Promise((resolve) => setTimeout(resolve, 500));
  t.is(service.context.framesSegmented, settled, 'no frame of the stream is processed after it ended');
});

test('an upload must match its declared size_bytes and the server limit', async (t) => {
  const dir = await tempDir(t);
  const clip = await readFile(await makeTestClip(dir, { frames: 10 }));
  const { client } = await startTestService(t, { maxUploadBytes: 1024 * 1024 });
  const upload = (declared: number, bytes: Uint8Array): VideoRequest[] => {
    const requests = uploadRequests(bytes);
    const first = requests[0]!;
    if (first.payload?.$case === 'open' && first.payload.open.source?.$case === 'upload') {
      first.payload.open.source.upload.sizeBytes = declared;
    }
    return requests;
  };
  const cases: [VideoRequest[], RegExp][] = [
    [
      upload(clip.length, clip.subarray(0, Math.floor(clip.length / 3))),
      /the upload is truncated: \d+ of its size_bytes/,
    ],
    [upload(100, clip), /the upload is longer than its size_bytes \(100\)/],
    [upload(3 * 1024 ** 3, clip), /size_bytes 3221225472 is over this server's upload limit of 1048576 bytes/],
  ];
  for (const [requests, details] of cases) {
    const { results, error } = await run(client, requests);
    t.is(error?.code, status.INVALID_ARGUMENT);
    t.regex(error?.details ?? '', details);
    t.is(results.length, 0);
  }
  const whole = await run(client, upload(clip.length, clip));
  t.is(whole.error, undefined);
  t.is(whole.results.length, 10);
});
