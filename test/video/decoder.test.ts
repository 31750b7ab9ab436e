import test from 'ava';
import { chmod, readFile, writeFile } from 'node:fs/promises';
import { createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { ServerError, Status } from '../../server/src/errors.js';
import { VideoDecoder, decoderArguments, plainDecimal } from '../../server/src/video/decoder.js';
import { DEFAULT_CONTAINERS } from '../../server/src/video/containers.js';
import { ffmpegBinary } from '../../server/src/video/ffmpeg.js';
import { MediaError } from '../../server/src/video/media-error.js';
import { makeTestClip, tempDir } from '../helpers/clips.js';
import { hlsPlaylist, makeHugeDeclaredAvi, makeTsClip, memoryLogger } from './media-fixtures.js';

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

test('numbers reach ffmpeg as plain decimals, never in exponent notation', (t) => {
  t.is(plainDecimal(1e-7), '0.0000001');
  t.is(plainDecimal(2.5), '2.5');
  t.is(plainDecimal(30), '30');
  t.is(plainDecimal(1e21), '1000000000000000000000');
  t.is(plainDecimal(1.5e-10), '0.00000000015');
  const args = decoderArguments({
    input: { kind: 'file', path: '/m/a.mp4' },
    width: 8,
    height: 8,
    startTime: 1e-7,
    fps: 1e-7,
  });
  t.is(args[args.indexOf('-ss') + 1], '0.0000001');
  t.true(args.includes('fps=0.0000001,scale=8:8:flags=bilinear'));
  t.false(args.some((arg) => /\de-\d/.test(arg)));
});

test('a start time of 1e-7 s decodes (ffmpeg rejects "1e-7")', async (t) => {
  const clip = await makeTestClip(await tempDir(t), { frames: 4 });
  const frames = await collect(
    new VideoDecoder({ input: { kind: 'file', path: clip }, width: 16, height: 16, startTime: 1e-7, fps: 10 }),
  );
  t.true(frames.length >= 3);
});

test('the demuxer whitelist and pixel cap are input options', (t) => {
  const args = decoderArguments({
    input: { kind: 'file', path: '/m/a.mp4' },
    width: 8,
    height: 8,
    formats: ['mp4', 'matroska'],
    maxPixels: 8847360,
  });
  const input = args.indexOf('-i');
  t.is(args[args.indexOf('-format_whitelist') + 1], 'mp4,matroska');
  t.is(args[args.indexOf('-max_pixels') + 1], '8847360');
  t.true(args.indexOf('-format_whitelist') < input && args.indexOf('-max_pixels') < input);
  const url = decoderArguments({
    input: { kind: 'url', url: 'http://example.com/a.ts', protocols: ['http', 'tcp'], httpProxy: 'http://127.0.0.1:9' },
    width: 8,
    height: 8,
    ioTimeoutMs: 1500,
  });
  t.is(url[url.indexOf('-rw_timeout') + 1], '1500000');
  t.is(url[url.indexOf('-http_proxy') + 1], 'http://127.0.0.1:9');
});

test('an HLS playlist whose segment lies elsewhere: decoded without the whitelist, refused with it', async (t) => {
  const outside = await tempDir(t);
  const secret = await makeTsClip(outside);
  const spool = await tempDir(t);
  const playlist = join(spool, 'upload');
  await writeFile(playlist, hlsPlaylist(secret));
  // The hole: the file protocol alone lets the HLS demuxer read the outside segment.
  const open = await collect(new VideoDecoder({ input: { kind: 'file', path: playlist }, width: 16, height: 16 }));
  t.true(open.length > 0, 'without a demuxer whitelist the outside file is decoded');
  const { log, lines } = memoryLogger();
  const error = await t.throwsAsync(
    collect(
      new VideoDecoder({
        input: { kind: 'file', path: playlist },
        width: 16,
        height: 16,
        formats: [...DEFAULT_CONTAINERS],
        log,
      }),
    ),
    { instanceOf: MediaError },
  );
  t.is(error.kind, 'forbidden-container');
  t.is(error.code, Status.INVALID_ARGUMENT);
  t.regex(error.details, /could not decode the video: the "hls" container is not accepted by this server/);
  t.false(error.details.includes(spool) || error.details.includes(outside) || /@ 0x/.test(error.details));
  t.true(
    lines.some((line) => /Format not on whitelist/.test(String(line['ffmpeg']))),
    'ffmpeg’s words are logged',
  );
});

test('frames declared over the pixel cap fail at once, before a big allocation', async (t) => {
  const dir = await tempDir(t);
  const huge = await makeHugeDeclaredAvi(dir);
  // Under a 1 GiB address-space limit: an unguarded 16000x16000 decode (hundreds of MiB per frame) would
  // fail with an allocation error instead of the clean too-large one.
  const wrapper = join(dir, 'ffmpeg-limited');
  await writeFile(wrapper, `#!/bin/sh\nulimit -v 1048576\nexec '${ffmpegBinary().path}' "$@"\n`);
  await chmod(wrapper, 0o755);
  const decoder = new VideoDecoder({
    input: { kind: 'pipe' },
    width: 16,
    height: 16,
    maxPixels: 4096 * 2160,
    ffmpegPath: wrapper,
  });
  const started = performance.now();
  const feeding = (async () => {
    await decoder.write(await readFile(huge));
    decoder.end();
  })();
  const error = await t.throwsAsync(collect(decoder), { instanceOf: MediaError });
  await feeding;
  t.is(error.kind, 'too-large');
  t.is(error.code, Status.INVALID_ARGUMENT);
  t.is(error.details, "the video's frames are 16000x16000, over this server's limit of 8847360 pixels");
  t.true(performance.now() - started < 5000);
});

test('an ffmpeg that cannot be spawned is a classified error of that decoder, not a crash', async (t) => {
  const decoder = new VideoDecoder({ input: { kind: 'pipe' }, width: 8, height: 8, ffmpegPath: '/nonexistent/ffmpeg' });
  await decoder.write(new Uint8Array(10)); // a no-op
  decoder.end();
  const error = await t.throwsAsync(collect(decoder), { instanceOf: MediaError });
  t.is(error.kind, 'spawn-failed');
  t.is(error.code, Status.UNAVAILABLE);
  t.regex(error.details, /could not start its decoder \(ENOENT\)/);
  t.is(decoder.pid, undefined);
  await decoder.close(); // twice is fine
});

test('an ffmpeg killed by a signal is INTERNAL "the decoder crashed"', async (t) => {
  const decoder = new VideoDecoder({ input: { kind: 'pipe', format: 'mpegts' }, width: 8, height: 8 });
  await decoder.write(new Uint8Array(188).fill(0x47));
  const frames = collect(decoder);
  await new Promise((resolve) => setTimeout(resolve, 200));
  process.kill(decoder.pid!, 'SIGKILL');
  const error = await t.throwsAsync(frames, { instanceOf: MediaError });
  t.is(error.kind, 'decoder-crashed');
  t.is(error.code, Status.INTERNAL);
  t.regex(error.details, /the decoder crashed/);
});

test('a silent URL source ends UNAVAILABLE after the read timeout, without ffmpeg’s text', async (t) => {
  const sockets: Socket[] = [];
  const server = createServer((socket) => sockets.push(socket)); // accepts, never answers
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    for (const socket of sockets) socket.destroy();
    server.close();
  });
  const port = (server.address() as { port: number }).port;
  const started = performance.now();
  const error = await t.throwsAsync(
    collect(
      new VideoDecoder({
        input: { kind: 'url', url: `http://127.0.0.1:${port}/live.ts`, protocols: ['http', 'tcp'] },
        width: 8,
        height: 8,
        ioTimeoutMs: 700,
      }),
    ),
    { instanceOf: MediaError },
  );
  t.is(error.kind, 'unreachable');
  t.is(error.code, Status.UNAVAILABLE);
  t.false(/127\.0\.0\.1|\[\w+ @/.test(error.details));
  t.true(performance.now() - started < 10_000);
});

test('a refused connection is UNAVAILABLE, not INVALID_ARGUMENT with "[tcp @ 0x…]"', async (t) => {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise((resolve) => server.close(resolve));
  const error = await t.throwsAsync(
    collect(
      new VideoDecoder({
        input: { kind: 'url', url: `http://127.0.0.1:${port}/a.ts`, protocols: ['http', 'tcp'] },
        width: 8,
        height: 8,
        ioTimeoutMs: 2000,
      }),
    ),
    { instanceOf: ServerError },
  );
  t.is(error.code, Status.UNAVAILABLE);
  t.notRegex(error.details, /@ 0x|tcp:|127\.0\.0\.1/);
});

test('ffmpeg reports its input size for pipes', async (t) => {
  const clip = await makeTestClip(await tempDir(t), { width: 96, height: 64, frames: 3 });
  const decoder = new VideoDecoder({
    input: { kind: 'pipe', format: 'mp4' },
    width: 16,
    height: 16,
    reportInput: true,
  });
  const feeding = (async () => {
    await decoder.write(await readFile(clip));
    decoder.end();
  })();
  const frames = await collect(decoder);
  await feeding;
  t.is(frames.length, 3);
  t.deepEqual(await decoder.inputInfo(), { width: 96, height: 64, frameRate: 10 });
});
