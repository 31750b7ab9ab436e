import type { Detection } from './types.js';

/**
 * Pastes a detection's mask into a width x height frame: calls `visit(p)` for every pixel p whose centre lies
 * in the box [x1, x2) x [y1, y2) and whose bilinear sample of the mask (at the pixel centre, clamped to the
 * mask's edge; vertically first) is at least `threshold`. The fusion's pasting rule, shared by the reference
 * and by the evaluation of the detector's own masks.
 */
export function pasteMask(
  detection: Pick<Detection, 'box' | 'mask' | 'maskSize'>,
  width: number,
  height: number,
  threshold: number,
  visit: (p: number) => void,
): void {
  const [x1, y1, x2, y2] = detection.box;
  if (!(x2 > x1) || !(y2 > y1)) return;
  const M = detection.maskSize;
  const last = M - 1;
  const m = detection.mask;
  const clampTo = (value: number, limit: number) => Math.min(Math.max(value, 0), limit);
  const xStart = clampTo(Math.ceil(x1 - 0.5), width);
  const xEnd = clampTo(Math.ceil(x2 - 0.5), width);
  const yStart = clampTo(Math.ceil(y1 - 0.5), height);
  const yEnd = clampTo(Math.ceil(y2 - 0.5), height);
  for (let y = yStart; y < yEnd; y++) {
    const v = Math.min(Math.max(((y + 0.5 - y1) / (y2 - y1)) * M - 0.5, 0), last);
    const v0 = Math.floor(v);
    const v1 = v0 < last ? v0 + 1 : last;
    const fv = v - v0;
    for (let x = xStart; x < xEnd; x++) {
      const u = Math.min(Math.max(((x + 0.5 - x1) / (x2 - x1)) * M - 0.5, 0), last);
      const u0 = Math.floor(u);
      const u1 = u0 < last ? u0 + 1 : last;
      const fu = u - u0;
      const left = (1 - fv) * m[v0 * M + u0]! + fv * m[v1 * M + u0]!;
      const right = (1 - fv) * m[v0 * M + u1]! + fv * m[v1 * M + u1]!;
      if ((1 - fu) * left + fu * right >= threshold) visit(y * width + x);
    }
  }
}
