import test, { type ExecutionContext } from 'ava';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { OpenVideo } from '../../proto/generated/fusionseg/v1/segmentation.pb.js';
import { ServerError, Status } from '../../server/src/errors.js';
import { encodedVideoFrames, openVideoSource, type MediaPolicy } from '../../server/src/pipeline/video-source.js';
import type { DecodedFrame } from '../../server/src/pipeline/segment-frame.js';
import { DEFAULT_CONTAINERS } from '../../server/src/video/containers.js';
import { makeTestClip, tempDir } from '../helpers/clips.js';
import { concatList, hlsPlaylist, makeHugeDeclaredAvi, makeTsClip, memoryLogger } from './media-fixtures.js';

const model = { width: 16, height: 16 };

function policy(fields: Partial<MediaPolicy> = {}): MediaPolicy {
  return {
    mediaRoot: undefined,
    allowedUrlSchemes: [],
    allowUrlHosts: [],
    urlTimeoutMs: 2000,
    allowContainers: DEFAULT_CONTAINERS,
    maxPixels: 4096 * 2160,
    maxUploadBytes: 10 * 1024 * 1024,
    ...fields,
  };
}

function openVideo(source: OpenVideo['source'], fields: Partial<OpenVideo> = {}): OpenVideo {
  return { options: undefined, source, fps: 0, startTime: 0, maxFrames: 0, ...fields };
}

async function* chunksOf(bytes: Uint8Array): AsyncGenerator<Uint8Array> {
  for (let offset = 0; offset < bytes.length; offset += 4096) {
    yield await Promise.resolve(bytes.subarray(offset, offset + 4096));
  }
}

const none: AsyncIterable<Uint8Array> = chunksOf(new Uint8Array(0));

async function frames(
  open: OpenVideo,
  media: MediaPolicy,
  log: Logger,
  upload: AsyncIterable<Uint8Array> = none,
): Promise<{ frames: DecodedFrame[]; totalFrames: number }> {
  const source = await openVideoSource(open, upload, media, model, new AbortController().signal, log);
  try {
    const out: DecodedFrame[] = [];
    for await (const frame of source.frames) out.push(frame);
    return { frames: out, totalFrames: source.totalFrames };
  } finally {
    await source.close();
    await source.close();
  }
}

/** A listener on 127.0.0.1 that counts requests and serves `body` (or redirects, per `handle`). */
async function listener(
  t: ExecutionContext,
  handle: (req: IncomingMessage, res: ServerResponse) => void,
): Promise<{ url: string; requests: string[]; server: Server }> {
  const requests: string[] = [];
  const server = createServer((req, res) => {
    requests.push(`${req.method ?? ''} ${req.url ?? ''} host=${req.headers.host ?? ''}`);
    handle(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    server.closeAllConnections();
    server.close();
  });
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, requests, server };
}

function noServerPaths(t: ExecutionContext, error: ServerError, ...paths: string[]): void {
  for (const path of paths) t.false(error.details.includes(path), `"${error.details}" names ${path}`);
  t.notRegex(error.details, /@ 0x|file:|\/tmp\//);
}

test('an uploaded HLS playlist pointing outside the media root is INVALID_ARGUMENT; nothing is decoded', async (t) => {
  const outside = await tempDir(t);
  const secret = await makeTsClip(outside);
  const { log } = memoryLogger();
  const error = await t.throwsAsync(
    frames(
      openVideo({ $case: 'upload', upload: { containerFormat: '', sizeBytes: 0 } }),
      policy(),
      log,
      chunksOf(new TextEncoder().encode(hlsPlaylist(secret))),
    ),
    { instanceOf: ServerError },
  );
  t.is(error.code, Status.INVALID_ARGUMENT);
  t.regex(error.details, /"hls" container is not accepted/);
  noServerPaths(t, error, outside);
});

test('a playlist or concat list inside the media root, opened by server_path, is refused', async (t) => {
  const root = await tempDir(t);
  const outside = await tempDir(t);
  const secret = await makeTsClip(outside);
  await writeFile(join(root, 'list.m3u8'), hlsPlaylist(secret));
  await writeFile(join(root, 'list.txt'), concatList(secret));
  const { log } = memoryLogger();
  for (const serverPath of ['list.m3u8', 'list.txt']) {
    const error = await t.throwsAsync(
      frames(openVideo({ $case: 'serverPath', serverPath }), policy({ mediaRoot: root }), log),
      { instanceOf: ServerError },
    );
    t.is(error.code, Status.INVALID_ARGUMENT, serverPath);
    noServerPaths(t, error, root, outside);
  }
});

test('frames declared over maxPixels are refused by the probe before decoding', async (t) => {
  const root = await tempDir(t);
  await makeHugeDeclaredAvi(root);
  const { log } = memoryLogger();
  const started = performance.now();
  const error = await t.throwsAsync(
    frames(openVideo({ $case: 'serverPath', serverPath: 'huge.avi' }), policy({ mediaRoot: root }), log),
    { instanceOf: ServerError },
  );
  t.is(error.code, Status.INVALID_ARGUMENT);
  t.is(error.details, "the video's frames are 16000x16000, over this server's limit of 8847360 pixels");
  t.true(performance.now() - started < 5000);
});

test('a corrupt upload is INVALID_ARGUMENT without the spool path; ffmpeg’s words are logged', async (t) => {
  const clip = await readFile(await makeTestClip(await tempDir(t), { name: 'plain.mov', frames: 6 }));
  const { log, lines } = memoryLogger();
  const error = await t.throwsAsync(
    frames(
      openVideo({ $case: 'upload', upload: { containerFormat: '', sizeBytes: 0 } }),
      policy(),
      log,
      chunksOf(clip.subarray(0, clip.length >> 1)),
    ),
    { instanceOf: ServerError },
  );
  t.is(error.code, Status.INVALID_ARGUMENT);
  t.regex(error.details, /could not decode the video: the video is corrupt or truncated/);
  noServerPaths(t, error);
  t.true(
    lines.some((line) => String(line['ffmpeg']).includes('fusionseg-upload-')),
    'the log has the details',
  );
});

test('a good upload decodes with totals, source size and pts; start_time 1e-7 is accepted', async (t) => {
  const clip = await readFile(await makeTestClip(await tempDir(t), { width: 64, height: 48, frames: 6, rate: 10 }));
  const { log } = memoryLogger();
  const result = await frames(
    openVideo({ $case: 'upload', upload: { containerFormat: 'mp4', sizeBytes: 0 } }, { startTime: 1e-7 }),
    policy(),
    log,
    chunksOf(clip),
  );
  t.true(result.frames.length >= 5);
  t.true(result.frames.every((frame) => frame.sourceWidth === 64 && frame.sourceHeight === 48));
  t.is(result.frames[1]?.pts, 100_000);
});

test('an upload declaring a container that is not allowed is INVALID_ARGUMENT', async (t) => {
  const { log } = memoryLogger();
  const error = await t.throwsAsync(
    frames(
      openVideo({ $case: 'upload', upload: { containerFormat: 'hls', sizeBytes: 0 } }),
      policy(),
      log,
      chunksOf(new Uint8Array(10)),
    ),
    { instanceOf: ServerError },
  );
  t.is(error.code, Status.INVALID_ARGUMENT);
  t.regex(error.details, /container_format "hls" is not accepted/);
});

test('a URL on 127.0.0.1 is PERMISSION_DENIED and the listener sees no request', async (t) => {
  const served = await listener(t, (_req, res) => res.end('x'));
  const { log } = memoryLogger();
  for (const url of [`${served.url}/a.ts`, `http://[::ffff:127.0.0.1]:${new URL(served.url).port}/a.ts`]) {
    const error = await t.throwsAsync(
      frames(openVideo({ $case: 'url', url }), policy({ allowedUrlSchemes: ['http'] }), log),
      { instanceOf: ServerError },
    );
    t.is(error.code, Status.PERMISSION_DENIED, url);
    t.regex(error.details, /resolves to a (loopback|IPv4-mapped) address/);
  }
  t.deepEqual(served.requests, []);
});

test('allowed with allowUrlHosts 127.0.0.1, a URL source decodes through the pinning proxy, once', async (t) => {
  const clip = await readFile(await makeTsClip(await tempDir(t), 'clip.ts', 6));
  const served = await listener(t, (_req, res) => {
    res.writeHead(200, { 'content-type': 'video/mp2t', 'content-length': clip.length });
    res.end(clip);
  });
  const { log } = memoryLogger();
  const result = await frames(
    openVideo({ $case: 'url', url: `${served.url}/clip.ts` }),
    policy({ allowedUrlSchemes: ['http'], allowUrlHosts: ['127.0.0.1'] }),
    log,
  );
  t.is(result.frames.length, 6);
  t.true(result.frames.every((frame) => frame.sourceWidth === 64 && frame.sourceHeight === 48));
  t.is(result.frames[1]?.pts, 100_000);
  t.true(served.requests.length >= 1);
  t.true(
    served.requests.every((line) => line.startsWith('GET /clip.ts ')),
    served.requests.join('; '),
  );
});

test('a redirect to a host that is not allowed is PERMISSION_DENIED; its listener sees nothing', async (t) => {
  const target = await listener(t, (_req, res) => res.end('x'));
  const first = await listener(t, (_req, res) => {
    res.writeHead(302, { location: `${target.url}/a.ts` });
    res.end();
  });
  const { log } = memoryLogger();
  const port = new URL(first.url).port;
  const error = await t.throwsAsync(
    frames(
      openVideo({ $case: 'url', url: `http://localhost:${port}/start.ts` }),
      policy({ allowedUrlSchemes: ['http'], allowUrlHosts: ['localhost'] }),
      log,
    ),
    { instanceOf: ServerError },
  );
  t.is(error.code, Status.PERMISSION_DENIED);
  t.true(first.requests.length >= 1);
  t.deepEqual(target.requests, []);
});

test('an HLS URL (playlist and segments over http) decodes through the proxy; a segment elsewhere is refused', async (t) => {
  const segment = await readFile(await makeTsClip(await tempDir(t), 'seg.ts', 6));
  const elsewhere = await listener(t, (_req, res) => res.end(segment));
  const served = await listener(t, (req, res) => {
    if (req.url === '/live.m3u8') res.end(hlsPlaylist('seg.ts'));
    else if (req.url === '/escape.m3u8') res.end(hlsPlaylist(`${elsewhere.url}/seg.ts`));
    else if (req.url === '/file.m3u8') res.end(hlsPlaylist('file:///etc/passwd'));
    else res.end(segment);
  });
  const { log } = memoryLogger();
  const port = new URL(served.url).port;
  const media = policy({ allowedUrlSchemes: ['http'], allowUrlHosts: ['localhost'] });
  const live = await frames(openVideo({ $case: 'url', url: `http://localhost:${port}/live.m3u8` }), media, log);
  t.is(live.frames.length, 6);
  t.true(served.requests.some((line) => line.startsWith('GET /seg.ts ')));
  // A segment on a host that is not allowed (127.0.0.1 is not "localhost" to the allow list), or a file.
  for (const playlist of ['escape.m3u8', 'file.m3u8']) {
    const error = await t.throwsAsync(
      frames(openVideo({ $case: 'url', url: `http://localhost:${port}/${playlist}` }), media, log),
      { instanceOf: ServerError },
    );
    t.true(error.code === Status.PERMISSION_DENIED || error.code === Status.INVALID_ARGUMENT, error.details);
    t.log(`${playlist}: ${Status[error.code]} ${error.details}`);
    noServerPaths(t, error, '/etc/passwd');
  }
  t.deepEqual(elsewhere.requests, []);
});

test('a silent URL source ends UNAVAILABLE after urlTimeoutMs', async (t) => {
  const silent = await listener(t, () => {}); // never answers
  const { log } = memoryLogger();
  const started = performance.now();
  const error = await t.throwsAsync(
    frames(
      openVideo({ $case: 'url', url: `${silent.url}/live.ts` }),
      policy({ allowedUrlSchemes: ['http'], allowUrlHosts: ['127.0.0.0/8'], urlTimeoutMs: 800 }),
      log,
    ),
    { instanceOf: ServerError },
  );
  t.is(error.code, Status.UNAVAILABLE);
  t.notRegex(error.details, /127\.0\.0\.1|@ 0x/);
  t.true(performance.now() - started < 15_000);
});

test('encoded video: a forbidden container_format, or playlist bytes, are INVALID_ARGUMENT', async (t) => {
  const { log } = memoryLogger();
  const signal = new AbortController().signal;
  const drain = async (iterable: AsyncIterable<DecodedFrame>) => {
    for await (const frame of iterable) void frame;
  };
  const named = await t.throwsAsync(
    drain(encodedVideoFrames(chunksOf(new Uint8Array(10)), 'concat', policy(), model, signal, log)),
    { instanceOf: ServerError },
  );
  t.is(named.code, Status.INVALID_ARGUMENT);
  t.regex(named.details, /container_format "concat" is not accepted/);
  const playlist = await t.throwsAsync(
    drain(
      encodedVideoFrames(
        chunksOf(new TextEncoder().encode(hlsPlaylist('/etc/passwd'))),
        '',
        policy(),
        model,
        signal,
        log,
      ),
    ),
    { instanceOf: ServerError },
  );
  t.is(playlist.code, Status.INVALID_ARGUMENT);
  t.notRegex(playlist.details, /passwd|@ 0x/);
});

test('encoded video over the pixel cap is refused by ffmpeg’s -max_pixels', async (t) => {
  const huge = await readFile(await makeHugeDeclaredAvi(await tempDir(t)));
  const { log } = memoryLogger();
  const error = await t.throwsAsync(
    (async () => {
      for await (const frame of encodedVideoFrames(
        chunksOf(huge),
        'avi',
        policy(),
        model,
        new AbortController().signal,
        log,
      ))
        void frame;
    })(),
    { instanceOf: ServerError },
  );
  t.is(error.code, Status.INVALID_ARGUMENT);
  t.regex(error.details, /16000x16000, over this server's limit/);
});
