/** Input and option checks shared by both implementations: a TypeError that names the field. */
import type { LabelTables } from './label-space.js';
import {
  DEFAULT_FUSION_OPTIONS,
  type Detection,
  type FusionInput,
  type FusionOptions,
  type ResolvedFusionOptions,
} from './types.js';

const MAX_PIXELS = 1 << 26; // 64 megapixels

export function resolveOptions(base: FusionOptions | undefined, override?: FusionOptions): ResolvedFusionOptions {
  const o = { ...DEFAULT_FUSION_OPTIONS, ...base, ...override };
  const unit = (key: 'scoreThreshold' | 'maskThreshold') => {
    const value = o[key];
    if (typeof value !== 'number' || Number.isNaN(value) || value < 0 || value > 1) {
      throw new TypeError(`options.${key} must be a number from 0 to 1, got ${String(value)}`);
    }
  };
  unit('scoreThreshold');
  unit('maskThreshold');
  if (o.consistency !== 'category' && o.consistency !== 'class') {
    throw new TypeError(`options.consistency must be 'category' or 'class', got ${String(o.consistency)}`);
  }
  if (typeof o.regionGrowing !== 'boolean') throw new TypeError('options.regionGrowing must be a boolean');
  if (typeof o.newInstances !== 'boolean') throw new TypeError('options.newInstances must be a boolean');
  if (!Number.isInteger(o.minNewInstanceArea) || o.minNewInstanceArea < 1) {
    throw new TypeError(`options.minNewInstanceArea must be an integer >= 1, got ${String(o.minNewInstanceArea)}`);
  }
  return o;
}

export function validateInput(input: FusionInput, tables: LabelTables): void {
  const { width, height, semantic, detections } = input;
  if (!Number.isInteger(width) || width < 1)
    throw new TypeError(`width must be a positive integer, got ${String(width)}`);
  if (!Number.isInteger(height) || height < 1)
    throw new TypeError(`height must be a positive integer, got ${String(height)}`);
  if (width * height > MAX_PIXELS) throw new TypeError(`width x height must be at most ${MAX_PIXELS} pixels`);
  if (!(semantic instanceof Uint8Array)) throw new TypeError('semantic must be a Uint8Array');
  if (semantic.length !== width * height) {
    throw new TypeError(`semantic.length must be width * height = ${width * height}, got ${semantic.length}`);
  }
  if (!Array.isArray(detections)) throw new TypeError('detections must be an array');
  detections.forEach((d: Detection, i) => {
    const field = `detections[${i}]`;
    if (!Number.isInteger(d.classId) || d.classId < 0 || d.classId >= tables.classCount) {
      throw new TypeError(
        `${field}.classId ${String(d.classId)} is outside the label space (0..${tables.classCount - 1})`,
      );
    }
    if (typeof d.score !== 'number' || Number.isNaN(d.score)) throw new TypeError(`${field}.score must be a number`);
    if (!Array.isArray(d.box) || d.box.length !== 4) throw new TypeError(`${field}.box must be [x1, y1, x2, y2]`);
    d.box.forEach((v, k) => {
      if (typeof v !== 'number' || !Number.isFinite(v))
        throw new TypeError(`${field}.box[${k}] is ${String(v)}, not a finite number`);
    });
    if (!Number.isInteger(d.maskSize) || d.maskSize < 1 || d.maskSize > 1024) {
      throw new TypeError(`${field}.maskSize must be an integer from 1 to 1024, got ${String(d.maskSize)}`);
    }
    if (!(d.mask instanceof Float32Array)) throw new TypeError(`${field}.mask must be a Float32Array`);
    if (d.mask.length !== d.maskSize * d.maskSize) {
      throw new TypeError(
        `${field}.mask.length must be maskSize * maskSize = ${d.maskSize * d.maskSize}, got ${d.mask.length}`,
      );
    }
  });
}

/**
 * The detections that take part, in id order: things at or above the score threshold, by descending
 * score, ties in input order. Detection i of the result gets id i + 1.
 */
export function selectDetections(input: FusionInput, options: ResolvedFusionOptions, tables: LabelTables): Detection[] {
  return input.detections
    .map((detection, index) => ({ detection, index }))
    .filter(({ detection }) => detection.score >= options.scoreThreshold && tables.isThing[detection.classId] === 1)
    .sort((a, b) => b.detection.score - a.detection.score || a.index - b.index)
    .slice(0, 65535)
    .map(({ detection }) => detection);
}
