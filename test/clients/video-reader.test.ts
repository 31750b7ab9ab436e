import test from 'ava';
import { createReadStream } from 'node:fs';
import { join } from 'node:path';
import { localDecoder, openLocalVideo } from '../../clients/src/commands/local-video.js';
import { readerArguments, VideoReader } from '../../clients/src/video-reader.js';
import { makeTestClip, tempDir } from '../helpers/clips.js';

async function count(reader: VideoReader): Promise<{ frames: number; sizes: Set<number> }> {
  const sizes = new Set<number>();
  let frames = 0;
  for await (const frame of reader.frames()) {
    frames++;
    sizes.add(frame.length);
  }
  return { frames, sizes };
}

test('the client reads a local file at its own size, probed with the shared ffprobe, sampled as the server does', async (t) => {
  const dir = await tempDir(t);
  const clip = await makeTestClip(dir, { width: 96, height: 64, frames: 20, rate: 10 });
  const video = await openLocalVideo(clip);
  t.like(video.facts, { width: 96, height: 64, frames: 20, frameRate: 10 });
  const all = localDecoder(video, {}, { width: 1, height: 1 }, new AbortController().signal);
  t.like(all, { width: 96, height: 64, total: 20, frameRate: 10 });
  t.deepEqual(await count(all.decoder), { frames: 20, sizes: new Set([96 * 64 * 3]) });
  const sampled = localDecoder(video, { fps: 5, maxFrames: 6 }, { width: 1, height: 1 }, new AbortController().signal);
  t.is(sampled.total, 6);
  t.is((await count(sampled.decoder)).frames, 6);
});

test('bytes written to a pipe reader decode; a missing file and garbage are clear errors', async (t) => {
  const dir = await tempDir(t);
  const clip = await makeTestClip(dir, { width: 64, height: 48, frames: 5, rate: 5 });
  const piped = new VideoReader({ input: { kind: 'pipe' }, width: 32, height: 24 });
  void (async () => {
    for await (const chunk of createReadStream(clip) as AsyncIterable<Buffer>) await piped.write(chunk);
    piped.end();
  })();
  t.deepEqual(await count(piped), { frames: 5, sizes: new Set([32 * 24 * 3]) });
  await t.throwsAsync(openLocalVideo(join(dir, 'missing.mp4')), { message: /cannot read a video from/ });
  const garbage = new VideoReader({ input: { kind: 'pipe' }, width: 8, height: 8 });
  void garbage.write(new Uint8Array(4096).fill(7)).then(() => garbage.end());
  await t.throwsAsync(count(garbage), { message: /ffmpeg could not read the video/ });
  await t.throwsAsync(openLocalVideo('gopher://example.com/x'), { message: /url scheme "gopher" is not supported/ });
});

test('aborting or closing a reader stops ffmpeg quietly', async (t) => {
  const dir = await tempDir(t);
  const clip = await makeTestClip(dir, { width: 64, height: 48, frames: 200, rate: 25 });
  const controller = new AbortController();
  const reader = new VideoReader({
    input: { kind: 'file', path: clip },
    width: 64,
    height: 48,
    signal: controller.signal,
  });
  let frames = 0;
  for await (const frame of reader.frames()) if (frame.length > 0 && ++frames === 3) controller.abort();
  t.true(frames < 200);
  const closing = new VideoReader({ input: { kind: 'file', path: clip }, width: 64, height: 48 });
  const iterator = closing.frames();
  await iterator.next();
  await iterator.return();
  await closing.close();
  t.pass();
});

test('reader arguments: sampling and start time as plain decimals, no exponent notation', (t) => {
  const args = readerArguments({
    input: { kind: 'url', url: 'https://example.com/a.m3u8', protocols: ['https', 'tls', 'tcp'] },
    width: 10,
    height: 8,
    fps: 0.5,
    startTime: 1e-7,
    maxFrames: 3,
  });
  t.deepEqual(args.slice(args.indexOf('-protocol_whitelist'), args.indexOf('-protocol_whitelist') + 2), [
    '-protocol_whitelist',
    'https,tls,tcp',
  ]);
  t.true(args.includes('fps=0.5,scale=10:8:flags=bilinear'));
  t.false(args.join(' ').includes('e-'));
  t.is(args[args.indexOf('-frames:v') + 1], '3');
});
