/**
 * fuse -> encode for one frame: the paper's output fusion (fusion-wasm), then the maps and the panoptic PNG
 * in the encodings the stream asked for. Runs in a finishing worker.
 */
import type { Fusion, Segment } from '../../../fusion-wasm/src/index.js';
import { encodeMap } from '../encode/encode-map.js';
import { encodePanopticPng } from '../encode/png.js';
import { resizeLabels } from '../encode/resize-labels.js';
import type { FinishedFrame, FinishedMap, FinishRequest } from './finish-protocol.js';

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

export function finishFrame(fusion: Fusion, request: FinishRequest): FinishedFrame {
  const { frame, output } = request;
  const fusionStarted = performance.now();
  let semantic = frame.semantic;
  let instance: Uint16Array;
  let segments: FinishedFrame['segments'];
  let droppedComponents = 0;
  if (request.fusion.enabled) {
    const { enabled: _enabled, ...options } = request.fusion;
    const fused = fusion.fuse(
      { width: frame.width, height: frame.height, semantic: frame.semantic, detections: frame.detections },
      options,
    );
    semantic = fused.semantic;
    instance = fused.instance;
    segments = fused.segments;
    droppedComponents = fused.droppedComponents;
  } else {
    // Fusion off: the semantic head's map as it is, and no instance map (benchmarks compare against this).
    instance = new Uint16Array(frame.width * frame.height);
    segments = [];
  }
  const fusionUs = microseconds(fusionStarted);

  const encodeStarted = performance.now();
  let { width, height } = frame;
  if (output.sourceResolution && (request.sourceWidth !== width || request.sourceHeight !== height)) {
    const areaScale = (request.sourceWidth * request.sourceHeight) / (width * height);
    semantic = resizeLabels(semantic, width, height, request.sourceWidth, request.sourceHeight);
    instance = resizeLabels(instance, width, height, request.sourceWidth, request.sourceHeight);
    width = request.sourceWidth;
    height = request.sourceHeight;
    // Segments speak the pixels of the maps returned.
    if (output.segments) segments = measureSegments(segments, instance, width, areaScale);
  }
  const semanticMap = standalone(encodeMap(semantic, width, height, output.semanticMap));
  const instanceMap = standalone(encodeMap(instance, width, height, output.instanceMap));
  const panopticPng = output.panopticPng ? encodePanopticPng(semantic, instance, width, height) : undefined;
  return {
    width,
    height,
    semantic: semanticMap,
    instance: instanceMap,
    segments: output.segments ? segments : [],
    panopticPng,
    droppedComponents,
    fusionUs,
    encodeUs: microseconds(encodeStarted),
  };
}
