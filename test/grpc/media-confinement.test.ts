/**
 * ffmpeg confinement through the real service (issue 14): playlists and concat lists, the pixel cap, URL
 * hosts, silent sources and a killed ffmpeg, each with its status and a message without server paths.
 * Needs server/src/pipeline/video-source.ts wired into the gRPC handlers.
 */
import test from 'ava';
import { status, type ServiceError } from '@grpc/grpc-js';
import { execFile } from 'node:child_process';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { ExecutionContext } from 'ava';
import {
  InputKind,
  type FrameRequest,
  type OpenVideo,
  type VideoRequest,
} from '../../proto/generated/fusionseg/v1/segmentation.pb.js';
import { makeTestClip, tempDir } from '../helpers/clips.js';
import {
  collect,
  openFramesRequest,
  openVideoRequest,
  processVideoCall,
  startTestService,
  streamFramesCall,
  uploadRequests,
  writeAll,
} from '../helpers/service.js';
import { concatList, hlsPlaylist, makeHugeDeclaredAvi, makeTsClip } from '../video/media-fixtures.js';

const execFileAsync = promisify(execFile);

const openVideo = (source: OpenVideo['source'], fields: Partial<OpenVideo> = {}): VideoRequest =>
  openVideoRequest({ source, ...fields });

const upload = (bytes: Uint8Array): VideoRequest[] => uploadRequests(bytes);

async function run(client: Parameters<typeof processVideoCall>[0], requests: VideoRequest[]) {
  const call = processVideoCall(client);
  const outcome = collect(call);
  await writeAll(call, requests);
  return outcome;
}

/** No server path (spool, media root, temp folders) and none of ffmpeg's raw text in what the client sees. */
function clean(t: ExecutionContext, error: ServiceError | undefined, ...paths: string[]): void {
  const details = error?.details ?? '';
  for (const path of paths) t.false(details.includes(path), `"${details}" names ${path}`);
  t.notRegex(details, /@ 0x|file:|\/tmp\/|fusionseg-upload-/);
}

async function listener(
  t: ExecutionContext,
  handle: (req: IncomingMessage, res: ServerResponse) => void,
): Promise<{ url: string; requests: string[] }> {
  const requests: string[] = [];
  const server = createServer((req, res) => {
    requests.push(`${req.method ?? ''} ${req.url ?? ''}`);
    handle(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    server.closeAllConnections();
    server.close();
  });
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, requests };
}

test('an uploaded HLS playlist whose segment lies outside the media root is INVALID_ARGUMENT', async (t) => {
  const root = await tempDir(t);
  const outside = await tempDir(t);
  const secret = await makeTsClip(outside);
  const { client } = await startTestService(t, { mediaRoot: root });
  const { results, error } = await run(client, upload(new TextEncoder().encode(hlsPlaylist(secret))));
  t.is(error?.code, status.INVALID_ARGUMENT);
  t.is(results.length, 0, 'nothing of the outside file is segmented');
  t.regex(error?.details ?? '', /container is not accepted/);
  clean(t, error, root, outside);
});

test('a playlist or concat list inside the media root, by server_path, is INVALID_ARGUMENT', async (t) => {
  const root = await tempDir(t);
  const outside = await tempDir(t);
  const secret = await makeTsClip(outside);
  await writeFile(join(root, 'escape.m3u8'), hlsPlaylist(secret));
  await writeFile(join(root, 'escape.txt'), concatList(secret));
  const { client } = await startTestService(t, { mediaRoot: root });
  for (const serverPath of ['escape.m3u8', 'escape.txt']) {
    const { results, error } = await run(client, [openVideo({ $case: 'serverPath', serverPath })]);
    t.is(error?.code, status.INVALID_ARGUMENT, serverPath);
    t.is(results.length, 0);
    clean(t, error, root, outside);
  }
});

test('a video declaring 16000x16000 frames is INVALID_ARGUMENT at once, naming the cap', async (t) => {
  const root = await tempDir(t);
  const huge = await makeHugeDeclaredAvi(root);
  const { client } = await startTestService(t, { mediaRoot: root, maxPixels: 4096 * 2160 });
  const started = performance.now();
  const byPath = await run(client, [openVideo({ $case: 'serverPath', serverPath: 'huge.avi' })]);
  t.is(byPath.error?.code, status.INVALID_ARGUMENT);
  t.is(byPath.error?.details, "the video's frames are 16000x16000, over this server's limit of 8847360 pixels");
  const uploaded = await run(client, upload(await readFile(huge)));
  t.is(uploaded.error?.code, status.INVALID_ARGUMENT);
  t.regex(uploaded.error?.details ?? '', /16000x16000, over this server's limit of 8847360 pixels/);
  t.true(performance.now() - started < 10_000);
  // Encoded video through the pipe: only ffmpeg's -max_pixels stands guard.
  const call = streamFramesCall(client);
  const outcome = collect(call);
  const bytes = await readFile(huge);
  const open = openFramesRequest();
  if (open.payload?.$case === 'open') {
    open.payload.open.input = InputKind.INPUT_KIND_ENCODED_VIDEO;
    open.payload.open.containerFormat = 'avi';
  }
  const requests: FrameRequest[] = [open, { payload: { $case: 'videoChunk', videoChunk: { data: bytes } } }];
  await writeAll(call, requests);
  const streamed = await outcome;
  t.is(streamed.error?.code, status.INVALID_ARGUMENT);
  t.regex(streamed.error?.details ?? '', /16000x16000/);
});

test('an encoded-video stream naming a playlist demuxer is INVALID_ARGUMENT', async (t) => {
  const { client } = await startTestService(t);
  const call = streamFramesCall(client);
  const outcome = collect(call);
  const open = openFramesRequest();
  if (open.payload?.$case === 'open') {
    open.payload.open.input = InputKind.INPUT_KIND_ENCODED_VIDEO;
    open.payload.open.containerFormat = 'hls';
  }
  await writeAll(call, [open, { payload: { $case: 'videoChunk', videoChunk: { data: new Uint8Array(16) } } }]);
  const { error } = await outcome;
  t.is(error?.code, status.INVALID_ARGUMENT);
  t.regex(error?.details ?? '', /container_format "hls" is not accepted/);
});

test('a URL to a local listener is PERMISSION_DENIED and the listener sees no request', async (t) => {
  const served = await listener(t, (_req, res) => res.end('x'));
  const { client } = await startTestService(t, { allowUrlSchemes: ['http'] });
  const port = new URL(served.url).port;
  for (const url of [`${served.url}/v.ts`, `http://[::ffff:127.0.0.1]:${port}/v.ts`, `http://localhost:${port}/v.ts`]) {
    const { error } = await run(client, [openVideo({ $case: 'url', url })]);
    t.is(error?.code, status.PERMISSION_DENIED, url);
  }
  t.deepEqual(served.requests, []);
});

test('allowed by allowUrlHosts, the local listener serves the video (fetched once)', async (t) => {
  const clip = await readFile(await makeTsClip(await tempDir(t), 'clip.ts', 6));
  const served = await listener(t, (_req, res) => {
    res.writeHead(200, { 'content-type': 'video/mp2t', 'content-length': clip.length });
    res.end(clip);
  });
  const { client } = await startTestService(t, { allowUrlSchemes: ['http'], allowUrlHosts: ['127.0.0.1'] });
  const { results, error } = await run(client, [openVideo({ $case: 'url', url: `${served.url}/clip.ts` })]);
  t.is(error, undefined);
  t.is(results.length, 6);
  t.true(results.every((result) => result.sourceWidth === 64 && result.sourceHeight === 48));
  t.is(served.requests.length, 1, served.requests.join('; '));
});

test('a silent URL source ends UNAVAILABLE after urlTimeoutMs, before the client’s deadline', async (t) => {
  const silent = await listener(t, () => {});
  const { client } = await startTestService(t, {
    allowUrlSchemes: ['http'],
    allowUrlHosts: ['127.0.0.1'],
    urlTimeoutMs: 1000,
  });
  const { error } = await run(client, [openVideo({ $case: 'url', url: `${silent.url}/live.ts` })]);
  t.is(error?.code, status.UNAVAILABLE);
  clean(t, error);
  t.notRegex(error?.details ?? '', /127\.0\.0\.1/);
});

test.serial('a killed ffmpeg ends the stream INTERNAL "the decoder crashed"', async (t) => {
  const root = await tempDir(t);
  await makeTestClip(root, { frames: 300, rate: 30, width: 320, height: 240 });
  const { client } = await startTestService(t, { mediaRoot: root }, { heavyChannels: 32 });
  const call = processVideoCall(client);
  const outcome = collect(call);
  let killed = false;
  call.on('data', () => {
    if (killed) return;
    killed = true;
    void execFileAsync('ps', ['-o', 'pid=,args=', '--ppid', String(process.pid)]).then(({ stdout }) => {
      for (const line of stdout.split('\n')) {
        const [pid, ...args] = line.trim().split(/\s+/);
        if (pid !== undefined && /ffmpeg/.test(args.join(' '))) process.kill(Number(pid), 'SIGKILL');
      }
    });
  });
  await writeAll(call, [openVideo({ $case: 'serverPath', serverPath: 'clip.mp4' })]);
  const { results, error } = await outcome;
  t.true(results.length < 300);
  t.is(error?.code, status.INTERNAL);
  t.regex(error?.details ?? '', /the decoder crashed/);
  clean(t, error, root);
});

test('a truncated upload and garbage are INVALID_ARGUMENT without the spool path', async (t) => {
  const clip = await readFile(await makeTestClip(await tempDir(t), { name: 'plain.mov', frames: 10 }));
  const { client } = await startTestService(t);
  const garbage = new Uint8Array(50_000).map((_, i) => (i * 7919) % 256);
  for (const bytes of [garbage, clip.subarray(0, clip.length >> 1)]) {
    const { error } = await run(client, upload(bytes));
    t.is(error?.code, status.INVALID_ARGUMENT);
    t.regex(error?.details ?? '', /could not decode the video: .+/);
    clean(t, error);
  }
});
