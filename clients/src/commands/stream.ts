import { parseArgs } from 'node:util';
import { MapEncoding } from '../../../proto/generated/fusionseg/v1/segmentation.pb.js';
import type { ClientFrame } from '../client.js';
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

export const streamUsage = `fusionseg stream <video|url|-> [--fps N] [--max-frames N] [--in-flight N]
    [--overlay out.mp4] [--frames-dir DIR] [--frames-every N] [--json out.ndjson] [--summary]
    [--no-tracking | --track-iou X --track-max-age N --tracks out.txt]
    ${connectionUsage}
  Decodes the video here with ffmpeg and streams its frames over StreamFrames, as a camera client does.
  Its frames are a video, so they are tracked (the server tracks frame streams only when asked; this
  command asks, unless --no-tracking): segment ids are track ids that follow an object from frame to
  frame, and overlays colour each track its own colour. --track-iou X (0 < X <= 1, the mask overlap an
  object needs to keep its track) and --track-max-age N (frames a lost track is kept) override the
  server's defaults; --track is accepted and changes nothing.
  ${tracksHelp}`;

/** `fusionseg stream`: client-side decoding, bidirectional frame streaming. */
export async function streamCommand(argv: readonly string[], signal: AbortSignal): Promise<void> {
  const { values, positionals } = parseArgs({
    args: [...argv],
    options: {
      ...connectionOptions,
      ...helpOption,
      ...outputOptions,
      fps: { type: 'string' },
      'max-frames': { type: 'string' },
      'in-flight': { type: 'string' },
      track: { type: 'boolean' },
      'no-tracking': { type: 'boolean' },
      ...trackingSettingsOptions,
    },
    allowPositionals: true,
  });
  if (values.help === true) return printCommandUsage(streamUsage);
  const source = positionals[0];
  if (source === undefined || positionals.length > 1)
    throw new UsageError('stream takes one video (a path, a URL, or - for stdin)');
  const fps = positiveNumber(values.fps, 'fps');
  const maxFrames = positiveNumber(values['max-frames'], 'max-frames');
  const inFlight = positiveNumber(values['in-flight'], 'in-flight') ?? 8;
  const tracking = trackingChoice(values, true).options;
  const client = await connect(values);
  // Closed whatever happens: a failed call must not leave ffmpeg processes keeping the command alive.
  const opened: { decoder?: { close(): Promise<void> }; renderer?: ResultRenderer } = {};
  let completed = false;
  try {
    const info = await client.getModelInfo({ deadlineMs: 15_000, signal });
    const video = await openLocalVideo(source);
    const local = localDecoder(video, { fps, maxFrames }, { width: info.inputWidth, height: info.inputHeight }, signal);
    opened.decoder = local.decoder;
    if (video.input.kind === 'pipe') {
      const decoder = local.decoder;
      void (async () => {
        for await (const chunk of process.stdin as AsyncIterable<Buffer>) await decoder.write(chunk);
        decoder.end();
      })();
    }
    const renderer = new ResultRenderer(values, info, local.frameRate, 'stream');
    opened.renderer = renderer;
    await renderer.open();

    // Frames sent but not answered yet: their source pixels (for overlays) and send times (for latency).
    const sent = new Map<number, { rgb: Uint8Array; at: number }>();
    let answered = 0;
    let wake: (() => void) | undefined;
    async function* frames(): AsyncGenerator<ClientFrame> {
      let index = 0;
      for await (const rgb of local.decoder.frames()) {
        while (index - answered >= inFlight) await new Promise<void>((resolve) => (wake = resolve));
        sent.set(index, { rgb, at: performance.now() });
        yield { frameId: index, pts: index, raw: { width: local.width, height: local.height, rgb24: rgb } };
        index++;
      }
    }
    const results = client.streamFrames(frames(), {
      signal,
      output: {
        semanticMap: MapEncoding.MAP_ENCODING_RLE,
        instanceMap: MapEncoding.MAP_ENCODING_RLE,
        panopticPng: renderer.needsPanoptic,
      },
      tracking,
    });
    for await (const segmented of results) {
      const entry = sent.get(segmented.result.frameId);
      sent.delete(segmented.result.frameId);
      answered++;
      wake?.();
      const frame =
        renderer.needsSourceFrames && entry !== undefined
          ? { rgb: entry.rgb, width: local.width, height: local.height }
          : undefined;
      await renderer.add(segmented, frame, entry === undefined ? undefined : performance.now() - entry.at, local.total);
    }
    await renderer.close();
    completed = true;
  } finally {
    if (!completed) await opened.renderer?.abandon();
    await opened.decoder?.close();
    client.close();
  }
}
