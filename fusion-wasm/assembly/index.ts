// The output fusion of Costea, Petrovai & Nedevschi, "Fusion Scheme for Semantic and Instance-level
// Segmentation", section 3, as a WebAssembly kernel. The TypeScript side (src/wasm-fusion.ts) lays out
// every buffer in linear memory and calls the phases in order; nothing here allocates.
//
// Buffers (byte offsets passed in by the caller):
//   semantic  u8[n]   input semantic class per pixel (255 = void)
//   fused     u8[n]   output class per pixel (starts as a copy of semantic)
//   instance  u16[n]  output instance id per pixel (0 = none)
//   visited   u8[n]   scratch for connected components
//   queue     i32[n]  scratch for the breadth-first searches
//   isThing   u8[256], category u8[256]: the label space, indexed by class id (void: not a thing)
//   idClass   u8[65536]: the class of each instance id
//   boxes     f64[4 * k], masks f32[sum of M*M]: the kept detections, in id order (id = index + 1)

// ---------------------------------------------------------------------------------------------------------
// Phase 1: paste each kept detection's mask into its box and keep the pixels that pass the pixel-to-pixel
// matching (foreground, unclaimed, consistent with the detection's class).

/** Where the caller may lay out its buffers. */
export function heapBase(): usize {
  return __heap_base;
}

@inline
function clampTo(value: f64, limit: i32): f64 {
  return value < 0 ? 0 : value > <f64>limit ? <f64>limit : value;
}

@inline
function consistent(semanticClass: u32, detectionClass: u32, categoryTable: usize, byClass: bool): bool {
  if (byClass) return semanticClass == detectionClass;
  return load<u8>(categoryTable + semanticClass) == load<u8>(categoryTable + detectionClass);
}

/**
 * Pastes detection `index` (id index + 1) and claims its matching pixels. `columns` is scratch for
 * per-column sampling weights: i32[2 * width] + f64[width].
 */
export function pasteDetection(
  width: i32,
  height: i32,
  semantic: usize,
  fused: usize,
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
  columns: usize,
): void {
  // Pixels whose centre lies in [x1, x2) x [y1, y2), clipped to the image.
  // Clamped in f64 before converting, so boxes far outside the image never overflow an i32.
  if (!(x2 > x1) || !(y2 > y1)) return;
  const xStart = <i32>clampTo(Math.ceil(x1 - 0.5), width);
  const xEnd = <i32>clampTo(Math.ceil(x2 - 0.5), width);
  const yStart = <i32>clampTo(Math.ceil(y1 - 0.5), height);
  const yEnd = <i32>clampTo(Math.ceil(y2 - 0.5), height);
  if (xStart >= xEnd || yStart >= yEnd) return;

  const m = <f64>maskSize;
  const last = maskSize - 1;
  const boxWidth = x2 - x1;
  const boxHeight = y2 - y1;
  // Column weights once per box: u0, u1 and the fraction toward u1.
  const weights = columns + ((<usize>width) << 3);
  for (let x = xStart; x < xEnd; x++) {
    let u = ((<f64>x + 0.5 - x1) / boxWidth) * m - 0.5;
    if (u < 0) u = 0;
    if (u > <f64>last) u = <f64>last;
    const u0 = <i32>Math.floor(u);
    const u1 = u0 < last ? u0 + 1 : last;
    store<i32>(columns + ((<usize>x) << 3), u0);
    store<i32>(columns + ((<usize>x) << 3) + 4, u1);
    store<f64>(weights + ((<usize>x) << 3), u - <f64>u0);
  }
  const stride = (<usize>maskSize) << 2;
  for (let y = yStart; y < yEnd; y++) {
    let v = ((<f64>y + 0.5 - y1) / boxHeight) * m - 0.5;
    if (v < 0) v = 0;
    if (v > <f64>last) v = <f64>last;
    const v0 = <i32>Math.floor(v);
    const v1 = v0 < last ? v0 + 1 : last;
    const fv = v - <f64>v0;
    const row0 = mask + <usize>v0 * stride;
    const row1 = mask + <usize>v1 * stride;
    const rowBase = <usize>y * <usize>width;
    for (let x = xStart; x < xEnd; x++) {
      const p = rowBase + <usize>x;
      const semanticClass = <u32>load<u8>(semantic + p);
      // Cheap rejections first: background, already claimed, inconsistent.
      if (load<u8>(isThing + semanticClass) == 0) continue;
      if (load<u16>(instance + (p << 1)) != 0) continue;
      if (!consistent(semanticClass, detectionClass, category, byClass)) continue;
      const c = columns + ((<usize>x) << 3);
      const u0 = <usize>load<i32>(c) << 2;
      const u1 = <usize>load<i32>(c, 4) << 2;
      const fu = load<f64>(weights + ((<usize>x) << 3));
      const top = (1 - fu) * <f64>load<f32>(row0 + u0) + fu * <f64>load<f32>(row0 + u1);
      const bottom = (1 - fu) * <f64>load<f32>(row1 + u0) + fu * <f64>load<f32>(row1 + u1);
      const value = (1 - fv) * top + fv * bottom;
      if (value >= maskThreshold) {
        store<u16>(instance + (p << 1), <u16>id);
        store<u8>(fused + p, <u8>detectionClass);
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------------------
// Phase 2: region growing. Foreground pixels without an instance take the instance (and class) of the
// closest labelled pixel reachable through 4-connected foreground pixels of that instance's category:
// one breadth-first search seeded with every labelled pixel in raster order; a pixel joins the first
// neighbour that reaches it (neighbours visited up, left, right, down). Returns the number of pixels grown;
// `grown` (i32 per id) counts them per instance.

@inline
function tryGrow(
  q: usize,
  id: u16,
  cls: u8,
  cat: u8,
  semantic: usize,
  fused: usize,
  instance: usize,
  isThing: usize,
  category: usize,
  queue: usize,
  tail: usize,
): usize {
  if (load<u16>(instance + (q << 1)) != 0) return tail;
  const s = <usize>load<u8>(semantic + q);
  if (load<u8>(isThing + s) == 0 || load<u8>(category + s) != cat) return tail;
  store<u16>(instance + (q << 1), id);
  store<u8>(fused + q, cls);
  store<i32>(queue + (tail << 2), <i32>q);
  return tail + 1;
}

export function growRegions(
  width: i32,
  height: i32,
  semantic: usize,
  fused: usize,
  instance: usize,
  isThing: usize,
  category: usize,
  queue: usize,
  grown: usize,
): i32 {
  const n = <usize>width * <usize>height;
  // Seed: every labelled pixel, in raster order. Whole zero blocks are skipped eight pixels at a time.
  let tail: usize = 0;
  let p: usize = 0;
  const blocks = n & ~(<usize>7);
  for (; p < blocks; p += 8) {
    if (v128.any_true(v128.load(instance + (p << 1)))) {
      for (let i: usize = 0; i < 8; i++) {
        if (load<u16>(instance + ((p + i) << 1)) != 0) {
          store<i32>(queue + (tail << 2), <i32>(p + i));
          tail++;
        }
      }
    }
  }
  for (; p < n; p++) {
    if (load<u16>(instance + (p << 1)) != 0) {
      store<i32>(queue + (tail << 2), <i32>p);
      tail++;
    }
  }
  const seeds = tail;
  const w = <usize>width;
  for (let head: usize = 0; head < tail; head++) {
    const q = <usize>load<i32>(queue + (head << 2));
    const id = load<u16>(instance + (q << 1));
    const cls = load<u8>(fused + q);
    const cat = load<u8>(category + <usize>cls);
    const x = q % w;
    const before = tail;
    if (q >= w) tail = tryGrow(q - w, id, cls, cat, semantic, fused, instance, isThing, category, queue, tail);
    if (x > 0) tail = tryGrow(q - 1, id, cls, cat, semantic, fused, instance, isThing, category, queue, tail);
    if (x + 1 < w) tail = tryGrow(q + 1, id, cls, cat, semantic, fused, instance, isThing, category, queue, tail);
    if (q + w < n) tail = tryGrow(q + w, id, cls, cat, semantic, fused, instance, isThing, category, queue, tail);
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
// stop at 65535 and later components are counted in `dropped` instead.

/** Returns the next free id; writes the number of components left unlabelled for lack of ids to `result`. */
export function labelNewInstances(
  width: i32,
  height: i32,
  semantic: usize,
  instance: usize,
  isThing: usize,
  visited: usize,
  queue: usize,
  idClass: usize,
  nextId: i32,
  minArea: i32,
  result: usize,
): i32 {
  const n = <usize>width * <usize>height;
  const w = <usize>width;
  memory.fill(visited, 0, n);
  let dropped: i32 = 0;
  for (let start: usize = 0; start < n; start++) {
    if (load<u16>(instance + (start << 1)) != 0 || load<u8>(visited + start) != 0) continue;
    const cls = load<u8>(semantic + start);
    if (load<u8>(isThing + <usize>cls) == 0) continue;
    // Flood the component; its pixels stay listed in the queue for labelling.
    store<u8>(visited + start, 1);
    store<i32>(queue, <i32>start);
    let tail: usize = 1;
    for (let head: usize = 0; head < tail; head++) {
      const q = <usize>load<i32>(queue + (head << 2));
      const x = q % w;
      if (q >= w) tail = visit(q - w, cls, semantic, instance, visited, queue, tail);
      if (x > 0) tail = visit(q - 1, cls, semantic, instance, visited, queue, tail);
      if (x + 1 < w) tail = visit(q + 1, cls, semantic, instance, visited, queue, tail);
      if (q + w < n) tail = visit(q + w, cls, semantic, instance, visited, queue, tail);
    }
    if (<i32>tail < minArea) continue;
    if (nextId > 65535) {
      dropped++;
      continue;
    }
    const id = <u16>nextId;
    store<u8>(idClass + <usize>nextId, cls);
    nextId++;
    for (let i: usize = 0; i < tail; i++) store<u16>(instance + (<usize>load<i32>(queue + (i << 2)) << 1), id);
  }
  store<i32>(result, dropped);
  return nextId;
}

@inline
function visit(q: usize, cls: u8, semantic: usize, instance: usize, visited: usize, queue: usize, tail: usize): usize {
  if (load<u8>(visited + q) != 0 || load<u16>(instance + (q << 1)) != 0 || load<u8>(semantic + q) != cls) return tail;
  store<u8>(visited + q, 1);
  store<i32>(queue + (tail << 2), <i32>q);
  return tail + 1;
}

// ---------------------------------------------------------------------------------------------------------
// Phase 4: segment statistics in one pass: area and inclusive bounding box per id. `stats` is i32[5 * ids]
// (area, x0, y0, x1, y1), initialised by the caller for ids 1..maxId.

export function segmentStats(width: i32, height: i32, instance: usize, stats: usize): void {
  const w = <usize>width;
  for (let y: usize = 0; y < <usize>height; y++) {
    const row = instance + ((y * w) << 1);
    let x: usize = 0;
    while (x < w) {
      const id = <usize>load<u16>(row + (x << 1));
      if (id == 0) {
        x++;
        continue;
      }
      // A run of one id along the row: one update for the whole run.
      let end = x + 1;
      while (end < w && <usize>load<u16>(row + (end << 1)) == id) end++;
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
