/**
 * Where the CLI writes results: an overlay video (encoded by ffmpeg), a folder of per-frame PNGs and
 * COCO-panoptic files, NDJSON lines, and MOTChallenge track lines. Each sink takes results in order.
 */
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { encode as encodePng } from 'fast-png';
import { SegmentSource, type FrameResult, type ModelInfo } from '../../proto/generated/fusionseg/v1/segmentation.pb.js';
import { TextTail } from '../../wire/src/child-process.js';
import { ffmpegBinary } from '../../wire/src/media-tools.js';
import { NO_INSTANCE, SEMANTIC_VOID, stuffIdBase } from '../../wire/src/panoptic.js';
import type { SegmentationResult } from './client.js';

/** Class colours of the server's label space. */
export function labelColors(info: ModelInfo): Map<number, readonly [number, number, number]> {
  const colors = new Map<number, readonly [number, number, number]>();
  for (const c of info.labelSpace?.classes ?? []) colors.set(c.id, [c.color?.r ?? 0, c.color?.g ?? 0, c.color?.b ?? 0]);
  return colors;
}

/**
 * One NDJSON line per frame: ids, segments, tracking and timings (no pixel data). `tracked`,
 * `tracksBorn` and `tracksEnded` are on every line; a tracked frame's segments also carry `trackId` (equal
 * to `id`) and `trackFirstIndex` (the index of the track's first frame).
 */
export function ndjsonLine(result: FrameResult): string {
  return `${JSON.stringify({
    index: result.index,
    frameId: result.frameId,
    pts: result.pts,
    width: result.width,
    height: result.height,
    sourceWidth: result.sourceWidth,
    sourceHeight: result.sourceHeight,
    tracked: result.tracked,
    segments: result.segments.map((s) => ({
      id: s.id,
      classId: s.classId,
      score: Number(s.score.toFixed(4)),
      area: s.area,
      box: s.box === undefined ? undefined : [s.box.x0, s.box.y0, s.box.x1, s.box.y1],
      source: s.source === SegmentSource.SEGMENT_SOURCE_NEW ? 'new' : 'detected',
      grownArea: s.grownArea,
      ...(result.tracked ? { trackId: s.trackId, trackFirstIndex: s.trackFirstIndex } : {}),
    })),
    tracksBorn: result.tracksBorn,
    tracksEnded: result.tracksEnded.map((e) => ({
      trackId: e.trackId,
      classId: e.classId,
      firstIndex: e.firstIndex,
      lastIndex: e.lastIndex,
      framesSeen: e.framesSeen,
    })),
    timingsUs: result.timings,
  })}\n`;
}

/**
 * A text file written line by line with backpressure: a write waits for 'drain' when the file's buffer is
 * full. An error of the file (it cannot be opened, the disk is full) fails the next write or the close.
 */
class LineFile {
  readonly #stream: WriteStream;
  #error: Error | undefined;

  constructor(readonly path: string) {
    this.#stream = createWriteStream(path);
    this.#stream.on('error', (error) => (this.#error ??= error));
  }

  async write(text: string): Promise<void> {
    this.#check();
    if (text.length === 0) return;
    if (!this.#stream.write(text)) {
      await new Promise<void>((resolve) => {
        const done = () => {
          this.#stream.off('drain', done);
          this.#stream.off('error', done);
          this.#stream.off('close', done);
          resolve();
        };
        this.#stream.once('drain', done);
        this.#stream.once('error', done);
        this.#stream.once('close', done);
      });
      this.#check();
    }
  }

  async close(): Promise<void> {
    if (!this.#stream.destroyed && !this.#stream.writableEnded) {
      await new Promise<void>((resolve) => this.#stream.end(() => resolve()));
    }
    this.#check();
  }

  #check(): void {
    if (this.#error !== undefined) throw new Error(`cannot write ${this.path}: ${this.#error.message}`);
  }
}

export class NdjsonSink {
  readonly #file: LineFile;
  constructor(path: string) {
    this.#file = new LineFile(path);
  }
  async write(result: FrameResult): Promise<void> {
    await this.#file.write(ndjsonLine(result));
  }
  async close(): Promise<void> {
    await this.#file.close();
  }
}

/** A number for a text file: at most `digits` decimals, no trailing zeros. */
function decimal(value: number, digits = 2): string {
  const unit = 10 ** digits;
  return String(Math.round(value * unit) / unit);
}

/** How a result's map pixels scale to its source frame's pixels (1 when the maps are at the source size). */
function sourceScale(result: FrameResult): { sx: number; sy: number } {
  const axis = (mapSize: number, sourceSize: number, scale: number) =>
    mapSize > 0 && sourceSize > 0 ? sourceSize / mapSize : scale > 0 ? scale : 1;
  return {
    sx: axis(result.width, result.sourceWidth, result.scaleX),
    sy: axis(result.height, result.sourceHeight, result.scaleY),
  };
}

/**
 * A frame's MOTChallenge lines, one per segment: `frame,id,bb_left,bb_top,bb_width,bb_height,conf,class,visibility`.
 *
 * - frame: `result.index + 1` (MOTChallenge counts frames from 1).
 * - id: the segment's track id.
 * - the box in the SOURCE frame's pixels, 0-based (bb_left, bb_top of the box's top-left corner; MOTChallenge
 *   ground truth counts pixels from 1): a box x0..x1 (inclusive) of maps at the model's size covers the
 *   source pixels [x0 * sx, (x1 + 1) * sx), sx = source width / map width; at most two decimals.
 * - conf: the detection's score (at most four decimals); -1 for a new instance (SEGMENT_SOURCE_NEW), which has no detector score.
 * - class: the label space's class id; visibility: -1 (not known).
 *
 * A dropped frame has no lines.
 */
export function motLines(result: FrameResult): string {
  const { sx, sy } = sourceScale(result);
  const maxX = result.sourceWidth > 0 ? result.sourceWidth : Infinity;
  const maxY = result.sourceHeight > 0 ? result.sourceHeight : Infinity;
  let lines = '';
  for (const s of result.segments) {
    if (s.box === undefined) continue;
    const left = Math.min(maxX, s.box.x0 * sx);
    const top = Math.min(maxY, s.box.y0 * sy);
    const right = Math.min(maxX, (s.box.x1 + 1) * sx);
    const bottom = Math.min(maxY, (s.box.y1 + 1) * sy);
    const conf = s.source === SegmentSource.SEGMENT_SOURCE_NEW ? '-1' : decimal(s.score, 4);
    const fields = [
      result.index + 1,
      result.tracked ? s.trackId || s.id : s.id,
      decimal(left),
      decimal(top),
      decimal(right - left),
      decimal(bottom - top),
      conf,
      s.classId,
      -1,
    ];
    lines += `${fields.join(',')}\n`;
  }
  return lines;
}

/**
 * Writes the tracks of a tracked stream as a MOTChallenge text file (see `motLines`). An untracked result
 * (its ids are new in every frame, so they are no tracks) fails the write.
 */
export class MotSink {
  readonly #file: LineFile;
  constructor(path: string) {
    this.#file = new LineFile(path);
  }
  async write(result: FrameResult): Promise<void> {
    if (result.dropped) return;
    if (!result.tracked) {
      throw new Error(
        `--tracks: frame ${result.index} is not tracked (the server answered without tracking); ids are no tracks`,
      );
    }
    await this.#file.write(motLines(result));
  }
  async close(): Promise<void> {
    await this.#file.close();
  }
}

/** Encodes overlay frames into an H.264 MP4 with ffmpeg. */
export class OverlayVideoSink {
  readonly #child: ChildProcessByStdio<Writable, Readable, Readable>;
  readonly #stderr = new TextTail();
  readonly #exit: Promise<number | null>;

  constructor(path: string, width: number, height: number, fps: number) {
    this.#child = spawn(
      ffmpegBinary().path,
      [
        '-hide_banner',
        '-loglevel',
        'error',
        '-y',
        '-f',
        'rawvideo',
        '-pix_fmt',
        'rgb24',
        '-s',
        `${width}x${height}`,
        '-r',
        String(fps),
        '-i',
        'pipe:0',
        '-an',
        '-c:v',
        'libx264',
        '-preset',
        'veryfast',
        '-pix_fmt',
        'yuv420p',
        '-movflags',
        '+faststart',
        path,
      ],
      { stdio: ['pipe', 'pipe', 'pipe'] },
    );
    this.#child.stdin.on('error', () => {});
    this.#child.stderr.on('data', (chunk: Buffer) => this.#stderr.push(chunk));
    this.#exit = new Promise((resolve) => this.#child.once('exit', (code) => resolve(code)));
  }

  async write(rgb: Uint8Array): Promise<void> {
    if (!this.#child.stdin.write(rgb))
      await new Promise<void>((resolve) => this.#child.stdin.once('drain', () => resolve()));
  }

  async close(): Promise<void> {
    this.#child.stdin.end();
    const code = await this.#exit;
    if (code !== 0)
      throw new Error(`ffmpeg could not write the overlay video: ${this.#stderr.lastLines() || `exit code ${code}`}`);
  }
}

/** Per frame: `NNNNNN-overlay.png`, and with panoptic output `NNNNNN-panoptic.png` + `NNNNNN-panoptic.json`. */
export class FramesDirSink {
  constructor(private readonly dir: string) {}

  async open(): Promise<void> {
    await mkdir(this.dir, { recursive: true });
  }

  async write(
    segmented: SegmentationResult,
    overlay: Uint8Array | undefined,
    overlayWidth: number,
    overlayHeight: number,
  ): Promise<void> {
    const { result } = segmented;
    const name = String(result.index).padStart(6, '0');
    const writes: Promise<unknown>[] = [];
    if (overlay !== undefined) {
      const png = encodePng({ width: overlayWidth, height: overlayHeight, data: overlay, channels: 3, depth: 8 });
      writes.push(writeFile(join(this.dir, `${name}-overlay.png`), png));
    }
    if (result.panopticPng.length > 0) {
      writes.push(writeFile(join(this.dir, `${name}-panoptic.png`), result.panopticPng));
      writes.push(
        writeFile(
          join(this.dir, `${name}-panoptic.json`),
          JSON.stringify(panopticJson(segmented, `${name}-panoptic.png`), null, 2),
        ),
      );
    }
    await Promise.all(writes);
  }
}

/**
 * COCO panoptic annotation of one frame: things from the segments, stuff from the semantic map (stuff ids
 * as in the panoptic PNG: above every instance id, and above every track id when the frame is tracked).
 */
export function panopticJson(segmented: SegmentationResult, fileName: string) {
  const { result, semantic, instance } = segmented;
  const segmentsInfo: {
    id: number;
    category_id: number;
    area: number;
    bbox: number[];
    iscrowd: number;
    score?: number;
  }[] = result.segments.map((s) => ({
    id: s.id,
    category_id: s.classId,
    area: s.area,
    bbox: s.box === undefined ? [0, 0, 0, 0] : [s.box.x0, s.box.y0, s.box.x1 - s.box.x0 + 1, s.box.y1 - s.box.y0 + 1],
    iscrowd: 0,
    score: s.score,
  }));
  if (semantic !== undefined) {
    const width = result.width;
    const stuff = new Map<number, { area: number; x0: number; y0: number; x1: number; y1: number }>();
    for (let p = 0; p < semantic.length; p++) {
      const label = semantic[p]!;
      if (label === SEMANTIC_VOID || (instance !== undefined && instance[p] !== NO_INSTANCE)) continue;
      const x = p % width;
      const y = (p - x) / width;
      const entry = stuff.get(label);
      if (entry === undefined) stuff.set(label, { area: 1, x0: x, y0: y, x1: x, y1: y });
      else {
        entry.area++;
        entry.x0 = Math.min(entry.x0, x);
        entry.x1 = Math.max(entry.x1, x);
        entry.y1 = y;
      }
    }
    const stuffBase = stuffIdBase(result.tracked);
    for (const [label, e] of stuff) {
      segmentsInfo.push({
        id: stuffBase + label,
        category_id: label,
        area: e.area,
        bbox: [e.x0, e.y0, e.x1 - e.x0 + 1, e.y1 - e.y0 + 1],
        iscrowd: 0,
      });
    }
  }
  return { image_id: String(result.index), file_name: fileName, segments_info: segmentsInfo };
}
