/**
 * The output side shared by `stream` and `process`: overlay video, frames folder, NDJSON, summary and
 * progress, fed with results in order together with the source frame each one answers.
 */
import type { ModelInfo } from '../../../proto/generated/fusionseg/v1/segmentation.pb.js';
import type { SegmentationResult } from '../client.js';
import { FramesDirSink, labelColors, NdjsonSink, OverlayVideoSink } from '../outputs.js';
import { renderOverlay } from '../overlay.js';
import { Progress } from '../progress.js';
import { formatSummary, SummaryBuilder, type RunSummary } from '../summary.js';

export interface OutputFlags {
  readonly overlay?: string | undefined;
  readonly 'frames-dir'?: string | undefined;
  readonly 'frames-every'?: string | undefined;
  readonly json?: string | undefined;
  readonly summary?: boolean | undefined;
  readonly quiet?: boolean | undefined;
}

export const outputOptions = {
  overlay: { type: 'string' },
  'frames-dir': { type: 'string' },
  'frames-every': { type: 'string' },
  json: { type: 'string' },
  summary: { type: 'boolean' },
  quiet: { type: 'boolean' },
} as const;

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
    await Promise.allSettled([this.#ndjson?.close(), this.#overlay?.close()]);
  }

  async close(): Promise<RunSummary> {
    this.#progress.finish();
    await this.#ndjson?.close();
    await this.#overlay?.close();
    const summary = this.#summary.build();
    if (this.flags.summary === true) console.log(formatSummary(summary));
    return summary;
  }
}
