import { credentials, Metadata, type ClientDuplexStream, type ServiceError } from '@grpc/grpc-js';
import type { ExecutionContext } from 'ava';
import { join } from 'node:path';
import { pino } from 'pino';
import {
  FrameRequest,
  InputKind,
  MapEncoding,
  SegmentationServiceClient,
  VideoRequest,
  type FrameResult,
  type OpenVideo,
  type StreamOptions,
} from '../../proto/generated/fusionseg/v1/segmentation.pb.js';
import { startService, type RunningService, type ServiceHooks } from '../../server/src/service.js';
import type { ServerConfig } from '../../server/src/config.js';
import { tempDir } from './clips.js';
import { writeTestModel, type TestModelOptions } from './onnx-models.js';

export interface TestService {
  readonly service: RunningService;
  readonly client: SegmentationServiceClient;
  readonly address: string;
}

/** A real service on 127.0.0.1:0 over a generated test model, stopped when the test ends. */
export async function startTestService(
  t: ExecutionContext,
  config: Partial<ServerConfig> = {},
  model: TestModelOptions = {},
  hooks: ServiceHooks = {},
): Promise<TestService> {
  const modelDir = await writeTestModel(join(await tempDir(t), 'model'), model);
  const service = await startService(
    {
      devices: 'cpu:1',
      fusionWorkers: 1,
      drainTimeoutMs: 2000,
      ...config,
      modelDir,
      address: '127.0.0.1:0',
    },
    // Tests read outcomes from calls and metrics: only errors of the servers reach the test output.
    { log: pino({ level: 'error' }, pino.destination(2)), ...hooks },
  );
  const address = `127.0.0.1:${service.port}`;
  const client = new SegmentationServiceClient(address, credentials.createInsecure(), {
    'grpc.max_receive_message_length': 64 * 1024 * 1024,
    'grpc.max_send_message_length': 64 * 1024 * 1024,
  });
  t.teardown(async () => {
    client.close();
    await service.stop();
  });
  return { service, client, address };
}

export interface CallOutcome {
  readonly results: FrameResult[];
  readonly error: ServiceError | undefined;
}

/** Collects a streaming call's results until it ends (OK or with an error). */
export function collect<Req>(call: ClientDuplexStream<Req, FrameResult>): Promise<CallOutcome> {
  const results: FrameResult[] = [];
  return new Promise((resolve) => {
    call.on('data', (result: FrameResult) => results.push(result));
    call.on('error', (error: ServiceError) => resolve({ results, error }));
    call.on('end', () => resolve({ results, error: undefined }));
  });
}

/** Writes requests in order, waiting for 'drain' when the call's buffer is full, then half-closes. */
export async function writeAll<Req>(
  call: ClientDuplexStream<Req, FrameResult>,
  requests: Iterable<Req>,
): Promise<void> {
  let ended = false;
  const onEnd = () => (ended = true);
  call.once('error', onEnd);
  call.once('close', onEnd);
  for (const request of requests) {
    if (ended || call.destroyed) return;
    if (!call.write(request)) {
      // The server may end the call (with an error) while this side waits to write more.
      await new Promise<void>((resolve) => {
        const done = () => {
          call.off('drain', done);
          call.off('error', done);
          call.off('close', done);
          resolve();
        };
        call.once('drain', done);
        call.once('error', done);
        call.once('close', done);
      });
    }
  }
  if (!ended) call.end();
}

export function streamFramesCall(client: SegmentationServiceClient, deadlineMs = 30_000) {
  return client.streamFrames(new Metadata(), { deadline: Date.now() + deadlineMs });
}

export function processVideoCall(client: SegmentationServiceClient, deadlineMs = 30_000) {
  return client.processVideo(new Metadata(), { deadline: Date.now() + deadlineMs });
}

export { FrameRequest, VideoRequest };

/** ffmpeg processes that are children of this process (tests that count them run with test.serial). */
export async function childFfmpegCount(): Promise<number> {
  const { execFile } = await import('node:child_process');
  return new Promise((resolve) => {
    execFile('ps', ['-o', 'args=', '--ppid', String(process.pid)], (_error, stdout) => {
      resolve(stdout.split('\n').filter((line) => /ffmpeg/.test(line) && !/ffprobe/.test(line)).length);
    });
  });
}

/** Stream options with both maps in `encoding` and the server's defaults for everything else. */
export function streamOptions(encoding: MapEncoding): StreamOptions {
  return {
    model: '',
    overload: 0,
    output: {
      semanticMap: encoding,
      instanceMap: encoding,
      panopticPng: false,
      sourceResolution: false,
      detections: false,
    },
  };
}

/** The "open" message of a frames stream with maps in `encoding` (default RLE) and the server's fusion defaults. */
export function openFramesRequest(encoding: MapEncoding = MapEncoding.MAP_ENCODING_RLE): FrameRequest {
  return {
    payload: {
      $case: 'open',
      open: {
        options: streamOptions(encoding),
        input: InputKind.INPUT_KIND_FRAMES,
        containerFormat: '',
      },
    },
  };
}

/** The "open" message of a ProcessVideo call with RLE maps and the server's defaults; `fields` override. */
export function openVideoRequest(fields: Partial<OpenVideo> = {}): VideoRequest {
  return {
    payload: {
      $case: 'open',
      open: {
        options: streamOptions(MapEncoding.MAP_ENCODING_RLE),
        source: undefined,
        fps: 0,
        startTime: 0,
        maxFrames: 0,
        ...fields,
      },
    },
  };
}

/** A ProcessVideo call that uploads `bytes` in 16 KiB chunks after its "open". */
export function uploadRequests(bytes: Uint8Array, fields: Partial<OpenVideo> = {}): VideoRequest[] {
  const requests = [
    openVideoRequest({
      source: { $case: 'upload', upload: { containerFormat: '', sizeBytes: bytes.length } },
      ...fields,
    }),
  ];
  for (let offset = 0; offset < bytes.length; offset += 16 * 1024) {
    requests.push({ payload: { $case: 'chunk', chunk: { data: bytes.subarray(offset, offset + 16 * 1024) } } });
  }
  return requests;
}

/** A raw frame message of one solid colour (the test graph's class is floor(red / 16)). */
export function solidFrameRequest(
  frameId: number,
  width: number,
  height: number,
  rgb: readonly number[],
): FrameRequest {
  const rgb24 = new Uint8Array(width * height * 3);
  for (let i = 0; i < rgb24.length; i += 3) rgb24.set(rgb, i);
  return {
    payload: {
      $case: 'frame',
      frame: { frameId, pts: frameId, image: { $case: 'raw', raw: { width, height, rgb24 } } },
    },
  };
}
