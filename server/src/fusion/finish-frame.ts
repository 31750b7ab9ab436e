/**
 * fuse and encode for one frame: the paper's output fusion (fusion-wasm), then the maps and the panoptic PNG
 * in the encodings the stream asked for (with track ids when the stream is tracked). Runs in a finishing
 * worker.
 */
import type { Fusion, Segment } from '../../../fusion-wasm/src/index.js';
import { MapEncoding } from '../../../proto/generated/fusionseg/v1/segmentation.pb.js';
import { encodeMap } from '../encode/encode-map.js';
import { encodePanopticPng } from '../encode/png.js';
import { resizeLabels } from '../encode/resize-labels.js';
import type {
  FinishedFrame,
  FinishedMap,
  FinishedSegment,
  FinishRequest,
  FrameTracks,
  FusedFrame,
  StreamOutputOptions,
} from './finish-protocol.js';

const microseconds = (startMs: number) => Math.round((performance.now() - startMs) * 1000);

/** The map's bytes in a buffer of their own: a view would drag its whole buffer through postMessage. */
function standalone(map: FinishedMap | undefined): FinishedMap | undefined {
  if (map === undefined || (map.data.byteOffset === 0 && map.data.byteLength === map.data.buffer.byteLength))
    return map;
  return { ...map, data: new Uint8Array(map.data) };
}

/**
 * `segments` measured again on a resized instance map: area and box exactly, in its pixels (a segment the
 * resize left without pixels keeps area 0 and an empty box at 0); grown area scaled by the area ratio.
 */
export function measureSegments(
  segments: readonly Segment[],
  instance: Uint16Array,
  width: number,
  areaScale: number,
): Segment[] {
  if (segments.length === 0) return [];
  const maxId = segments.reduce((max, segment) => Math.max(max, segment.id), 0);
  const area = new Uint32Array(maxId + 1);
  const x0 = new Int32Array(maxId + 1).fill(2 ** 30);
  const y0 = new Int32Array(maxId + 1).fill(2 ** 30);
  const x1 = new Int32Array(maxId + 1).fill(-1);
  const y1 = new Int32Array(maxId + 1).fill(-1);
  for (let i = 0, x = 0, y = 0; i < instance.length; i++) {
    const id = instance[i]!;
    if (id !== 0 && id <= maxId) {
      area[id]!++;
      if (x < x0[id]!) x0[id] = x;
      if (x > x1[id]!) x1[id] = x;
      if (y < y0[id]!) y0[id] = y;
      y1[id] = y;
    }
    if (++x === width) {
      x = 0;
      y++;
    }
  }
  return segments.map((segment) => {
    const { id } = segment;
    const found = area[id]! > 0;
    return {
      ...segment,
      area: area[id]!,
      box: found ? [x0[id]!, y0[id]!, x1[id]!, y1[id]!] : [0, 0, 0, 0],
      grownArea: Math.round(segment.grownArea * areaScale),
    };
  });
}

/** fuse: the paper's fusion of one frame's outputs (or, fusion off, the semantic map and no instances). */
export function fuseFrame(fusion: Fusion, request: FinishRequest): FusedFrame {
  const { frame } = request;
  const started = performance.now();
  if (!request.fusion.enabled) {
    // Fusion off: the semantic head's map as it is, and no instance map (benchmarks compare against this).
    return {
      width: frame.width,
      height: frame.height,
      semantic: frame.semantic,
      instance: new Uint16Array(frame.width * frame.height),
      segments: [],
      droppedComponents: 0,
      fusionUs: microseconds(started),
    };
  }
  const { enabled: _enabled, ...options } = request.fusion;
  const fused = fusion.fuse(
    { width: frame.width, height: frame.height, semantic: frame.semantic, detections: frame.detections },
    options,
  );
  return {
    width: frame.width,
    height: frame.height,
    semantic: fused.semantic,
    instance: fused.instance,
    segments: fused.segments,
    droppedComponents: fused.droppedComponents,
    fusionUs: microseconds(started),
  };
}

/** The fused maps in buffers of their own, to leave the worker (fusion's outputs are views of its memory). */
export function detachFused(fused: FusedFrame): FusedFrame {
  return { ...fused, semantic: new Uint8Array(fused.semantic), instance: new Uint16Array(fused.instance) };
}

/** A per-frame instance map renumbered with track ids (ids without a track become 0). */
export function withTrackIds(instance: Uint16Array | Uint32Array, trackOf: Uint32Array): Uint32Array {
  const tracked = new Uint32Array(instance.length);
  const known = trackOf.length;
  for (let p = 0; p < instance.length; p++) {
    const id = instance[p]!;
    if (id !== 0 && id < known) tracked[p] = trackOf[id]!;
  }
  return tracked;
}

/**
 * encode: the maps (at the source's size if asked), the segments measured in their pixels, the panoptic
 * PNG; with `tracks`, instance ids become track ids in all of them.
 */
export function encodeFrame(
  fused: FusedFrame,
  output: StreamOutputOptions,
  sourceWidth: number,
  sourceHeight: number,
  tracks?: FrameTracks,
): FinishedFrame {
  const started = performance.now();
  let { width, height, semantic, instance, segments } = fused;
  if (output.sourceResolution && (sourceWidth !== width || sourceHeight !== height)) {
    const areaScale = (sourceWidth * sourceHeight) / (width * height);
    semantic = resizeLabels(semantic, width, height, sourceWidth, sourceHeight);
    instance = resizeLabels(instance, width, height, sourceWidth, sourceHeight);
    width = sourceWidth;
    height = sourceHeight;
    // Segments speak the pixels of the maps returned.
    if (output.segments) segments = measureSegments(segments, instance, width, areaScale);
  }
  let instanceValues: Uint16Array | Uint32Array = instance;
  let finishedSegments: readonly FinishedSegment[] = segments;
  if (tracks !== undefined) {
    const { trackOf, firstIndexOf } = tracks;
    if (output.instanceMap !== MapEncoding.MAP_ENCODING_NONE || output.panopticPng) {
      instanceValues = withTrackIds(instance, trackOf);
    } else {
      instanceValues = new Uint32Array(0); // neither map nor PNG is returned
    }
    finishedSegments = segments.map((segment) => {
      const trackId = trackOf[segment.id]!;
      return { ...segment, id: trackId, track: { id: trackId, firstIndex: firstIndexOf[segment.id]! } };
    });
  }
  const semanticMap = standalone(encodeMap(semantic, width, height, output.semanticMap));
  const instanceMap = standalone(encodeMap(instanceValues, width, height, output.instanceMap));
  const panopticPng = output.panopticPng ? encodePanopticPng(semantic, instanceValues, width, height) : undefined;
  return {
    width,
    height,
    semantic: semanticMap,
    instance: instanceMap,
    segments: output.segments ? finishedSegments : [],
    panopticPng,
    droppedComponents: fused.droppedComponents,
    fusionUs: fused.fusionUs,
    encodeUs: microseconds(started),
  };
}

/** fuse -> encode in one step, for a frame that is not tracked. */
export function finishFrame(fusion: Fusion, request: FinishRequest): FinishedFrame {
  return encodeFrame(fuseFrame(fusion, request), request.output, request.sourceWidth, request.sourceHeight);
}
