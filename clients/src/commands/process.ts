import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { status } from '@grpc/grpc-js';
import { MapEncoding } from '../../../proto/generated/fusionseg/v1/segmentation.pb.js';
import { FusionsegError, type FusionsegClient, type VideoSource } from '../client.js';
import {
  connect,
  connectionOptions,
  connectionUsage,
  helpOption,
  printCommandUsage,
  positiveNumber,
  trackingChoice,
  trackingSettingsOptions,
  UsageError,
} from './common.js';
import { localDecoder, openLocalVideo } from './local-video.js';
import { outputOptions, ResultRenderer, tracksHelp } from './render-results.js';

/** The waits before each retry of a job that ended UNAVAILABLE. */
const RETRY_DELAYS_MS = [500, 1000, 2000] as const;

export const processUsage = `fusionseg process <video> | --server-path PATH | --url URL
    [--fps N] [--start-time S] [--max-frames N]
    [--overlay out.mp4] [--frames-dir DIR] [--frames-every N] [--json out.ndjson] [--summary]
    [--no-tracking] [--track-iou X] [--track-max-age N] [--tracks out.txt] [--no-retry]
    ${connectionUsage}
  Runs a whole video through ProcessVideo: uploaded, or a file under the server's media root, or a URL.
  A job that ends UNAVAILABLE (its server went away) runs again from the start, on a reachable replica when
  --server lists several: up to ${RETRY_DELAYS_MS.length} retries, after ${RETRY_DELAYS_MS.map((ms) => `${ms / 1000} s`).join(', ')}; each retry rewrites the
  output files from the beginning. --no-retry fails at the first error instead.
  Tracking is on: segment ids are track ids that follow an object from frame to frame (overlays colour each
  track its own colour). --no-tracking switches it off; --track-iou X (0 < X <= 1, the mask overlap an
  object needs to keep its track) and --track-max-age N (frames a lost track is kept) override the server's
  defaults.
  ${tracksHelp}`;

/** `fusionseg process`: the server decodes the whole video. */
export async function processCommand(argv: readonly string[], signal: AbortSignal): Promise<void> {
  const { values, positionals } = parseArgs({
    args: [...argv],
    options: {
      ...connectionOptions,
      ...helpOption,
      ...outputOptions,
      'server-path': { type: 'string' },
      url: { type: 'string' },
      fps: { type: 'string' },
      'start-time': { type: 'string' },
      'max-frames': { type: 'string' },
      'no-tracking': { type: 'boolean' },
      'no-retry': { type: 'boolean' },
      ...trackingSettingsOptions,
    },
    allowPositionals: true,
  });
  if (values.help === true) return printCommandUsage(processUsage);
  const file = positionals[0];
  const chosen = [file, values['server-path'], values.url].filter((v) => v !== undefined).length;
  if (chosen !== 1 || positionals.length > 1)
    throw new UsageError('process takes exactly one of: a video file, --server-path, --url');
  const sampling = {
    fps: positiveNumber(values.fps, 'fps'),
    startTime: positiveNumber(values['start-time'], 'start-time'),
    maxFrames: positiveNumber(values['max-frames'], 'max-frames'),
  };
  const tracking = trackingChoice(values, true).options;
  const overlays = values.overlay !== undefined || values['frames-dir'] !== undefined;
  if (overlays && file === undefined) {
    throw new UsageError(
      '--overlay and --frames-dir need the video on this machine: upload it, or use `fusionseg stream`',
    );
  }
  const client = await connect(values);
  try {
    // Every job is idempotent (the video is read again from its source), so one that ended UNAVAILABLE runs
    // again from the start: a new call, which the client sends to a replica that is reachable now.
    for (let retry = 0; ; retry++) {
      try {
        return await runJob(client, { values, file, sampling, tracking, overlays, signal });
      } catch (error: unknown) {
        const delay = RETRY_DELAYS_MS[retry];
        const unavailable = error instanceof FusionsegError && error.code === status.UNAVAILABLE;
        if (!unavailable || delay === undefined || values['no-retry'] === true || signal.aborted) throw error;
        process.stderr.write(
          `fusionseg process: ${error.message}; retrying from the start in ${delay / 1000} s ` +
            `(retry ${retry + 1} of ${RETRY_DELAYS_MS.length})\n`,
        );
        // Interrupted while waiting: the command ends with the job's error, as without retries.
        await sleep(delay, undefined, { signal }).catch(() => {
          throw error;
        });
      }
    }
  } finally {
    client.close();
  }
}

interface Job {
  readonly values: ProcessFlags;
  readonly file: string | undefined;
  readonly sampling: { fps?: number | undefined; startTime?: number | undefined; maxFrames?: number | undefined };
  readonly tracking: ReturnType<typeof trackingChoice>['options'];
  readonly overlays: boolean;
  readonly signal: AbortSignal;
}

type ProcessFlags = ConstructorParameters<typeof ResultRenderer>[0] & {
  readonly 'server-path'?: string | undefined;
  readonly url?: string | undefined;
};

/** One run of the job, from the start: opens the source and the outputs (truncating them), and closes them. */
async function runJob(client: FusionsegClient, { values, file, sampling, tracking, overlays, signal }: Job) {
  // Closed whatever happens: a failed call must not leave ffmpeg processes keeping the command alive.
  const opened: { decoder?: { close(): Promise<void> }; renderer?: ResultRenderer } = {};
  let completed = false;
  try {
    const info = await client.getModelInfo({ deadlineMs: 15_000, signal });
    let source: VideoSource;
    if (file !== undefined) {
      const size = (await stat(file)).size; // fails clearly (ENOENT) before anything is sent
      source = { upload: createReadStream(file, { highWaterMark: 1024 * 1024 }), sizeBytes: size };
    } else if (values['server-path'] !== undefined) source = { serverPath: values['server-path'] };
    else source = { url: values.url! };

    const local =
      overlays && file !== undefined
        ? localDecoder(await openLocalVideo(file), sampling, { width: 1, height: 1 }, signal)
        : undefined;
    if (local !== undefined) opened.decoder = local.decoder;
    const renderer = new ResultRenderer(values, info, local?.frameRate ?? sampling.fps ?? 25, 'process');
    opened.renderer = renderer;
    await renderer.open();
    const localFrames = local?.decoder.frames()[Symbol.asyncIterator]();
    const started = performance.now();
    for await (const segmented of client.processVideo(source, {
      signal,
      ...Object.fromEntries(Object.entries(sampling).filter(([, v]) => v !== undefined)),
      output: {
        semanticMap: MapEncoding.MAP_ENCODING_RLE,
        instanceMap: MapEncoding.MAP_ENCODING_RLE,
        panopticPng: renderer.needsPanoptic,
      },
      tracking,
    })) {
      const next = await localFrames?.next();
      const frame =
        next !== undefined && next.done !== true && local !== undefined
          ? { rgb: next.value, width: local.width, height: local.height }
          : undefined;
      // No per-frame send time for server-side decoding: latency is time since the call started.
      await renderer.add(segmented, frame, performance.now() - started, segmented.result.totalFrames);
    }
    await localFrames?.return?.();
    await renderer.close();
    completed = true;
  } finally {
    if (!completed) await opened.renderer?.abandon();
    await opened.decoder?.close();
  }
}
