import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { MapEncoding } from '../../../proto/generated/fusionseg/v1/segmentation.pb.js';
import type { VideoSource } from '../client.js';
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

export const processUsage = `fusionseg process <video> | --server-path PATH | --url URL
    [--fps N] [--start-time S] [--max-frames N]
    [--overlay out.mp4] [--frames-dir DIR] [--frames-every N] [--json out.ndjson] [--summary]
    [--no-tracking] [--track-iou X] [--track-max-age N] [--tracks out.txt]
    ${connectionUsage}
  Runs a whole video through ProcessVideo: uploaded, or a file under the server's media root, or a URL.
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
  const client = await connect(values);
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

    const overlays = values.overlay !== undefined || values['frames-dir'] !== undefined;
    if (overlays && file === undefined) {
      throw new UsageError(
        '--overlay and --frames-dir need the video on this machine: upload it, or use `fusionseg stream`',
      );
    }
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
    client.close();
  }
}
