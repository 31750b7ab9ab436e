import type { handleBidiStreamingCall, ServerDuplexStream } from '@grpc/grpc-js';
import {
  InputKind,
  type FrameRequest,
  type FrameResult,
} from '../../../proto/generated/fusionseg/v1/segmentation.pb.js';
import { invalidArgument } from '../errors.js';
import { runOrdered } from '../pipeline/run-ordered.js';
import { segmentFrame, type DecodedFrame, type StreamContext } from '../pipeline/segment-frame.js';
import type { ServiceContext } from '../pipeline/service-context.js';
import type { StreamMonitor } from '../pipeline/stream-monitor.js';
import { resolveStreamSettings } from '../pipeline/stream-settings.js';
import { decodeStill, type StillImage } from '../video/image-frames.js';
import { decodedVideoFrames } from '../pipeline/video-frames.js';
import { callSignal, clientMessages, endCall, ResultWriter } from './call-io.js';
import { endCallWithError } from './end-call.js';

/** StreamFrames: bidirectional; frames (raw, JPEG, PNG) or encoded video chunks in, one result per frame out. */
export function streamFrames(service: ServiceContext): handleBidiStreamingCall<FrameRequest, FrameResult> {
  return (call) => void handleStreamFrames(call, service);
}

async function handleStreamFrames(call: ServerDuplexStream<FrameRequest, FrameResult>, service: ServiceContext) {
  const stop = new AbortController();
  const signal = AbortSignal.any([callSignal(call), stop.signal]);
  let monitor: StreamMonitor | undefined;
  try {
    monitor = service.openStream('StreamFrames', call);
    const stream = monitor;
    const messages = clientMessages(call)[Symbol.asyncIterator]();
    const first = await messages.next();
    if (first.done === true) {
      call.end();
      return;
    }
    if (first.value.payload?.$case !== 'open') {
      throw invalidArgument('the first StreamFrames message must be "open" (with the stream options)');
    }
    const open = first.value.payload.open;
    const { engine } = service;
    const context: StreamContext = {
      service,
      settings: resolveStreamSettings(open.options, engine.model.name),
      signal,
      totalFrames: 0,
    };
    const rest: AsyncIterable<FrameRequest> = { [Symbol.asyncIterator]: () => messages };
    const source: AsyncIterable<PendingFrame> =
      open.input === InputKind.INPUT_KIND_ENCODED_VIDEO
        ? pending(
            decodedVideoFrames(
              { kind: 'pipe', format: open.containerFormat },
              { ...engine.model.input, signal },
              feedChunks(rest),
              undefined,
            ),
          )
        : stillFrames(rest, engine.model.input);
    const writer = new ResultWriter(call, signal);
    await runOrdered(
      source,
      service.limits.framesInFlight,
      async (frame) => {
        stream.frameIn();
        return segmentFrame(await frame.decoded, context);
      },
      async (result) => {
        await writer.write(result);
        stream.frameOut(result);
      },
    );
    await endCall(call, signal);
  } catch (error: unknown) {
    monitor?.fail(error);
    endCallWithError(call, error);
  } finally {
    stop.abort(); // stops ffmpeg and drops this stream's queued frames
    if (monitor !== undefined) service.closeStream(monitor, call);
  }
}

/**
 * A frame on its way through decoding. Wrapped in an object because an async generator awaits what it
 * yields: a bare promise would make each decode wait for the one before.
 */
interface PendingFrame {
  readonly decoded: DecodedFrame | Promise<DecodedFrame>;
}

async function* pending(frames: AsyncIterable<DecodedFrame>): AsyncGenerator<PendingFrame> {
  for await (const decoded of frames) yield { decoded };
}

/** Each frame message starts decoding at once (within the stream's window), so decodes overlap. */
async function* stillFrames(
  messages: AsyncIterable<FrameRequest>,
  size: { width: number; height: number },
): AsyncGenerator<PendingFrame> {
  let index = 0;
  for await (const message of messages) {
    const payload = message.payload;
    if (payload?.$case !== 'frame') {
      throw invalidArgument(
        `message ${index + 1} of a frame stream must be "frame", got "${payload?.$case ?? 'empty'}"` +
          (payload?.$case === 'videoChunk'
            ? ' (open the stream with input = INPUT_KIND_ENCODED_VIDEO to send video)'
            : ''),
      );
    }
    const frame = payload.frame;
    const image = frame.image;
    const label = `frame ${frame.frameId} (message ${index + 1})`;
    let still: StillImage;
    if (image?.$case === 'raw') still = { kind: 'raw', ...image.raw };
    else if (image?.$case === 'jpeg') still = { kind: 'jpeg', bytes: image.jpeg };
    else if (image?.$case === 'png') still = { kind: 'png', bytes: image.png };
    else throw invalidArgument(`${label} carries no image (raw, jpeg or png)`);
    const arrivedAt = performance.now();
    const frameIndex = index++;
    const decoded = decodeStill(still, size.width, size.height, label).then((image) => ({
      index: frameIndex,
      frameId: frame.frameId,
      pts: frame.pts,
      sourceWidth: image.sourceWidth,
      sourceHeight: image.sourceHeight,
      rgb: image.rgb,
      decodeUs: Math.round((performance.now() - arrivedAt) * 1000),
      arrivedAt,
    }));
    decoded.catch(() => {}); // observed in turn by the pipeline
    yield { decoded };
  }
}

/** The bytes of an encoded video stream's chunk messages. */
async function* feedChunks(messages: AsyncIterable<FrameRequest>): AsyncGenerator<Uint8Array> {
  let index = 1;
  for await (const message of messages) {
    index++;
    const payload = message.payload;
    if (payload?.$case !== 'videoChunk') {
      throw invalidArgument(
        `message ${index} of an encoded-video stream must be "video_chunk", got "${payload?.$case ?? 'empty'}"`,
      );
    }
    yield payload.videoChunk.data;
  }
}
