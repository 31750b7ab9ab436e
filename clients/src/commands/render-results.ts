/**
 * The output side shared by `stream` and `process`: overlay video, frames folder, NDJSON, MOTChallenge
 * tracks, summary and progress, fed with results in order together with the source frame each one answers.
 */
import type { ModelInfo } from '../../../proto/generated/fusionseg/v1/segmentation.pb.js';
import type { SegmentationResult } from '../client.js';
import { FramesDirSink, labelColors, MotSink, NdjsonSink, OverlayVideoSink } from '../outputs.js';
import { renderOverlay } from '../overlay.js';
import { Progress } from '../progress.js';
import { formatSummary, SummaryBuilder, type RunSummary } from '../summary.js';

export interface OutputFlags {
  readonly overlay?: string | undefined;
  readonly 'frames-dir'?: string | undefined;
  readonly 'frames-every'?: string | undefined;
  readonly json?: string | undefined;
  readonly tracks?: string | undefined;
  readonly summary?: boolean | undefined;
  readonly quiet?: boolean | undefined;
}

export const outputOptions = {
  overlay: { type: 'string' },
  'frames-dir': { type: 'string' },
  'frames-every': { type: 'string' },
  json: { type: 'string' },
  tracks: { type: 'string' },
  summary: { type: 'boolean' },
  quiet: { type: 'boolean' },
} as const;

/** What `--tracks` writes, for the usage text of the commands that take it. */
export const tracksHelp = `--tracks FILE writes the tracks in MOTChallenge format, one line per segment per frame:
  frame,id,bb_left,bb_top,bb_width,bb_height,conf,class,visibility: frame counted from 1, id the track id,
  the box in the source video's pixels (left/top 0-based; fractional when the maps were scaled up), conf the
  detection score (-1 for a new instance, which has no score), class the class id, visibility -1.`;

export interface SourceFrame {
  readonly rgb: Uint8Array;
  readonly width: number;
  readonly height: number;
}

export class ResultRenderer {
  readonly #summary = new SummaryBuilder();
  readonly #progress: Progress;
  readonly #colors;
  #overlay: OverlayVideoSink | undefined;
  #framesDir: FramesDirSink | undefined;
  #ndjson: NdjsonSink | undefined;
  #tracks: MotSink | undefined;
  readonly #framesEvery: number;
  #done = 0;

  constructor(
    private readonly flags: OutputFlags,
    info: ModelInfo,
    private readonly frameRate: number,
    label: string,
  ) {
    this.#colors = labelColors(info);
    this.#progress = new Progress(label, process.stderr, flags.quiet === true);
    this.#framesEvery = Math.max(1, Number(flags['frames-every'] ?? 1) || 1);
  }

  /** Whether results need their source frames (to draw overlays). */
  get needsSourceFrames(): boolean {
    return this.flags.overlay !== undefined || this.flags['frames-dir'] !== undefined;
  }

  /** Whether the server should send the COCO-panoptic PNG. */
  get needsPanoptic(): boolean {
    return this.flags['frames-dir'] !== undefined;
  }

  async open(): Promise<void> {
    if (this.flags['frames-dir'] !== undefined) {
      this.#framesDir = new FramesDirSink(this.flags['frames-dir']);
      await this.#framesDir.open();
    }
    if (this.flags.json !== undefined) this.#ndjson = new NdjsonSink(this.flags.json);
    if (this.flags.tracks !== undefined) this.#tracks = new MotSink(this.flags.tracks);
  }

  async add(
    segmented: SegmentationResult,
    source: SourceFrame | undefined,
    latencyMs: number | undefined,
    total: number,
  ): Promise<void> {
    const { result } = segmented;
    this.#summary.add(result, latencyMs);
    await this.#ndjson?.write(result);
    await this.#tracks?.write(result);
    if (source !== undefined && segmented.semantic !== undefined) {
      const overlay = renderOverlay({
        rgb: source.rgb,
        width: source.width,
        height: source.height,
        semantic: segmented.semantic,
        instance: segmented.instance,
        mapWidth: result.width,
        mapHeight: result.height,
        colors: this.#colors,
        tracked: result.tracked,
      });
      if (this.flags.overlay !== undefined) {
        this.#overlay ??= new OverlayVideoSink(this.flags.overlay, source.width, source.height, this.frameRate);
        await this.#overlay.write(overlay);
      }
      if (this.#framesDir !== undefined && result.index % this.#framesEvery === 0) {
        await this.#framesDir.write(segmented, overlay, source.width, source.height);
      }
    }
    this.#done++;
    this.#progress.update(this.#done, total);
  }

  /** After a failure: ends the files written so far (and the overlay encoder) without a summary; never throws. */
  async abandon(): Promise<void> {
    this.#progress.finish();
    await Promise.allSettled([this.#ndjson?.close(), this.#tracks?.close(), this.#overlay?.close()]);
  }

  async close(): Promise<RunSummary> {
    this.#progress.finish();
    await this.#ndjson?.close();
    await this.#tracks?.close();
    await this.#overlay?.close();
    const summary = this.#summary.build();
    if (this.flags.summary === true) console.log(formatSummary(summary));
    return summary;
  }
}
