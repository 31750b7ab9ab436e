// The output fusion of Costea, Petrovai & Nedevschi, "Fusion Scheme for Semantic and Instance-level
// Segmentation", section 3, as a WebAssembly kernel. The TypeScript side (src/wasm-fusion.ts) lays out
// every buffer in linear memory and calls the phases in order; nothing here allocates.
//
// Buffers (byte offsets passed in by the caller):
//   semantic   u8[n]   input semantic class per pixel (255 = void); finishFrame turns it into the output
//                      (fused) class per pixel in place
//   instance   u16[n]  output instance id per pixel (0 = none)
//   visited    u8[n]   scratch for connected components (marks carry a per-frame epoch, so it is never cleared)
//   queue      8 bytes per pixel: scratch for the breadth-first search (u64 per pixel: pixel | column << 32)
//              and for the scanline floods' stacks of runs (i32 pair per run)
//   rows       i32 pair per row (first, end): a span of columns holding every labelled pixel of the row.
//              Pasting widens it, growing reads its seeds from it, finishFrame rewrites it with the
//              frame's labelled pixels, and clearInstances zeroes only those before the next frame.
//   isThing    u8[256], category u8[256]: the label space, indexed by class id (void: not a thing)
//   idClass    u8[65536], idCategory u8[65536]: class and category of each instance id
//
// Phases: clearInstances, pasteDetection per detection (1), growRegions (2), finishFrame (3 and 4 in one
// raster pass). The class of a labelled pixel is always its instance's class, so the fused classes are
// derived once at the end (only labelled runs are rewritten) instead of being kept up to date while
// instances are pasted and grown.

/**
 * Clears the instance map for the next frame: only each row's span of labelled pixels, as finishFrame left
 * it in `rows` (i32 pair per row: first, end); then empties the spans for pasting. Returns the sum of the
 * values it read ahead, only so that those loads are kept.
 */
export function clearInstances(width: i32, height: i32, instance: usize, rows: usize): i32 {
  const zero = i16x8.splat(0);
  let touched: u32 = 0;
  for (let y: usize = 0; y < <usize>height; y++) {
    const span = rows + (y << 3);
    const first = <usize>load<i32>(span);
    const end = <usize>load<i32>(span, 4);
    const row = instance + ((y * <usize>width) << 1);
    // The next row's lines early (see pasteDetection).
    if (y + 1 < <usize>height) {
      const nextRow = row + ((<usize>width) << 1);
      const nextEnd = <usize>load<i32>(span, 12);
      for (let x = <usize>load<i32>(span, 8); x < nextEnd; x += 32) touched += <u32>load<u16>(nextRow + (x << 1));
    }
    let x = first;
    for (; x + 8 <= end; x += 8) v128.store(row + (x << 1), zero);
    for (; x < end; x++) store<u16>(row + (x << 1), 0);
    store<i32>(span, width);
    store<i32>(span, 0, 4);
  }
  return <i32>touched;
}

/** Where the caller may lay out its buffers. */
export function heapBase(): usize {
  return __heap_base;
}

@inline
function clampTo(value: f64, limit: i32): f64 {
  return value < 0 ? 0 : value > <f64>limit ? <f64>limit : value;
}

// ---------------------------------------------------------------------------------------------------------
// Phase 1: paste each kept detection's mask into its box and keep the pixels that pass the pixel-to-pixel
// matching (foreground, unclaimed, consistent with the detection's class).

/** Fills `length` bytes at `dst` with `value`, sixteen at a time; may write up to 15 bytes past the end. */
@inline
function fillOver(dst: usize, value: u8, length: usize): void {
  const lanes = i8x16.splat(<i8>value);
  for (let i: usize = 0; i < length; i += 16) v128.store(dst + i, lanes);
}

/** Fills exactly `length` bytes at `dst` with `value` (short runs are common: no call into the runtime). */
@inline
function fillExact(dst: usize, value: u8, length: usize): void {
  const lanes = i8x16.splat(<i8>value);
  let i: usize = 0;
  for (; i + 16 <= length; i += 16) v128.store(dst + i, lanes);
  for (; i < length; i++) store<u8>(dst + i, value);
}

/**
 * Lanes of `classes` (16 class ids) looked up in a 256-byte table held as 16 vectors of 16 bytes; `chunks`
 * has bit k set when vector k has any non-zero entry, so only those vectors are looked up.
 */
@inline
function tableLanes(classes: v128, table: usize, chunks: u32): v128 {
  let lanes = i8x16.splat(0);
  let bits = chunks;
  while (bits != 0) {
    const k = ctz(bits);
    bits &= bits - 1;
    const indices = i8x16.sub(classes, i8x16.splat(<i8>(k << 4)));
    lanes = v128.or(lanes, i8x16.swizzle(v128.load(table + (<usize>k << 4)), indices));
  }
  return lanes;
}

/** Bit k set when bytes 16k..16k+15 of the 256-byte `table` are not all zero. */
@inline
function tableChunks(table: usize): u32 {
  let chunks: u32 = 0;
  for (let k: u32 = 0; k < 16; k++) {
    if (v128.any_true(v128.load(table + (<usize>k << 4)))) chunks |= 1 << k;
  }
  return chunks;
}

/**
 * The pass marks of the pixels of run `r` (i32 u0, first x, end x), sampled one by one: they interpolate the
 * same two values, two pixels at a time in f64x2 lanes (the same IEEE operations as the scalar tail, which
 * is the reference's).
 */
@inline
function sampleRun(r: usize, last: i32, row: usize, columns: usize, pass: usize, maskThreshold: f64): void {
  const u0 = load<i32>(r);
  const first = load<i32>(r, 4);
  const end = load<i32>(r, 8);
  const left = load<f64>(row + ((<usize>u0) << 3));
  const right = load<f64>(row + ((<usize>(u0 < last ? u0 + 1 : last)) << 3));
  const leftLanes = f64x2.splat(left);
  const rightLanes = f64x2.splat(right);
  const unitLanes = f64x2.splat(1);
  const thresholdLanes = f64x2.splat(maskThreshold);
  let x = first;
  for (; x + 2 <= end; x += 2) {
    const fu = v128.load(columns + ((<usize>x) << 3));
    const value = f64x2.add(f64x2.mul(f64x2.sub(unitLanes, fu), leftLanes), f64x2.mul(fu, rightLanes));
    const passes = f64x2.ge(value, thresholdLanes);
    store<u16>(pass + <usize>x, i16x8.extract_lane_u(i8x16.shuffle(passes, passes, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0), 0));
  }
  for (; x < end; x++) {
    const fu = load<f64>(columns + ((<usize>x) << 3));
    store<u8>(pass + <usize>x, (1 - fu) * left + fu * right >= maskThreshold ? 0xff : 0);
  }
}

/** Byte `index[k]` (below 32) of the 32 bytes `low`, `high`. */
@inline
function lookup32(low: v128, high: v128, index: v128): v128 {
  return v128.or(i8x16.swizzle(low, index), i8x16.swizzle(high, i8x16.sub(index, i8x16.splat(16))));
}

/**
 * The marks of sixteen runs from the statuses (`status0`, `status1`: 32 mask columns) of their two mask
 * columns `u0`, `u1`: 0xff when both are sure passes, 0 when both are sure fails, 1 otherwise (sampled).
 */
@inline
function statesOf(status0: v128, status1: v128, u0: v128, u1: v128): v128 {
  const a = lookup32(status0, status1, u0);
  const b = lookup32(status0, status1, u1);
  const sure = i8x16.eq(v128.and(a, b), i8x16.splat(2));
  const none = i8x16.eq(v128.or(a, b), i8x16.splat(0));
  return v128.or(sure, v128.andnot(i8x16.splat(1), v128.or(sure, none)));
}

/**
 * Pastes detection `id` and claims its matching pixels. The bilinear sample is taken vertically first:
 * each pixel row interpolates the two mask rows it falls between (one value per mask column), then each
 * pixel interpolates that row horizontally; the reference computes in the same order, so the two agree
 * to the bit.
 *
 * The horizontal weights are separable: they are computed once per detection (per pixel column: the
 * fraction; u0 and u1 are per run), and the pixel columns are grouped into runs that share u0. Along a row, a run whose two mask
 * values both clear the threshold by a safe margin passes as a whole, a run whose values both fall short by
 * the margin fails as a whole, and only the runs in between (the mask's edge, a few per row) are sampled
 * pixel by pixel, exactly as the reference does. The margin (1e-12 relative) is far above the rounding of
 * a convex combination (a few ulps), so the shortcut never changes a result. The row's pass marks (one byte
 * per pixel column) are then combined with the pixel-to-pixel matching sixteen pixels at a time.
 *
 * Masks up to 32 wide (so at most 32 runs) decide their runs 32 at a time in vector lanes, and write a
 * row's pass marks by looking each pixel column's run up in those lanes; only the undecided runs are then
 * sampled.
 *
 * `scratch` layout: per pixel column one f64 (the fraction); per mask column one f64 (the
 * interpolated row) and one run (i32 u0, i32 first x, i32 end x, pad: 16 bytes); 256 bytes of match table;
 * then one pass byte per pixel column (plus 16 bytes of slack); then for masks up to 32 wide one run index
 * byte per pixel column (plus 16 bytes of slack) and each run's two mask columns (64 bytes). Each row's
 * span in `rows` is widened to the columns this detection may have claimed there, and the number of pixels
 * it claimed is written to `pasted`.
 */
export function pasteDetection(
  width: i32,
  height: i32,
  semantic: usize,
  instance: usize,
  isThing: usize,
  category: usize,
  byClass: bool,
  id: i32,
  detectionClass: u32,
  x1: f64,
  y1: f64,
  x2: f64,
  y2: f64,
  mask: usize,
  maskSize: i32,
  maskThreshold: f64,
  scratch: usize,
  rows: usize,
  pasted: usize,
): void {
  if (!(x2 > x1) || !(y2 > y1)) return;
  // Pixels whose centre lies in [x1, x2) x [y1, y2), clipped to the image (in f64, so no i32 overflow).
  const xStart = <i32>clampTo(Math.ceil(x1 - 0.5), width);
  const xEnd = <i32>clampTo(Math.ceil(x2 - 0.5), width);
  const yStart = <i32>clampTo(Math.ceil(y1 - 0.5), height);
  const yEnd = <i32>clampTo(Math.ceil(y2 - 0.5), height);
  if (xStart >= xEnd || yStart >= yEnd) return;

  const m = <f64>maskSize;
  const last = maskSize - 1;
  const boxWidth = x2 - x1;
  const boxHeight = y2 - y1;
  const stride = (<usize>maskSize) << 2;
  const columns = scratch;
  const row = scratch + ((<usize>width) << 3); // f64 per mask column
  const runs = row + ((<usize>maskSize) << 3); // 16 bytes per run
  const status = runs + ((<usize>maskSize) << 4); // u8 per mask column
  const matchTable = status + (((<usize>maskSize) + 15) & ~15);
  const pass = matchTable + 256; // one byte per pixel column
  // Masks up to 32 wide: the run of each pixel column (one byte) and the two mask columns of each run.
  const runOf = pass + (<usize>width) + 16;
  const runColumns = (runOf + (<usize>width) + 31) & ~15; // u0 of each run (32 bytes), then u1 (32 bytes)
  const narrow = maskSize <= 32;

  // Runs of pixel columns sharing u0 (u0 never decreases with x).
  let runCount: usize = 0;
  let previous = -1;
  for (let x = xStart; x < xEnd; x++) {
    let u = ((<f64>x + 0.5 - x1) / boxWidth) * m - 0.5;
    if (u < 0) u = 0;
    if (u > <f64>last) u = <f64>last;
    const u0 = <i32>Math.floor(u);
    store<f64>(columns + ((<usize>x) << 3), u - <f64>u0);
    if (u0 != previous) {
      const r = runs + (runCount << 4);
      store<i32>(r, u0);
      store<i32>(r, x, 4);
      runCount++;
      previous = u0;
    }
    store<i32>(runs + ((runCount - 1) << 4), x + 1, 8);
  }

  let valid: u32 = 0;
  if (narrow) {
    for (let i: usize = 0; i < 32; i++) {
      const u0 = i < runCount ? load<i32>(runs + (i << 4)) : 0;
      store<u8>(runColumns + i, <u8>u0);
      store<u8>(runColumns + i, <u8>(u0 < last ? u0 + 1 : last), 32);
      if (i < runCount) fillExact(runOf + <usize>load<i32>(runs + (i << 4), 4), <u8>i, <usize>(load<i32>(runs + (i << 4), 8) - load<i32>(runs + (i << 4), 4)));
    }
    valid = runCount == 32 ? 0xffffffff : (<u32>1 << <u32>runCount) - 1;
  }

  // The pixel-to-pixel matching as a table: 0xff for the classes this detection may claim.
  const detectionCategory = load<u8>(category + detectionClass);
  for (let c: usize = 0; c < 256; c++) {
    const ok = load<u8>(isThing + c) != 0 && (byClass ? <u32>c == detectionClass : load<u8>(category + c) == detectionCategory);
    store<u8>(matchTable + c, ok ? 0xff : 0);
  }
  const chunks = tableChunks(matchTable);
  if (chunks == 0) return;

  // Thresholds with a margin far above the rounding of a convex combination of values up to 1e6 in size
  // (a few ulps of 1e6 is below 1e-9), so a run whose two values are both sure takes no per-pixel test.
  const high = maskThreshold + 1e-6;
  const low = maskThreshold - 1e-6;
  const highLanes = f64x2.splat(high);
  const lowLanes = f64x2.splat(low);
  const limitLanes = f64x2.splat(1e6);
  const oneLanes = i64x2.splat(1);
  let claimed: u32 = 0;
  const claim = <u16>id;
  const claimLanes = i16x8.splat(<i16>claim);
  const zero = i16x8.splat(0);
  let touched: u32 = 0;
  for (let y = yStart; y < yEnd; y++) {
    // Touch the next row's first lines early: each box row starts a new page, where the hardware prefetcher
    // starts afresh.
    if (y + 1 < yEnd) {
      const next = <usize>(y + 1) * <usize>width;
      for (let x = <usize>xStart; x < <usize>xEnd; x += 32) {
        touched += <u32>load<u16>(instance + ((next + x) << 1)) + <u32>load<u8>(semantic + next + x);
      }
    }
    let v = ((<f64>y + 0.5 - y1) / boxHeight) * m - 0.5;
    if (v < 0) v = 0;
    if (v > <f64>last) v = <f64>last;
    const v0 = <i32>Math.floor(v);
    const v1 = v0 < last ? v0 + 1 : last;
    const fv = v - <f64>v0;
    const row0 = mask + <usize>v0 * stride;
    const row1 = mask + <usize>v1 * stride;
    // The row's values, and a status per mask column: 2 when the value clears the threshold by the margin,
    // 0 when it falls short by it, 1 in between or when the value is too large or not finite for the margin
    // to be sure (masks are probabilities: in practice every value is small).
    // Four columns at a time in f64x2 lanes (the same IEEE operations as the scalar tail), status branch-free:
    // 1 - (sure and high) + (sure and low), with comparison lanes of -1 for true.
    const wa = f64x2.splat(1 - fv);
    const wb = f64x2.splat(fv);
    let u = 0;
    for (; u + 4 <= maskSize; u += 4) {
      const a = v128.load(row0 + ((<usize>u) << 2));
      const b = v128.load(row1 + ((<usize>u) << 2));
      const lo = f64x2.add(f64x2.mul(wa, f64x2.promote_low_f32x4(a)), f64x2.mul(wb, f64x2.promote_low_f32x4(b)));
      const hi = f64x2.add(
        f64x2.mul(wa, f64x2.promote_low_f32x4(i64x2.shuffle(a, a, 1, 1))),
        f64x2.mul(wb, f64x2.promote_low_f32x4(i64x2.shuffle(b, b, 1, 1))),
      );
      v128.store(row + ((<usize>u) << 3), lo);
      v128.store(row + ((<usize>u) << 3), hi, 16);
      const sureLo = f64x2.le(f64x2.abs(lo), limitLanes);
      const sureHi = f64x2.le(f64x2.abs(hi), limitLanes);
      const statusLo = i64x2.add(i64x2.sub(oneLanes, v128.and(sureLo, f64x2.ge(lo, highLanes))), v128.and(sureLo, f64x2.lt(lo, lowLanes)));
      const statusHi = i64x2.add(i64x2.sub(oneLanes, v128.and(sureHi, f64x2.ge(hi, highLanes))), v128.and(sureHi, f64x2.lt(hi, lowLanes)));
      const packed = i8x16.shuffle(statusLo, statusHi, 0, 8, 16, 24, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
      store<u32>(status + <usize>u, i32x4.extract_lane(packed, 0));
    }
    for (; u < maskSize; u++) {
      const value = (1 - fv) * <f64>load<f32>(row0 + ((<usize>u) << 2)) + fv * <f64>load<f32>(row1 + ((<usize>u) << 2));
      store<f64>(row + ((<usize>u) << 3), value);
      const sure = abs(value) <= 1e6;
      store<u8>(status + <usize>u, sure ? (value >= high ? 2 : value < low ? 0 : 1) : 1);
    }
    // Pass marks per run; [xFrom, xTo) spans the runs that may pass.
    let xFrom = xEnd;
    let xTo = xStart;
    if (narrow) {
      // Each run's two statuses looked up for all runs at once (32 lanes), and the marks of the runs that
      // pass or fail as a whole looked up per pixel column; only the other runs go through the loop below.
      const status0 = v128.load(status);
      const status1 = v128.load(status, 16);
      const marks0 = statesOf(status0, status1, v128.load(runColumns), v128.load(runColumns, 32));
      const marks1 = statesOf(status0, status1, v128.load(runColumns, 16), v128.load(runColumns, 48));
      // Bit i: run i may pass (`live`), passes as a whole (`passes`).
      const live = ~(<u32>i8x16.bitmask(i8x16.eq(marks0, i8x16.splat(0))) | (<u32>i8x16.bitmask(i8x16.eq(marks1, i8x16.splat(0))) << 16)) & valid;
      if (live == 0) continue;
      const passes = <u32>i8x16.bitmask(marks0) | (<u32>i8x16.bitmask(marks1) << 16);
      xFrom = load<i32>(runs + ((<usize>ctz(live)) << 4), 4);
      xTo = load<i32>(runs + ((<usize>(31 - clz(live))) << 4), 8);
      for (let x = <usize>xFrom; x < <usize>xTo; x += 16) {
        v128.store(pass + x, lookup32(marks0, marks1, v128.load(runOf + x)));
      }
      let edges = live & ~passes;
      while (edges != 0) {
        const i = <usize>ctz(edges);
        edges &= edges - 1;
        sampleRun(runs + (i << 4), last, row, columns, pass, maskThreshold);
      }
    }
    const sampled: usize = narrow ? 0 : runCount; // runs the loop goes through
    for (let i: usize = 0; i < sampled; i++) {
      const r = runs + (i << 4);
      const u0 = load<i32>(r);
      const first = load<i32>(r, 4);
      const end = load<i32>(r, 8);
      const both = <u32>load<u8>(status + <usize>u0) | (<u32>load<u8>(status + <usize>(u0 < last ? u0 + 1 : last)) << 8);
      if (both == 0) {
        fillOver(pass + <usize>first, 0, <usize>(end - first));
        continue;
      }
      if (first < xFrom) xFrom = first;
      xTo = end;
      if (both == 0x0202) {
        fillOver(pass + <usize>first, 0xff, <usize>(end - first));
        continue;
      }
      sampleRun(r, last, row, columns, pass, maskThreshold);
    }
    if (xFrom >= xTo) continue;
    const span = rows + ((<usize>y) << 3);
    if (xFrom < load<i32>(span)) store<i32>(span, xFrom);
    if (xTo > load<i32>(span, 4)) store<i32>(span, xTo, 4);
    const rowBase = <usize>y * <usize>width;
    let x = xFrom;
    for (; x + 16 <= xTo; x += 16) {
      const marks = v128.load(pass + <usize>x);
      if (!v128.any_true(marks)) continue;
      const p = rowBase + <usize>x;
      const wanted = v128.and(marks, tableLanes(v128.load(semantic + p), matchTable, chunks));
      const lo = i16x8.extend_low_i8x16_s(wanted);
      const hi = i16x8.extend_high_i8x16_s(wanted);
      const at = instance + (p << 1);
      const before0 = v128.load(at);
      const before1 = v128.load(at, 16);
      const claim0 = v128.and(lo, i16x8.eq(before0, zero));
      const claim1 = v128.and(hi, i16x8.eq(before1, zero));
      v128.store(at, v128.bitselect(claimLanes, before0, claim0));
      v128.store(at, v128.bitselect(claimLanes, before1, claim1), 16);
      claimed += popcnt(<u32>i8x16.bitmask(i8x16.narrow_i16x8_s(claim0, claim1)));
    }
    for (; x < xTo; x++) {
      if (load<u8>(pass + <usize>x) == 0) continue;
      const p = rowBase + <usize>x;
      if (load<u8>(matchTable + <usize>load<u8>(semantic + p)) == 0) continue;
      if (load<u16>(instance + (p << 1)) != 0) continue;
      store<u16>(instance + (p << 1), claim);
      claimed++;
    }
  }
  store<i32>(pasted, <i32>claimed);
  store<u32>(scratch, touched); // keeps the touches
}

// ---------------------------------------------------------------------------------------------------------
// Phase 2: region growing. Foreground pixels without an instance take the instance of the closest labelled
// pixel reachable through 4-connected foreground pixels of that instance's category: one breadth-first
// search seeded with every labelled pixel in raster order; a pixel joins the first neighbour that reaches it
// (neighbours visited up, left, right, down). What each detection gained is its final area less what pasting
// claimed (`pasted`, written by pasteDetection), so the search keeps no counters.
// `rows` (i32 pair per row: first, end) bounds the pasted pixels of each row.

/**
 * Claims the pixel of queue entry `entry` (pixel | column << 32) for instance `id` when it is unlabelled and
 * its class's growth code (category + 1 for things, else 0) is `code`; once labelled it is never claimed again.
 */
@inline
function tryGrow(entry: u64, id: u16, code: u32, semantic: usize, instance: usize, growCode: usize, queue: usize, tail: usize): usize {
  const q = <usize><u32>entry;
  if (load<u16>(instance + (q << 1)) != 0) return tail;
  if (<u32>load<u16>(growCode + ((<usize>load<u8>(semantic + q)) << 1)) != code) return tail;
  store<u16>(instance + (q << 1), id);
  store<u64>(queue + (tail << 3), entry);
  return tail + 1;
}

/** The column of pixel `q`: a multiply by the reciprocal instead of a division, corrected for rounding. */
@inline
function columnOf(q: usize, w: usize, inverseWidth: f64): usize {
  const row = <usize>(<f64>q * inverseWidth);
  let x = q - row * w;
  if (<isize>x < 0) x += w;
  else if (x >= w) x -= w;
  return x;
}

/**
 * Writes row `y`'s bits to `dst` (`words` u64): bit x set when pixel x is unlabelled, and past the last
 * column. Only the words over the row's span (`rows`) are computed from the instance map.
 */
@inline
function unlabelledBits(y: usize, w: usize, words: usize, instance: usize, rows: usize, dst: usize): void {
  for (let k: usize = 0; k < words; k++) store<u64>(dst + (k << 3), <u64>-1);
  const first = <usize>load<i32>(rows + (y << 3));
  const end = <usize>load<i32>(rows + (y << 3), 4);
  if (first >= end) return;
  const zero = i16x8.splat(0);
  const lastWord = (end - 1) >> 6;
  for (let k = first >> 6; k <= lastWord; k++) {
    // 64 pixels (the last word may read past the row: those bits are set below).
    const at = instance + ((y * w + (k << 6)) << 1);
    let bits: u64 = 0;
    for (let part: usize = 0; part < 4; part++) {
      const lanes = i8x16.narrow_i16x8_s(i16x8.eq(v128.load(at + (part << 5)), zero), i16x8.eq(v128.load(at + (part << 5), 16), zero));
      bits |= <u64>i8x16.bitmask(lanes) << (<u64>part << 4);
    }
    if ((k << 6) + 64 > w) bits |= <u64>-1 << <u64>(w - (k << 6));
    store<u64>(dst + (k << 3), bits);
  }
}

export function growRegions(
  width: i32,
  height: i32,
  semantic: usize,
  instance: usize,
  isThing: usize,
  category: usize,
  idCategory: usize,
  queue: usize,
  rows: usize,
  table: usize,
): i32 {
  const n = <usize>width * <usize>height;
  const w = <usize>width;
  const growCode = table;
  for (let c: usize = 0; c < 256; c++) {
    store<u16>(growCode + (c << 1), load<u8>(isThing + c) != 0 ? <u16>load<u8>(category + c) + 1 : 0);
  }
  // Seed: the labelled pixels in raster order. A labelled pixel whose four neighbours are all labelled
  // can never claim anything, and leaving it out changes neither the order of the other seeds nor what
  // they reach, so only pixels with an unlabelled neighbour are queued (a few more are harmless). Each row
  // is turned once into bits (64 pixels a word, set where unlabelled) and the seeds of a row come from its
  // bits and those of the rows above and below. Only each row's span of pasted pixels is read (`rows`,
  // kept by pasteDetection): the pixels outside it are unlabelled.
  let tail: usize = 0;
  const words = (w + 63) >> 6;
  const rowBytes = (words << 3) + 8;
  let above = table + 512; // rows y - 1, y, y + 1 (cycled)
  let here = above + rowBytes;
  let below = here + rowBytes;
  unlabelledBits(0, w, words, instance, rows, here);
  for (let y: usize = 0; y < <usize>height; y++) {
    if (y + 1 < <usize>height) unlabelledBits(y + 1, w, words, instance, rows, below);
    const first = <usize>load<i32>(rows + (y << 3));
    const end = <usize>load<i32>(rows + (y << 3), 4);
    if (first < end) {
      const rowStart = y * w;
      const lastWord = (end - 1) >> 6;
      for (let k = first >> 6; k <= lastWord; k++) {
        const z = load<u64>(here + (k << 3));
        if (z == <u64>-1) continue;
        const left = (z << 1) | (k > 0 ? load<u64>(here + ((k - 1) << 3)) >> 63 : 0);
        const right = (z >> 1) | (k + 1 < words ? load<u64>(here + ((k + 1) << 3)) << 63 : 0);
        const up = y > 0 ? load<u64>(above + (k << 3)) : 0;
        const down = y + 1 < <usize>height ? load<u64>(below + (k << 3)) : 0;
        let bits = ~z & (left | right | up | down);
        while (bits != 0) {
          const x = (k << 6) + <usize>ctz(bits);
          bits &= bits - 1;
          store<u64>(queue + (tail << 3), <u64>(rowStart + x) | (<u64>x << 32));
          tail++;
        }
      }
    }
    const free = above;
    above = here;
    here = below;
    below = free;
  }
  const seeds = tail;
  // A queue entry is the pixel and its column (<< 32), so a neighbour's entry is one addition away.
  const lastRow = n - w;
  const wide = <u64>w;
  const step = (<u64>1 << 32) + 1;
  for (let head: usize = 0; head < tail; head++) {
    const entry = load<u64>(queue + (head << 3));
    const q = <usize><u32>entry;
    const x = <usize>(entry >> 32);
    const id = load<u16>(instance + (q << 1));
    const code = <u32>load<u8>(idCategory + <usize>id) + 1;
    if (q >= w) tail = tryGrow(entry - wide, id, code, semantic, instance, growCode, queue, tail);
    if (x > 0) tail = tryGrow(entry - step, id, code, semantic, instance, growCode, queue, tail);
    if (x + 1 < w) tail = tryGrow(entry + step, id, code, semantic, instance, growCode, queue, tail);
    if (q < lastRow) tail = tryGrow(entry + wide, id, code, semantic, instance, growCode, queue, tail);
  }
  return <i32>(tail - seeds);
}

// ---------------------------------------------------------------------------------------------------------
// Phase 3: new instances. Each 4-connected component of still-unlabelled foreground pixels of one semantic
// class gets the next id (in raster order of its first pixel) when it has at least `minArea` pixels; ids
// stop at 65535 and later components are counted instead.


// What a flood matches and how it marks a pixel.
const LABEL = 0; // unlabelled pixels of the class: take the id
const UNDO = 1; // pixels of the id (a component too small to keep): back to 0, and marked visited
const COUNT = 2; // unvisited unlabelled pixels of the class: marked visited (ids ran out)

@inline
function floodMatches(mode: i32, q: usize, cls: u8, id: u16, semantic: usize, instance: usize, visited: usize, epoch: u8): bool {
  if (mode == LABEL) return load<u16>(instance + (q << 1)) == 0 && load<u8>(semantic + q) == cls;
  if (mode == UNDO) return load<u16>(instance + (q << 1)) == id;
  return load<u8>(visited + q) != epoch && load<u16>(instance + (q << 1)) == 0 && load<u8>(semantic + q) == cls;
}

@inline
function floodMark(mode: i32, from: usize, to: usize, id: u16, instance: usize, visited: usize, epoch: u8): void {
  if (mode == LABEL) {
    const lanes = i16x8.splat(<i16>id);
    let q = from;
    for (; q + 8 <= to + 1; q += 8) v128.store(instance + (q << 1), lanes);
    for (; q <= to; q++) store<u16>(instance + (q << 1), id);
    return;
  }
  for (let q = from; q <= to; q++) {
    if (mode == LABEL) store<u16>(instance + (q << 1), id);
    else if (mode == UNDO) {
      store<u16>(instance + (q << 1), 0);
      store<u8>(visited + q, epoch);
    } else store<u8>(visited + q, epoch);
  }
}

/** LABEL matches of the eight pixels from `p` (unlabelled and of class `cls`), as bits 0..7. */
@inline
function labelBits(p: usize, classLanes: v128, semantic: usize, instance: usize): u32 {
  const free = i16x8.eq(v128.load(instance + (p << 1)), i16x8.splat(0));
  const same = i16x8.eq(i16x8.extend_low_i8x16_u(v128.load64_zero(semantic + p)), classLanes);
  return <u32>i16x8.bitmask(v128.and(free, same));
}

/** The last column of the run of matching pixels from column `x` (which matches) of the row starting at `r`. */
@inline
function runLastOf(mode: i32, r: usize, x: usize, w: usize, cls: u8, id: u16, semantic: usize, instance: usize, visited: usize, epoch: u8): usize {
  let last = x;
  if (mode == LABEL) {
    // Eight pixels at a time while they all match (wide components: whole rows of an object).
    const classLanes = i16x8.splat(<i16>cls);
    while (last + 9 <= w) {
      const bits = labelBits(r + last + 1, classLanes, semantic, instance);
      if (bits != 0xff) return last + <usize>ctz(~bits);
      last += 8;
    }
  }
  while (last + 1 < w && floodMatches(mode, r + last + 1, cls, id, semantic, instance, visited, epoch)) last++;
  return last;
}

/** The first column of the run of matching pixels that ends at column `x` (which matches) of the row starting at `r`. */
@inline
function runFirstOf(mode: i32, r: usize, x: usize, cls: u8, id: u16, semantic: usize, instance: usize, visited: usize, epoch: u8): usize {
  let first = x;
  if (mode == LABEL) {
    const classLanes = i16x8.splat(<i16>cls);
    while (first >= 8) {
      const misses = ~labelBits(r + first - 8, classLanes, semantic, instance) & 0xff;
      if (misses != 0) return first - (7 - (31 - <usize>clz(misses)));
      first -= 8;
    }
  }
  while (first > 0 && floodMatches(mode, r + first - 1, cls, id, semantic, instance, visited, epoch)) first--;
  return first;
}

/**
 * Scanline flood fill of the 4-connected component of `start` (which matches): whole runs along a row are
 * marked as they are found, and each run looks for runs in the rows above and below, so each pixel is
 * read a few times, in memory order; labelling floods test and mark eight pixels at a time. `stack` holds
 * (first, last) pixel pairs of runs still to scan (runs are disjoint: at most n pairs). Returns the
 * component's size.
 */
@inline
function flood(
  mode: i32,
  start: usize,
  w: usize,
  n: usize,
  inverseWidth: f64,
  cls: u8,
  id: u16,
  semantic: usize,
  instance: usize,
  visited: usize,
  epoch: u8,
  stack: usize,
): usize {
  const x0 = columnOf(start, w, inverseWidth);
  const rowStart0 = start - x0;
  // An isolated pixel (common in noise) needs no stack.
  if (
    (x0 == 0 || !floodMatches(mode, start - 1, cls, id, semantic, instance, visited, epoch)) &&
    (x0 + 1 >= w || !floodMatches(mode, start + 1, cls, id, semantic, instance, visited, epoch)) &&
    (start < w || !floodMatches(mode, start - w, cls, id, semantic, instance, visited, epoch)) &&
    (start + w >= n || !floodMatches(mode, start + w, cls, id, semantic, instance, visited, epoch))
  ) {
    floodMark(mode, start, start, id, instance, visited, epoch);
    return 1;
  }
  const first = runFirstOf(mode, rowStart0, x0, cls, id, semantic, instance, visited, epoch);
  const last = runLastOf(mode, rowStart0, x0, w, cls, id, semantic, instance, visited, epoch);
  floodMark(mode, rowStart0 + first, rowStart0 + last, id, instance, visited, epoch);
  let size = last - first + 1;
  const classLanes = i16x8.splat(<i16>cls);
  store<i32>(stack, <i32>(rowStart0 + first));
  store<i32>(stack, <i32>(rowStart0 + last), 4);
  let top: usize = 1;
  while (top > 0) {
    top--;
    const a = <usize>load<i32>(stack + (top << 3));
    const b = <usize>load<i32>(stack + (top << 3), 4);
    const xa = columnOf(a, w, inverseWidth);
    const rowStart = a - xa;
    const xb = xa + (b - a);
    for (let side = 0; side < 2; side++) {
      let r: usize;
      if (side == 0) {
        if (rowStart < w) continue;
        r = rowStart - w;
      } else {
        if (rowStart + w >= n) continue;
        r = rowStart + w;
      }
      let x = xa;
      while (x <= xb) {
        if (mode == LABEL && x + 8 <= xb + 1) {
          // Skip eight non-matching pixels at a time.
          const bits = labelBits(r + x, classLanes, semantic, instance);
          if (bits == 0) {
            x += 8;
            continue;
          }
          x += <usize>ctz(bits);
        } else if (!floodMatches(mode, r + x, cls, id, semantic, instance, visited, epoch)) {
          x++;
          continue;
        }
        const runFirst = x == xa ? runFirstOf(mode, r, x, cls, id, semantic, instance, visited, epoch) : x;
        const runLast = runLastOf(mode, r, x, w, cls, id, semantic, instance, visited, epoch);
        floodMark(mode, r + runFirst, r + runLast, id, instance, visited, epoch);
        size += runLast - runFirst + 1;
        store<i32>(stack + (top << 3), <i32>(r + runFirst));
        store<i32>(stack + (top << 3), <i32>(r + runLast), 4);
        top++;
        x = runLast + 2;
      }
    }
  }
  return size;
}

/**
 * Gives the component whose first pixel in raster order is `start` (an unlabelled, unvisited thing pixel)
 * the next id, or drops it (too small: undone and marked visited; ids ran out: counted and marked
 * visited). The component's pixels all lie at or after `start` in raster order. Returns the next free id.
 */
function newInstanceAt(
  start: usize,
  w: usize,
  n: usize,
  inverseWidth: f64,
  semantic: usize,
  instance: usize,
  visited: usize,
  epoch: u8,
  queue: usize,
  idClass: usize,
  idCategory: usize,
  category: usize,
  stats: usize,
  width: i32,
  height: i32,
  nextId: i32,
  minArea: i32,
  result: usize,
): i32 {
  const cls = load<u8>(semantic + start);
  if (nextId > 65535) {
    // No ids left: the component is only counted (and marked visited, so it is met once).
    if (<i32>flood(COUNT, start, w, n, inverseWidth, cls, 0, semantic, instance, visited, epoch, queue) >= minArea) {
      store<i32>(result, load<i32>(result) + 1);
    }
    return nextId;
  }
  const id = <u16>nextId;
  const size = flood(LABEL, start, w, n, inverseWidth, cls, id, semantic, instance, visited, epoch, queue);
  if (<i32>size < minArea) {
    flood(UNDO, start, w, n, inverseWidth, cls, id, semantic, instance, visited, epoch, queue);
    return nextId;
  }
  store<u8>(idClass + <usize>nextId, cls);
  store<u8>(idCategory + <usize>nextId, load<u8>(category + <usize>cls));
  const s = stats + (<usize>nextId) * 20;
  store<i32>(s, 0);
  store<i32>(s, width, 4);
  store<i32>(s, height, 8);
  store<i32>(s, -1, 12);
  store<i32>(s, -1, 16);
  return nextId + 1;
}

// ---------------------------------------------------------------------------------------------------------
// Phase 4, in the same raster pass as phase 3: the pass writes the fused classes over the semantic ones (the
// instance's class where labelled; elsewhere the semantic class stays) and the segment statistics: area and inclusive bounding box per
// id. `stats` is i32[5 * ids] (area, x0, y0, x1, y1), initialised by the caller for the detections' ids and
// here for new ones. A new instance is labelled when the pass meets its first pixel, and all its pixels
// come later in raster order, so the pass counts them as it reaches them. Runs of one id along a row are
// handled as a whole, and the unlabelled pixels before the next run or new instance, sixteen at a time.

/**
 * Returns the next free id; writes the number of components left unlabelled for lack of ids to `result`.
 * With `newInstances` false, phase 3 is skipped. `queue` is scratch for the flood's stack (8 bytes per
 * pixel). Which pixels form a component does not depend on the order they are found in, so a scanline
 * flood gives the reference's components; ids follow the raster order of each component's first pixel.
 */
export function finishFrame(
  width: i32,
  height: i32,
  semantic: usize,
  instance: usize,
  idClass: usize,
  stats: usize,
  newInstances: bool,
  thingTables: usize,
  thingChunks: u32,
  visited: usize,
  epoch: u8,
  queue: usize,
  idCategory: usize,
  category: usize,
  nextId: i32,
  minArea: i32,
  result: usize,
  rows: usize,
): i32 {
  const w = <usize>width;
  const n = <usize>width * <usize>height;
  const inverseWidth = 1.0 / <f64>width;
  const isThing = thingTables + 256;
  const mark = i8x16.splat(<i8>epoch);
  store<i32>(result, 0);
  for (let y: usize = 0; y < <usize>height; y++) {
    const rowStart = y * w;
    let labelledFrom = w;
    let labelledTo: usize = 0;
    let x: usize = 0;
    while (x < w) {
      const p = rowStart + x;
      if (x + 16 <= w) {
        // Only thing pixels are ever labelled or start a new instance (the isThing table as 16 vectors), so
        // sixteen pixels of stuff need no more loads.
        const things = tableLanes(v128.load(semantic + p), thingTables, thingChunks);
        if (!v128.any_true(things)) {
          x += 16;
          continue;
        }
        const labels0 = v128.load(instance + (p << 1));
        const labels1 = v128.load(instance + (p << 1), 16);
        const zero16 = i16x8.splat(0);
        const unlabelled = i8x16.narrow_i16x8_s(i16x8.eq(labels0, zero16), i16x8.eq(labels1, zero16));
        // A new instance starts only at an unvisited, unlabelled thing pixel; the visited marks are read only
        // where there are unlabelled thing pixels (after growing, few).
        let starts = i8x16.splat(0);
        const open = v128.and(unlabelled, things);
        if (newInstances && v128.any_true(open)) starts = v128.andnot(open, i8x16.eq(v128.load(visited + p), mark));
        const unlabelledMask = <u32>i8x16.bitmask(unlabelled);
        if (unlabelledMask == 0xffff && !v128.any_true(starts)) {
          x += 16;
          continue;
        }
        // The pixels before the first labelled one or new instance's start keep their semantic class.
        const skip = <usize>ctz((~unlabelledMask & 0xffff) | <u32>i8x16.bitmask(starts));
        if (skip != 0) {
          x += skip;
          continue;
        }
      }
      let id = <usize>load<u16>(instance + (p << 1));
      if (id == 0) {
        if (newInstances && load<u8>(visited + p) != epoch && load<u8>(isThing + <usize>load<u8>(semantic + p)) != 0) {
          nextId = newInstanceAt(p, w, n, inverseWidth, semantic, instance, visited, epoch, queue, idClass, idCategory, category, stats, width, height, nextId, minArea, result);
          id = <usize>load<u16>(instance + (p << 1));
        }
        if (id == 0) {
          x++;
          continue;
        }
      }
      // The run of this id: sixteen, then eight pixels compared at a time.
      let end = x + 1;
      const lanes = i16x8.splat(<i16>id);
      let ended = false;
      while (end + 16 <= w) {
        const at = instance + ((rowStart + end) << 1);
        const same = <u32>i8x16.bitmask(i8x16.narrow_i16x8_s(i16x8.eq(v128.load(at), lanes), i16x8.eq(v128.load(at, 16), lanes)));
        if (same != 0xffff) {
          end += <usize>ctz(~same);
          ended = true;
          break;
        }
        end += 16;
      }
      if (!ended) {
        while (end + 8 <= w) {
          const same = <u32>i16x8.bitmask(i16x8.eq(v128.load(instance + ((rowStart + end) << 1)), lanes));
          if (same == 0xff) {
            end += 8;
            continue;
          }
          end += <usize>ctz(~same);
          break;
        }
        if (end + 8 > w) while (end < w && <usize>load<u16>(instance + ((rowStart + end) << 1)) == id) end++;
      }
      // The run's classes replace its semantic ones; nothing reads those again (floods and new instances'
      // starts only look at unlabelled pixels).
      fillExact(semantic + p, load<u8>(idClass + id), end - x);
      const s = stats + id * 20;
      store<i32>(s, load<i32>(s) + <i32>(end - x));
      if (<i32>x < load<i32>(s, 4)) store<i32>(s, <i32>x, 4);
      if (<i32>y < load<i32>(s, 8)) store<i32>(s, <i32>y, 8);
      if (<i32>(end - 1) > load<i32>(s, 12)) store<i32>(s, <i32>(end - 1), 12);
      if (<i32>y > load<i32>(s, 16)) store<i32>(s, <i32>y, 16);
      if (x < labelledFrom) labelledFrom = x;
      labelledTo = end;
      x = end;
    }
    store<i32>(rows + (y << 3), <i32>labelledFrom);
    store<i32>(rows + (y << 3), <i32>labelledTo, 4);
  }
  return nextId;
}
