/**
 * Where the CLI writes results: an overlay video (encoded by ffmpeg), a folder of per-frame PNGs and
 * COCO-panoptic files, and NDJSON lines. Each sink takes results in order.
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
import { NO_INSTANCE, SEMANTIC_VOID, STUFF_ID_BASE } from '../../wire/src/panoptic.js';
import type { SegmentationResult } from './client.js';

/** Class colours of the server's label space. */
export function labelColors(info: ModelInfo): Map<number, readonly [number, number, number]> {
  const colors = new Map<number, readonly [number, number, number]>();
  for (const c of info.labelSpace?.classes ?? []) colors.set(c.id, [c.color?.r ?? 0, c.color?.g ?? 0, c.color?.b ?? 0]);
  return colors;
}

/** One NDJSON line per frame: ids, segments and timings (no pixel data). */
export function ndjsonLine(result: FrameResult): string {
  return `${JSON.stringify({
    index: result.index,
    frameId: result.frameId,
    pts: result.pts,
    width: result.width,
    height: result.height,
    sourceWidth: result.sourceWidth,
    sourceHeight: result.sourceHeight,
    segments: result.segments.map((s) => ({
      id: s.id,
      classId: s.classId,
      score: Number(s.score.toFixed(4)),
      area: s.area,
      box: s.box === undefined ? undefined : [s.box.x0, s.box.y0, s.box.x1, s.box.y1],
      source: s.source === SegmentSource.SEGMENT_SOURCE_NEW ? 'new' : 'detected',
      grownArea: s.grownArea,
    })),
    timingsUs: result.timings,
  })}\n`;
}

export class NdjsonSink {
  readonly #stream: WriteStream;
  constructor(path: string) {
    this.#stream = createWriteStream(path);
  }
  async write(result: FrameResult): Promise<void> {
    if (!this.#stream.write(ndjsonLine(result)))
      await new Promise<void>((resolve) => this.#stream.once('drain', () => resolve()));
  }
  async close(): Promise<void> {
    await new Promise<void>((resolve, reject) =>
      this.#stream.end((error?: Error | null) => (error ? reject(error) : resolve())),
    );
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

/** COCO panoptic annotation of one frame: things from the segments, stuff from the semantic map. */
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
    for (const [label, e] of stuff) {
      segmentsInfo.push({
        id: STUFF_ID_BASE + label,
        category_id: label,
        area: e.area,
        bbox: [e.x0, e.y0, e.x1 - e.x0 + 1, e.y1 - e.y0 + 1],
        iscrowd: 0,
      });
    }
  }
  return { image_id: String(result.index), file_name: fileName, segments_info: segmentsInfo };
}
