import test from 'ava';
import { readFile } from 'node:fs/promises';
import { ServerError, Status } from '../../server/src/errors.js';
import { VideoDecoder, decoderArguments } from '../../server/src/video/decoder.js';
import { makeTestClip, tempDir } from '../helpers/clips.js';

async function collect(decoder: VideoDecoder): Promise<Uint8Array[]> {
  const frames: Uint8Array[] = [];
  for await (const frame of decoder.frames()) frames.push(frame);
  return frames;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

test('decodes every frame of a testsrc clip, scaled to the requested size', async (t) => {
  const clip = await makeTestClip(await tempDir(t), { width: 320, height: 240, frames: 12 });
  const frames = await collect(new VideoDecoder({ input: { kind: 'file', path: clip }, width: 160, height: 96 }));
  t.is(frames.length, 12);
  for (const frame of frames) t.is(frame.length, 160 * 96 * 3);
  // testsrc is colourful and animated: frames are neither blank nor all the same.
  const first = frames[0]!;
  t.true(first.some((value) => value > 200) && first.some((value) => value < 50));
  t.notDeepEqual(first, frames[11]);
});

test('bytes written to the pipe decode to the same frames as the file', async (t) => {
  const clip = await makeTestClip(await tempDir(t), { frames: 6 });
  const fromFile = await collect(new VideoDecoder({ input: { kind: 'file', path: clip }, width: 64, height: 48 }));
  const decoder = new VideoDecoder({ input: { kind: 'pipe', format: 'mp4' }, width: 64, height: 48 });
  const bytes = await readFile(clip);
  const feeding = (async () => {
    for (let offset = 0; offset < bytes.length; offset += 4096)
      await decoder.write(bytes.subarray(offset, offset + 4096));
    decoder.end();
  })();
  const fromPipe = await collect(decoder);
  await feeding;
  t.is(fromPipe.length, 6);
  t.deepEqual(fromPipe, fromFile);
});

test('fps and maxFrames limit the frames', async (t) => {
  const clip = await makeTestClip(await tempDir(t), { frames: 20, rate: 10 });
  const sampled = await collect(
    new VideoDecoder({ input: { kind: 'file', path: clip }, width: 32, height: 32, fps: 5 }),
  );
  t.is(sampled.length, 10);
  const limited = await collect(
    new VideoDecoder({ input: { kind: 'file', path: clip }, width: 32, height: 32, maxFrames: 3 }),
  );
  t.is(limited.length, 3);
});

test('corrupt input is INVALID_ARGUMENT with ffmpeg’s reason', async (t) => {
  const decoder = new VideoDecoder({ input: { kind: 'pipe' }, width: 32, height: 32 });
  await decoder.write(new TextEncoder().encode('this is not a video, just some text '.repeat(100)));
  decoder.end();
  const error = await t.throwsAsync(collect(decoder), { instanceOf: ServerError });
  t.is(error.code, Status.INVALID_ARGUMENT);
  t.regex(error.message, /could not decode the video: .+/);
});

test('aborting kills ffmpeg and ends the frames quietly', async (t) => {
  const clip = await makeTestClip(await tempDir(t), { frames: 50 });
  const controller = new AbortController();
  const decoder = new VideoDecoder({
    input: { kind: 'file', path: clip },
    width: 320,
    height: 240,
    signal: controller.signal,
  });
  const pid = decoder.pid!;
  let count = 0;
  for await (const frame of decoder.frames()) {
    t.is(frame.length, 320 * 240 * 3);
    if (++count === 2) controller.abort();
  }
  t.true(count >= 2 && count < 50);
  t.false(isAlive(pid));
});

test('arguments are an array with a protocol whitelist per input kind', (t) => {
  const pipe = decoderArguments({ input: { kind: 'pipe', format: 'h264' }, width: 8, height: 8 });
  t.deepEqual(pipe.slice(pipe.indexOf('-protocol_whitelist'), pipe.indexOf('-protocol_whitelist') + 6), [
    '-protocol_whitelist',
    'pipe',
    '-f',
    'h264',
    '-i',
    'pipe:0',
  ]);
  const file = decoderArguments({ input: { kind: 'file', path: '/media/a.mp4' }, width: 8, height: 8 });
  t.true(file.includes('file:/media/a.mp4'));
  t.is(file[file.indexOf('-protocol_whitelist') + 1], 'file');
});
