/**
 * One frame's path after decoding: batch -> infer -> fuse -> track -> encode, and the FrameResult that
 * answers it. Untracked frames are fused and encoded in one worker step.
 */
import {
  SegmentSource,
  type Detection as DetectionMessage,
  FrameResult,
} from '../../../proto/generated/fusionseg/v1/segmentation.pb.js';
import { FrameDropped, type LaneKey } from '../engine/batcher.js';
import { cancelled } from '../errors.js';
import type { Detection } from '../engine/postprocess.js';
import type { FinishedFrame } from '../fusion/finish-protocol.js';
import type { ServiceContext } from './service-context.js';
import type { StreamSettings } from './stream-settings.js';
import type { TrackedFrameInfo, TrackStage, TrackTurn } from './track-stage.js';

/** A decoded frame at the model's input size, with what the result must echo. */
export interface DecodedFrame {
  readonly index: number;
  readonly frameId: number;
  readonly pts: number;
  readonly sourceWidth: number;
  readonly sourceHeight: number;
  /** RGB24 at the model's input size; ownership passes to the engine. */
  readonly rgb: Uint8Array;
  readonly decodeUs: number;
  /** performance.now() when the frame arrived (or started decoding). */
  readonly arrivedAt: number;
}

/**
 * A frame on its way through decoding. Wrapped in an object because an async generator awaits what it
 * yields: a bare promise would make each decode wait for the one before.
 */
export interface PendingFrame {
  readonly decoded: DecodedFrame | Promise<DecodedFrame>;
}

/** Decoded frames as pending ones (video decoders produce frames already decoded). */
export async function* pendingFrames(frames: AsyncIterable<DecodedFrame>): AsyncGenerator<PendingFrame> {
  for await (const decoded of frames) yield { decoded };
}

export interface StreamContext {
  readonly service: ServiceContext;
  readonly settings: StreamSettings;
  readonly signal: AbortSignal;
  /** The stream's lane in the batcher: lanes are served round-robin, and a live stream drops from its own. */
  readonly lane: LaneKey;
  /** The stream's frame count when known (video inputs), else 0. */
  totalFrames: number;
  /** The stream's tracking, when it is on. */
  readonly tracking: TrackStage | undefined;
}

/** `turn`: the frame's place in the stream's tracking order (taken as the frame was pulled), if tracked. */
export async function segmentFrame(
  frame: DecodedFrame,
  context: StreamContext,
  turn: TrackTurn | undefined,
): Promise<FrameResult> {
  const { engine, finishers } = context.service;
  const { settings } = context;
  let inference;
  try {
    inference = await engine.infer(frame.rgb, context.signal, context.lane);
  } catch (error: unknown) {
    if (error instanceof FrameDropped) return droppedResult(frame, context);
    throw error;
  }
  // A stream that ended while its frame was inferred fuses nothing more.
  if (context.signal.aborted) throw cancelled('the stream ended');
  // Before the outputs are transferred to a fusion worker.
  const detections = settings.output.detections ? inference.outputs.detections.map(toDetectionMessage) : [];
  const request = {
    frame: inference.outputs,
    fusion: settings.fusion,
    output: settings.output,
    sourceWidth: frame.sourceWidth,
    sourceHeight: frame.sourceHeight,
  };
  let finished: FinishedFrame;
  let tracked: TrackedFrameInfo | undefined;
  if (turn === undefined) {
    finished = await finishers.finish(request);
  } else {
    const fused = await finishers.fuse(request);
    tracked = await turn.track(frame.index, fused);
    if (context.signal.aborted) throw cancelled('the stream ended');
    finished = await finishers.encode({
      fused,
      tracks: tracked.tracks,
      output: settings.output,
      sourceWidth: frame.sourceWidth,
      sourceHeight: frame.sourceHeight,
    });
  }
  context.service.framesSegmented++;
  const { width: modelWidth, height: modelHeight } = engine.model.input;
  return {
    index: frame.index,
    frameId: frame.frameId,
    pts: frame.pts,
    width: finished.width,
    height: finished.height,
    sourceWidth: frame.sourceWidth,
    sourceHeight: frame.sourceHeight,
    modelWidth,
    modelHeight,
    scaleX: frame.sourceWidth / modelWidth,
    scaleY: frame.sourceHeight / modelHeight,
    semantic: finished.semantic,
    instance: finished.instance,
    segments: finished.segments.map((segment) => ({
      id: segment.id,
      classId: segment.classId,
      score: segment.score,
      area: segment.area,
      box: { x0: segment.box[0], y0: segment.box[1], x1: segment.box[2], y1: segment.box[3] },
      source: segment.source === 'new' ? SegmentSource.SEGMENT_SOURCE_NEW : SegmentSource.SEGMENT_SOURCE_DETECTED,
      grownArea: segment.grownArea,
      trackId: segment.track?.id ?? 0,
      trackFirstIndex: segment.track?.firstIndex ?? 0,
    })),
    panopticPng: finished.panopticPng ?? new Uint8Array(0),
    timings: {
      decodeUs: frame.decodeUs,
      queueUs: Math.round(inference.timings.queueMs * 1000),
      inferenceUs: Math.round(inference.timings.inferenceMs * 1000),
      fusionUs: finished.fusionUs,
      trackUs: tracked?.trackUs ?? 0,
      encodeUs: finished.encodeUs,
      totalUs: Math.round((performance.now() - frame.arrivedAt) * 1000),
      batchSize: inference.timings.batchSize,
    },
    totalFrames: context.totalFrames,
    droppedComponents: finished.droppedComponents,
    detections,
    dropped: false,
    tracked: tracked !== undefined,
    tracksBorn: tracked === undefined ? [] : [...tracked.born],
    tracksEnded: (tracked?.ended ?? []).map((track) => ({
      trackId: track.trackId,
      classId: track.classId,
      firstIndex: track.firstIndex,
      lastIndex: track.lastIndex,
      framesSeen: track.framesSeen,
    })),
  };
}

/** The answer to a frame dropped before inference: which frame, and that it was dropped. */
function droppedResult(frame: DecodedFrame, context: StreamContext): FrameResult {
  const { width: modelWidth, height: modelHeight } = context.service.engine.model.input;
  return FrameResult.fromPartial({
    index: frame.index,
    frameId: frame.frameId,
    pts: frame.pts,
    sourceWidth: frame.sourceWidth,
    sourceHeight: frame.sourceHeight,
    modelWidth,
    modelHeight,
    timings: { decodeUs: frame.decodeUs, totalUs: Math.round((performance.now() - frame.arrivedAt) * 1000) },
    totalFrames: context.totalFrames,
    dropped: true,
    tracked: context.tracking !== undefined,
  });
}

function toDetectionMessage(detection: Detection): DetectionMessage {
  const [x1, y1, x2, y2] = detection.box;
  // A copy of the probabilities' bytes (float32, little-endian like every host ONNX Runtime runs on).
  const mask = new Uint8Array(
    detection.mask.buffer.slice(detection.mask.byteOffset, detection.mask.byteOffset + detection.mask.byteLength),
  );
  return { classId: detection.classId, score: detection.score, x1, y1, x2, y2, maskSize: detection.maskSize, mask };
}
