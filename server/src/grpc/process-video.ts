import type { handleBidiStreamingCall } from '@grpc/grpc-js';
import type { FrameResult, OpenVideo, VideoRequest } from '../../../proto/generated/fusionseg/v1/segmentation.pb.js';
import { invalidArgument } from '../errors.js';
import { pendingFrames } from '../pipeline/segment-frame.js';
import type { ServiceContext } from '../pipeline/service-context.js';
import { protoFieldName, resolveStreamSettings } from '../pipeline/stream-settings.js';
import { eachMessage, runStreamSession, type OpenedStream, type OpeningStream } from '../pipeline/stream-session.js';
import { openVideoSource } from '../pipeline/video-source.js';

/** ProcessVideo: a whole video (uploaded, a server-side file, or a URL) in, one result per frame out. */
export function processVideo(service: ServiceContext): handleBidiStreamingCall<VideoRequest, FrameResult> {
  return (call) => void runStreamSession(call, service, 'ProcessVideo', 'open', openVideoStream);
}

async function openVideoStream(stream: OpeningStream<VideoRequest>): Promise<OpenedStream> {
  const { open: first, messages, service, signal, log } = stream;
  if (first.payload?.$case !== 'open') {
    throw invalidArgument('the first ProcessVideo message must be "open" (with the source and options)');
  }
  const open = first.payload.open;
  checkSampling(open);
  const settings = resolveStreamSettings(open.options, service.engine.model, true);
  stream.useDecoder();
  const source = await openVideoSource(
    open,
    uploadChunks(messages),
    service.limits,
    service.engine.model.input,
    signal,
    log,
  );
  return {
    settings,
    frames: pendingFrames(source.frames),
    totalFrames: source.totalFrames,
    close: () => source.close(),
  };
}

function checkSampling(open: OpenVideo): void {
  if (!Number.isFinite(open.fps) || open.fps < 0 || open.fps > 1000) {
    throw invalidArgument(`fps must be between 0 (every frame) and 1000, got ${open.fps}`);
  }
  if (!Number.isFinite(open.startTime) || open.startTime < 0 || open.startTime > 366 * 86_400) {
    throw invalidArgument(`start_time must be from 0 to 31622400 seconds, got ${open.startTime}`);
  }
}

/** The bytes of an upload's chunk messages. */
function uploadChunks(messages: AsyncIterable<VideoRequest>): AsyncIterable<Uint8Array> {
  return eachMessage(messages, ({ payload }, number) => {
    if (payload?.$case !== 'chunk') {
      throw invalidArgument(`message ${number} of an upload must be "chunk", got "${protoFieldName(payload?.$case)}"`);
    }
    return payload.chunk.data;
  });
}
