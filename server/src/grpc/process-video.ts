import type { handleBidiStreamingCall, ServerDuplexStream } from '@grpc/grpc-js';
import type { FrameResult, OpenVideo, VideoRequest } from '../../../proto/generated/fusionseg/v1/segmentation.pb.js';
import { invalidArgument } from '../errors.js';
import { runOrdered } from '../pipeline/run-ordered.js';
import { segmentFrame, type StreamContext } from '../pipeline/segment-frame.js';
import type { ServiceContext } from '../pipeline/service-context.js';
import type { StreamMonitor } from '../pipeline/stream-monitor.js';
import { resolveStreamSettings } from '../pipeline/stream-settings.js';
import { decodedVideoFrames } from '../pipeline/video-frames.js';
import type { DecoderInput } from '../video/decoder.js';
import { resolveMediaPath, resolveMediaUrl } from '../video/media-access.js';
import { expectedFrames, probeVideo } from '../video/probe.js';
import { spoolUpload, type SpooledUpload } from '../video/spool-upload.js';
import { callSignal, clientMessages, endCall, ResultWriter } from './call-io.js';
import { endCallWithError } from './end-call.js';

/** ProcessVideo: a whole video (uploaded, a server-side file, or a URL) in, one result per frame out. */
export function processVideo(service: ServiceContext): handleBidiStreamingCall<VideoRequest, FrameResult> {
  return (call) => void handleProcessVideo(call, service);
}

function checkSampling(open: OpenVideo): void {
  if (!Number.isFinite(open.fps) || open.fps < 0 || open.fps > 1000) {
    throw invalidArgument(`fps must be between 0 (every frame) and 1000, got ${open.fps}`);
  }
  if (!Number.isFinite(open.startTime) || open.startTime < 0) {
    throw invalidArgument(`start_time must be 0 or more seconds, got ${open.startTime}`);
  }
}

async function* uploadChunks(messages: AsyncIterator<VideoRequest>): AsyncGenerator<Uint8Array> {
  let index = 1;
  for (;;) {
    const next = await messages.next();
    if (next.done === true) return;
    index++;
    const payload = next.value.payload;
    if (payload?.$case !== 'chunk') {
      throw invalidArgument(`message ${index} of an upload must be "chunk", got "${payload?.$case ?? 'empty'}"`);
    }
    yield payload.chunk.data;
  }
}

async function handleProcessVideo(call: ServerDuplexStream<VideoRequest, FrameResult>, service: ServiceContext) {
  const stop = new AbortController();
  const signal = AbortSignal.any([callSignal(call), stop.signal]);
  let monitor: StreamMonitor | undefined;
  let upload: SpooledUpload | undefined;
  try {
    monitor = service.openStream('ProcessVideo', call);
    const stream = monitor;
    const messages = clientMessages(call)[Symbol.asyncIterator]();
    const first = await messages.next();
    if (first.done === true || first.value.payload?.$case !== 'open') {
      throw invalidArgument('the first ProcessVideo message must be "open" (with the source and options)');
    }
    const open = first.value.payload.open;
    checkSampling(open);
    const { engine, limits } = service;
    const settings = resolveStreamSettings(open.options, engine.model.name);

    let input: DecoderInput;
    let probeTarget: { path: string; protocols: readonly string[] };
    switch (open.source?.$case) {
      case 'upload':
        upload = await spoolUpload(uploadChunks(messages), limits.maxUploadBytes);
        input = { kind: 'file', path: upload.path };
        probeTarget = { path: `file:${upload.path}`, protocols: ['file'] };
        break;
      case 'serverPath': {
        const path = await resolveMediaPath(limits.mediaRoot, open.source.serverPath);
        input = { kind: 'file', path };
        probeTarget = { path: `file:${path}`, protocols: ['file'] };
        break;
      }
      case 'url': {
        const { url, protocols } = resolveMediaUrl(open.source.url, limits.allowedUrlSchemes);
        input = { kind: 'url', url, protocols };
        probeTarget = { path: url, protocols };
        break;
      }
      case undefined:
        throw invalidArgument('"open" must name a source: upload, server_path or url');
    }
    const sampling = {
      ...(open.fps > 0 ? { fps: open.fps } : {}),
      ...(open.startTime > 0 ? { startTime: open.startTime } : {}),
      ...(open.maxFrames > 0 ? { maxFrames: open.maxFrames } : {}),
    };
    const facts = await probeVideo(probeTarget.path, probeTarget.protocols);
    const context: StreamContext = {
      service,
      settings,
      signal,
      totalFrames: expectedFrames(facts, sampling) ?? 0,
    };
    const size = engine.model.input;
    const frames = decodedVideoFrames(
      input,
      { ...size, signal, ...sampling },
      undefined,
      sampling.fps ?? facts?.frameRate,
      facts !== undefined && facts.width > 0 ? { width: facts.width, height: facts.height } : size,
    );
    const writer = new ResultWriter(call, signal);
    await runOrdered(
      frames,
      limits.framesInFlight,
      (frame) => {
        stream.frameIn();
        return segmentFrame(frame, context);
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
    stop.abort();
    await upload?.remove();
    if (monitor !== undefined) service.closeStream(monitor, call);
  }
}
