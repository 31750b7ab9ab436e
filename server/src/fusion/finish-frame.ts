/**
 * fuse -> encode for one frame: the paper's output fusion (fusion-wasm), then the maps and the panoptic PNG
 * in the encodings the stream asked for. Runs in a finishing worker.
 */
import type { Fusion } from '../../../fusion-wasm/src/index.js';
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
    semantic = resizeLabels(semantic, width, height, request.sourceWidth, request.sourceHeight);
    instance = resizeLabels(instance, width, height, request.sourceWidth, request.sourceHeight);
    width = request.sourceWidth;
    height = request.sourceHeight;
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
