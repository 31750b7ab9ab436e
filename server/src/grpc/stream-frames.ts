import type { handleBidiStreamingCall } from '@grpc/grpc-js';
import {
  InputKind,
  type FrameRequest,
  type FrameResult,
} from '../../../proto/generated/fusionseg/v1/segmentation.pb.js';
import { invalidArgument } from '../errors.js';
import { pendingFrames, type PendingFrame } from '../pipeline/segment-frame.js';
import type { ServiceContext } from '../pipeline/service-context.js';
import { knownEnum, protoFieldName, resolveStreamSettings } from '../pipeline/stream-settings.js';
import { eachMessage, runStreamSession, type OpenedStream, type OpeningStream } from '../pipeline/stream-session.js';
import { encodedVideoFrames } from '../pipeline/video-source.js';
import { decodeStill, type StillImage } from '../video/image-frames.js';

/** StreamFrames: bidirectional; frames (raw, JPEG, PNG) or encoded video chunks in, one result per frame out. */
export function streamFrames(service: ServiceContext): handleBidiStreamingCall<FrameRequest, FrameResult> {
  return (call) => void runStreamSession(call, service, 'StreamFrames', 'open', openFrameStream);
}

function openFrameStream(stream: OpeningStream<FrameRequest>): OpenedStream {
  const { open: first, messages, service, signal, log } = stream;
  if (first.payload?.$case !== 'open') {
    throw invalidArgument('the first StreamFrames message must be "open" (with the stream options)');
  }
  const open = first.payload.open;
  const input = knownEnum(InputKind, open.input, 'open.input');
  const video = input === InputKind.INPUT_KIND_ENCODED_VIDEO;
  const settings = resolveStreamSettings(open.options, service.engine.model, video);
  const size = service.engine.model.input;
  if (!video) {
    return { settings, frames: stillFrames(messages, size), totalFrames: 0 };
  }
  stream.useDecoder();
  const frames = encodedVideoFrames(videoChunks(messages), open.containerFormat, service.limits, size, signal, log);
  return { settings, frames: pendingFrames(frames), totalFrames: 0 };
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
        `message ${index + 2} of a frame stream must be "frame", got "${protoFieldName(payload?.$case)}"` +
          (payload?.$case === 'videoChunk'
            ? ' (open the stream with input = INPUT_KIND_ENCODED_VIDEO to send video)'
            : ''),
      );
    }
    const frame = payload.frame;
    const image = frame.image;
    const label = `frame ${frame.frameId} (message ${index + 2})`;
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
function videoChunks(messages: AsyncIterable<FrameRequest>): AsyncIterable<Uint8Array> {
  return eachMessage(messages, ({ payload }, number) => {
    if (payload?.$case !== 'videoChunk') {
      throw invalidArgument(
        `message ${number} of an encoded-video stream must be "video_chunk", got "${protoFieldName(payload?.$case)}"`,
      );
    }
    return payload.videoChunk.data;
  });
}
