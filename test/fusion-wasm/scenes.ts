/** Hand-drawn fusion scenes: ASCII art for semantic maps, full-box detections. */
import type { Detection, FusionInput } from '../../fusion-wasm/src/index.js';

export const CLASS = { road: 0, sky: 10, person: 11, rider: 12, car: 13, truck: 14, bicycle: 18, void: 255 } as const;

const SYMBOLS: Readonly<Record<string, number>> = {
  '.': CLASS.road,
  s: CLASS.sky,
  p: CLASS.person,
  r: CLASS.rider,
  c: CLASS.car,
  t: CLASS.truck,
  b: CLASS.bicycle,
  '#': CLASS.void,
};

/** Parses rows of symbols (. road, s sky, p person, r rider, c car, t truck, b bicycle, # void). */
export function drawn(rows: readonly string[]): { width: number; height: number; semantic: Uint8Array } {
  const height = rows.length;
  const width = rows[0]!.length;
  const semantic = new Uint8Array(width * height);
  rows.forEach((row, y) => {
    if (row.length !== width) throw new Error(`row ${y} has ${row.length} symbols, not ${width}`);
    [...row].forEach((symbol, x) => {
      const label = SYMBOLS[symbol];
      if (label === undefined) throw new Error(`unknown symbol "${symbol}"`);
      semantic[y * width + x] = label;
    });
  });
  return { width, height, semantic };
}

/** A detection whose mask is `value` everywhere, covering pixels x0..x1, y0..y1 (inclusive). */
export function boxDetection(
  classId: number,
  score: number,
  x0: number,
  y0: number,
  x1: number,
  y1: number,
  value = 1,
): Detection {
  return { classId, score, box: [x0, y0, x1 + 1, y1 + 1], mask: new Float32Array(4).fill(value), maskSize: 2 };
}

export function scene(rows: readonly string[], detections: Detection[]): FusionInput {
  return { ...drawn(rows), detections };
}

/** Renders an instance map as rows of digits (0 = none, ids above 9 as letters) for readable assertions. */
export function instanceRows(instance: Uint16Array, width: number): string[] {
  const rows: string[] = [];
  for (let y = 0; y < instance.length / width; y++) {
    rows.push([...instance.subarray(y * width, (y + 1) * width)].map((id) => id.toString(36)).join(''));
  }
  return rows;
}

export function classRows(semantic: Uint8Array, width: number): string[] {
  const symbols = new Map(Object.entries(SYMBOLS).map(([symbol, label]) => [label, symbol]));
  const rows: string[] = [];
  for (let y = 0; y < semantic.length / width; y++) {
    rows.push([...semantic.subarray(y * width, (y + 1) * width)].map((label) => symbols.get(label) ?? '?').join(''));
  }
  return rows;
}
