// The output fusion of Costea, Petrovai & Nedevschi, "Fusion Scheme for Semantic and Instance-level
// Segmentation", section 3, as a WebAssembly kernel. The TypeScript side (src/wasm-fusion.ts) lays out
// every buffer in linear memory and calls the phases in order; nothing here allocates.
//
// Buffers (byte offsets passed in by the caller):
//   semantic   u8[n]   input semantic class per pixel (255 = void)
//   instance   u16[n]  output instance id per pixel (0 = none)
//   fused      u8[n]   output class per pixel, written by the last phase
//   visited    u8[n]   scratch for connected components (marks carry a per-frame epoch, so it is never cleared)
//   queue      i32[n]  scratch for the breadth-first searches
//   isThing    u8[256], category u8[256]: the label space, indexed by class id (void: not a thing)
//   idClass    u8[65536], idCategory u8[65536]: class and category of each instance id
//
// The class of a labelled pixel is always its instance's class, so `fused` is derived once at the end
// (phase 4) instead of being kept up to date while instances are pasted and grown.

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

/**
 * Pastes detection `id` and claims its matching pixels. The bilinear sample is taken vertically first:
 * each pixel row interpolates the two mask rows it falls between (one value per mask column), then each
 * pixel interpolates that row horizontally; the reference computes in the same order, so the two agree
 * to the bit. `scratch` holds per-column sampling data (i32 u0, i32 u1, f64 fraction: 16 bytes a column),
 * then per mask column the first and last pixel column that sample it (i32 pairs), then one f64 per
 * mask column for the interpolated row.
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
  const spans = scratch + ((<usize>width) << 4); // i32 first, last pixel column per mask column
  const row = spans + ((<usize>maskSize) << 3); // f64 per mask column
  for (let u = 0; u < maskSize; u++) {
    store<i32>(spans + ((<usize>u) << 3), xEnd);
    store<i32>(spans + ((<usize>u) << 3), xStart - 1, 4);
  }
  for (let x = xStart; x < xEnd; x++) {
    let u = ((<f64>x + 0.5 - x1) / boxWidth) * m - 0.5;
    if (u < 0) u = 0;
    if (u > <f64>last) u = <f64>last;
    const u0 = <i32>Math.floor(u);
    const u1 = u0 < last ? u0 + 1 : last;
    const c = columns + ((<usize>x) << 4);
    store<i32>(c, u0);
    store<i32>(c, u1, 4);
    store<f64>(c, u - <f64>u0, 8);
    // Columns only grow with x: the first x that samples a mask column is met first, the last one last.
    for (let k = u0; k <= u1; k++) {
      const span = spans + ((<usize>k) << 3);
      if (x < load<i32>(span)) store<i32>(span, x);
      store<i32>(span, x, 4);
    }
  }
  const detectionCategory = load<u8>(category + detectionClass);
  const claim = <u16>id;
  for (let y = yStart; y < yEnd; y++) {
    let v = ((<f64>y + 0.5 - y1) / boxHeight) * m - 0.5;
    if (v < 0) v = 0;
    if (v > <f64>last) v = <f64>last;
    const v0 = <i32>Math.floor(v);
    const v1 = v0 < last ? v0 + 1 : last;
    const fv = v - <f64>v0;
    const row0 = mask + <usize>v0 * stride;
    const row1 = mask + <usize>v1 * stride;
    // The row's values, and the mask columns that reach the threshold: a horizontal interpolation never
    // exceeds the larger of its two values, so pixels sampling only columns below it are skipped.
    // (A mask column that no pixel samples has an empty span and widens nothing.)
    let xFrom = xEnd;
    let xTo = xStart - 1;
    for (let u = 0; u < maskSize; u++) {
      const value = (1 - fv) * <f64>load<f32>(row0 + ((<usize>u) << 2)) + fv * <f64>load<f32>(row1 + ((<usize>u) << 2));
      store<f64>(row + ((<usize>u) << 3), value);
      if (value >= maskThreshold) {
        const span = spans + ((<usize>u) << 3);
        xFrom = min(xFrom, load<i32>(span));
        xTo = max(xTo, load<i32>(span, 4));
      }
    }
    const rowBase = <usize>y * <usize>width;
    for (let x = xFrom; x <= xTo; x++) {
      const p = rowBase + <usize>x;
      const semanticClass = <usize>load<u8>(semantic + p);
      // Cheap rejections first: background, already claimed, inconsistent.
      if (load<u8>(isThing + semanticClass) == 0) continue;
      if (load<u16>(instance + (p << 1)) != 0) continue;
      if (byClass) {
        if (<u32>semanticClass != detectionClass) continue;
      } else if (load<u8>(category + semanticClass) != detectionCategory) continue;
      const c = columns + ((<usize>x) << 4);
      const fu = load<f64>(c, 8);
      const left = load<f64>(row + ((<usize>load<i32>(c)) << 3));
      const right = load<f64>(row + ((<usize>load<i32>(c, 4)) << 3));
      if ((1 - fu) * left + fu * right >= maskThreshold) store<u16>(instance + (p << 1), claim);
    }
  }
}

// ---------------------------------------------------------------------------------------------------------
// Phase 2: region growing. Foreground pixels without an instance take the instance of the closest labelled
// pixel reachable through 4-connected foreground pixels of that instance's category: one breadth-first
// search seeded with every labelled pixel in raster order; a pixel joins the first neighbour that reaches it
// (neighbours visited up, left, right, down). `grown` (i32 per id) counts the pixels each instance gained.

@inline
function tryGrow(q: usize, id: u16, cat: u8, semantic: usize, instance: usize, isThing: usize, category: usize, queue: usize, tail: usize): usize {
  if (load<u16>(instance + (q << 1)) != 0) return tail;
  const s = <usize>load<u8>(semantic + q);
  if (load<u8>(isThing + s) == 0 || load<u8>(category + s) != cat) return tail;
  store<u16>(instance + (q << 1), id);
  store<i32>(queue + (tail << 2), <i32>q);
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

export function growRegions(
  width: i32,
  height: i32,
  semantic: usize,
  instance: usize,
  isThing: usize,
  category: usize,
  idCategory: usize,
  queue: usize,
  grown: usize,
): i32 {
  const n = <usize>width * <usize>height;
  const w = <usize>width;
  const inverseWidth = 1.0 / <f64>width;
  // Seed: the labelled pixels in raster order. A labelled pixel whose four neighbours are all labelled
  // can never claim anything, and leaving it out changes neither the order of the other seeds nor what
  // they reach, so only pixels with an unlabelled neighbour are queued (checked eight at a time).
  // Pixels on the image border are always queued (their neighbour test would wrap around).
  let tail: usize = 0;
  const zero = i16x8.splat(0);
  for (let y: usize = 0; y < <usize>height; y++) {
    const rowStart = y * w;
    const rowEnd = rowStart + w;
    let p = rowStart;
    if (y > 0 && y + 1 < <usize>height) {
      for (; p + 8 <= rowEnd; p += 8) {
        const here = v128.load(instance + (p << 1));
        if (!v128.any_true(here)) continue;
        const open = v128.or(
          v128.or(i16x8.eq(v128.load(instance + ((p - 1) << 1)), zero), i16x8.eq(v128.load(instance + ((p + 1) << 1)), zero)),
          v128.or(i16x8.eq(v128.load(instance + ((p - w) << 1)), zero), i16x8.eq(v128.load(instance + ((p + w) << 1)), zero)),
        );
        if (!v128.any_true(v128.andnot(open, i16x8.eq(here, zero)))) continue;
        for (let q = p; q < p + 8; q++) {
          if (load<u16>(instance + (q << 1)) == 0) continue;
          if (
            load<u16>(instance + ((q - 1) << 1)) == 0 ||
            load<u16>(instance + ((q + 1) << 1)) == 0 ||
            load<u16>(instance + ((q - w) << 1)) == 0 ||
            load<u16>(instance + ((q + w) << 1)) == 0
          ) {
            store<i32>(queue + (tail << 2), <i32>q);
            tail++;
          }
        }
      }
    }
    for (; p < rowEnd; p++) {
      if (load<u16>(instance + (p << 1)) != 0) {
        store<i32>(queue + (tail << 2), <i32>p);
        tail++;
      }
    }
  }
  const seeds = tail;
  for (let head: usize = 0; head < tail; head++) {
    const q = <usize>load<i32>(queue + (head << 2));
    const id = load<u16>(instance + (q << 1));
    const cat = load<u8>(idCategory + <usize>id);
    const x = columnOf(q, w, inverseWidth);
    const before = tail;
    if (q >= w) tail = tryGrow(q - w, id, cat, semantic, instance, isThing, category, queue, tail);
    if (x > 0) tail = tryGrow(q - 1, id, cat, semantic, instance, isThing, category, queue, tail);
    if (x + 1 < w) tail = tryGrow(q + 1, id, cat, semantic, instance, isThing, category, queue, tail);
    if (q + w < n) tail = tryGrow(q + w, id, cat, semantic, instance, isThing, category, queue, tail);
    if (tail != before) {
      const counter = grown + ((<usize>id) << 2);
      store<i32>(counter, load<i32>(counter) + <i32>(tail - before));
    }
  }
  return <i32>(tail - seeds);
}

// ---------------------------------------------------------------------------------------------------------
// Phase 3: new instances. Each 4-connected component of still-unlabelled foreground pixels of one semantic
// class gets the next id (in raster order of its first pixel) when it has at least `minArea` pixels; ids
// stop at 65535 and later components are counted instead.

/**
 * Foreground test for 16 pixels at once: `thingTables` holds the isThing table as 16 vectors of 16 bytes
 * (0xff for things); `chunks` has bit k set when vector k has any thing, so only those are looked up.
 */
@inline
function thingLanes(classes: v128, thingTables: usize, chunks: u32): v128 {
  let lanes = i8x16.splat(0);
  let bits = chunks;
  while (bits != 0) {
    const k = ctz(bits);
    bits &= bits - 1;
    const indices = i8x16.sub(classes, i8x16.splat(<i8>(k << 4)));
    lanes = v128.or(lanes, i8x16.swizzle(v128.load(thingTables + (<usize>k << 4)), indices));
  }
  return lanes;
}

/** Returns the next free id; writes the number of components left unlabelled for lack of ids to `result`. */
export function labelNewInstances(
  width: i32,
  height: i32,
  semantic: usize,
  instance: usize,
  thingTables: usize,
  thingChunks: u32,
  visited: usize,
  epoch: u8,
  queue: usize,
  idClass: usize,
  idCategory: usize,
  category: usize,
  nextId: i32,
  minArea: i32,
  result: usize,
): i32 {
  const n = <usize>width * <usize>height;
  const w = <usize>width;
  const inverseWidth = 1.0 / <f64>width;
  const isThing = thingTables + 256;
  const mark = i8x16.splat(<i8>epoch);
  let dropped: i32 = 0;
  let start: usize = 0;
  while (start < n) {
    // Skip 16 pixels at a time while none is an unvisited, unlabelled thing pixel.
    if (start + 16 <= n && (start & 15) == 0) {
      const things = thingLanes(v128.load(semantic + start), thingTables, thingChunks);
      const free = i8x16.narrow_i16x8_s(
        i16x8.eq(v128.load(instance + (start << 1)), i16x8.splat(0)),
        i16x8.eq(v128.load(instance + (start << 1), 16), i16x8.splat(0)),
      );
      const unvisited = v128.not(i8x16.eq(v128.load(visited + start), mark));
      if (!v128.any_true(v128.and(v128.and(things, free), unvisited))) {
        start += 16;
        continue;
      }
    }
    const here = start++;
    if (load<u16>(instance + (here << 1)) != 0 || load<u8>(visited + here) == epoch) continue;
    const cls = load<u8>(semantic + here);
    if (load<u8>(isThing + <usize>cls) == 0) continue;
    // Flood the component; its pixels stay listed in the queue for labelling.
    store<u8>(visited + here, epoch);
    store<i32>(queue, <i32>here);
    let tail: usize = 1;
    for (let head: usize = 0; head < tail; head++) {
      const q = <usize>load<i32>(queue + (head << 2));
      const x = columnOf(q, w, inverseWidth);
      if (q >= w) tail = visit(q - w, cls, semantic, instance, visited, epoch, queue, tail);
      if (x > 0) tail = visit(q - 1, cls, semantic, instance, visited, epoch, queue, tail);
      if (x + 1 < w) tail = visit(q + 1, cls, semantic, instance, visited, epoch, queue, tail);
      if (q + w < n) tail = visit(q + w, cls, semantic, instance, visited, epoch, queue, tail);
    }
    if (<i32>tail < minArea) continue;
    if (nextId > 65535) {
      dropped++;
      continue;
    }
    const id = <u16>nextId;
    store<u8>(idClass + <usize>nextId, cls);
    store<u8>(idCategory + <usize>nextId, load<u8>(category + <usize>cls));
    nextId++;
    for (let i: usize = 0; i < tail; i++) store<u16>(instance + (<usize>load<i32>(queue + (i << 2)) << 1), id);
  }
  store<i32>(result, dropped);
  return nextId;
}

@inline
function visit(q: usize, cls: u8, semantic: usize, instance: usize, visited: usize, epoch: u8, queue: usize, tail: usize): usize {
  if (load<u8>(visited + q) == epoch || load<u16>(instance + (q << 1)) != 0 || load<u8>(semantic + q) != cls) return tail;
  store<u8>(visited + q, epoch);
  store<i32>(queue + (tail << 2), <i32>q);
  return tail + 1;
}

// ---------------------------------------------------------------------------------------------------------
// Phase 4: one pass writes the fused classes (the instance's class where labelled, the semantic class
// elsewhere) and the segment statistics: area and inclusive bounding box per id. `stats` is i32[5 * ids]
// (area, x0, y0, x1, y1), initialised by the caller for ids 1..maxId. Runs of one id along a row are
// handled as a whole, and all-background blocks are copied eight pixels at a time.

export function finishFrame(width: i32, height: i32, semantic: usize, instance: usize, idClass: usize, fused: usize, stats: usize): void {
  const w = <usize>width;
  for (let y: usize = 0; y < <usize>height; y++) {
    const rowStart = y * w;
    let x: usize = 0;
    while (x < w) {
      const p = rowStart + x;
      if (x + 8 <= w && !v128.any_true(v128.load(instance + (p << 1)))) {
        store<u64>(fused + p, load<u64>(semantic + p));
        x += 8;
        continue;
      }
      const id = <usize>load<u16>(instance + (p << 1));
      if (id == 0) {
        store<u8>(fused + p, load<u8>(semantic + p));
        x++;
        continue;
      }
      let end = x + 1;
      while (end < w && <usize>load<u16>(instance + ((rowStart + end) << 1)) == id) end++;
      memory.fill(fused + p, load<u8>(idClass + id), end - x);
      const s = stats + id * 20;
      store<i32>(s, load<i32>(s) + <i32>(end - x));
      if (<i32>x < load<i32>(s, 4)) store<i32>(s, <i32>x, 4);
      if (<i32>y < load<i32>(s, 8)) store<i32>(s, <i32>y, 8);
      if (<i32>(end - 1) > load<i32>(s, 12)) store<i32>(s, <i32>(end - 1), 12);
      if (<i32>y > load<i32>(s, 16)) store<i32>(s, <i32>y, 16);
      x = end;
    }
  }
}
