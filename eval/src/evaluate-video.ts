/**
 * Video evaluation: every sequence of a split streamed through the service frame by frame (one StreamFrames
 * call per sequence, as a camera would send it), scored with STQ (AQ, SQ), VPQ (k = 0, 5, 10, 15) and id
 * switches. The rows compare ways of numbering the same fused instances across frames:
 *
 * - per-frame ids: 1..n in each frame, as fusion numbers a frame's instances (what clients got before tracking);
 * - box IoU: the tracker associating by box overlap;
 * - mask overlap: the tracker as the server runs it (association by mask overlap), run here on the per-frame
 *   ids and checked against the server's own tracked output of the same frames, frame by frame;
 * - oracle: the ground-truth panoptic maps, renumbered per frame, fed through the same tracker: it must find
 *   the ground truth's tracks again (AQ near 100), a sanity check of the tracker and the metrics.
 */
import { readFile } from 'node:fs/promises';
import type { FusionsegClient, SegmentationResult } from '../../clients/src/client.js';
import { Progress } from '../../clients/src/progress.js';
import { MapEncoding, type FusionOptions } from '../../proto/generated/fusionseg/v1/segmentation.pb.js';
import { withTrackIds } from '../../server/src/fusion/finish-frame.js';
import { Tracker, type TrackInput, type TrackingParameters } from '../../server/src/track/tracker.js';
import type { EvalLabels } from './labels.js';
import { IdSwitches } from './metrics/id-switches.js';
import { SegmentationTrackingQuality } from './metrics/stq.js';
import type { VideoPanopticFrame } from './metrics/video-frame.js';
import { VideoPanopticQuality } from './metrics/vpq.js';
import { listSequences, readSequenceFrame, type VideoSequence } from './video-dataset.js';

export const VARIANTS = ['per-frame', 'box', 'mask', 'oracle'] as const;
export type Variant = (typeof VARIANTS)[number];

export const VARIANT_NAMES: Record<Variant, string> = {
  'per-frame': 'per-frame ids (no tracking)',
  box: 'box-IoU tracking',
  mask: 'mask-overlap tracking (ours)',
  oracle: 'ground truth through the tracker (oracle)',
};

/** STQ, AQ, SQ and VPQ as fractions (0..1); id switches per 100 ground-truth tracks. */
export interface VideoFigures {
  readonly stq: number;
  readonly aq: number;
  readonly sq: number;
  readonly vpq: number;
  /** VPQ per window length k (frames in a window: k + 1). */
  readonly vpqByK: readonly { readonly k: number; readonly vpq: number }[];
  readonly idSwitches: number;
  readonly idSwitchesPer100: number;
}

export interface VideoEvalOptions {
  readonly fusion: Partial<FusionOptions>;
  /** The tracking parameters of the comparison rows (and of the server's tracked pass). */
  readonly tracking: TrackingSettings;
  /** More parameters to score the mask-overlap tracker with, on the same fused frames (the defaults sweep). */
  readonly sweep?: readonly TrackingSettings[];
  readonly quiet?: boolean;
  readonly limitSequences?: number;
}

export type TrackingSettings = Omit<TrackingParameters, 'association'>;

export interface VideoEvalReport {
  readonly sequences: number;
  readonly frames: number;
  readonly groundTruthTracks: number;
  readonly seconds: number;
  readonly rows: readonly { readonly variant: Variant; readonly figures: VideoFigures }[];
  /** The mask-overlap tracker with each of `sweep`'s parameters. */
  readonly sweep: readonly { readonly tracking: TrackingSettings; readonly figures: VideoFigures }[];
  /** Frames where the server's tracked output equals the tracker run here on the same frames' per-frame ids. */
  readonly serverAgreement: { readonly frames: number; readonly agreeing: number };
}

class VariantScore {
  readonly stq: SegmentationTrackingQuality;
  readonly vpq: VideoPanopticQuality;
  readonly switches: IdSwitches;
  constructor(labels: EvalLabels) {
    this.stq = new SegmentationTrackingQuality(labels.classCount, labels.isThing);
    this.vpq = new VideoPanopticQuality(labels.classCount, labels.isThing);
    this.switches = new IdSwitches(labels.isThing);
  }
  begin(): void {
    this.stq.beginSequence();
    this.vpq.beginSequence();
    this.switches.beginSequence();
  }
  add(truth: VideoPanopticFrame, prediction: VideoPanopticFrame): void {
    this.stq.addFrame(truth, prediction);
    this.vpq.addFrame(truth, prediction);
    this.switches.addFrame(truth, prediction);
  }
  end(): void {
    this.stq.endSequence();
    this.vpq.endSequence();
    this.switches.endSequence();
  }
  figures(): VideoFigures {
    const stq = this.stq.result();
    const vpq = this.vpq.result();
    const switches = this.switches.result();
    return {
      stq: stq.stq,
      aq: stq.aq,
      sq: stq.sq,
      vpq: vpq.vpq,
      vpqByK: vpq.perK.map(({ k, pq }) => ({ k, vpq: pq })),
      idSwitches: switches.switches,
      idSwitchesPer100: switches.per100,
    };
  }
}

/** A way of numbering a sequence's instances, scored as the frames go by. */
class Numbering {
  readonly score: VariantScore;
  #tracker: Tracker | undefined;
  readonly #tracking: TrackingParameters | undefined;
  constructor(labels: EvalLabels, tracking: TrackingParameters | undefined) {
    this.score = new VariantScore(labels);
    // The threshold as the server gets it: a float32 on the wire (0.3 arrives as 0.30000001...).
    this.#tracking = tracking && { ...tracking, iouThreshold: Math.fround(tracking.iouThreshold) };
  }
  begin(): void {
    this.score.begin();
    this.#tracker = undefined;
  }
  /** Scores one frame numbered by the tracker (or as it is, without one); returns the numbered map. */
  add(
    index: number,
    truth: VideoPanopticFrame,
    semantic: Uint8Array,
    instance: Uint16Array | Uint32Array,
    inputs: readonly TrackInput[],
  ): Uint32Array {
    let tracks: Uint32Array;
    if (this.#tracking === undefined) tracks = Uint32Array.from(instance);
    else {
      this.#tracker ??= new Tracker(truth.width, truth.height, this.#tracking);
      tracks = withTrackIds(instance, this.#tracker.update(index, instance, inputs).trackOf);
    }
    this.score.add(truth, { width: truth.width, height: truth.height, semantic, tracks });
    return tracks;
  }
  end(): void {
    this.score.end();
  }
}

/** The tracker's input from a result's segments (in the pixels of the maps returned). */
function trackInputs(result: SegmentationResult['result']): TrackInput[] {
  return result.segments.map((segment) => ({
    id: segment.id,
    classId: segment.classId,
    score: segment.score,
    area: segment.area,
    box: [segment.box?.x0 ?? 0, segment.box?.y0 ?? 0, segment.box?.x1 ?? 0, segment.box?.y1 ?? 0],
  }));
}

/**
 * A tracked result numbered as an untracked one: its segments get ids 1..n in their order, and the map
 * follows. (Fusion numbers a frame's instances in that order, skipping ids it left without pixels.)
 */
function perFrameNumbering(
  tracks: Uint16Array | Uint32Array,
  result: SegmentationResult['result'],
): { instance: Uint16Array; inputs: TrackInput[] } {
  const rankOf = new Map<number, number>(result.segments.map((segment, i) => [segment.id, i + 1]));
  const instance = new Uint16Array(tracks.length);
  let last = 0;
  let lastRank = 0;
  for (let p = 0; p < tracks.length; p++) {
    const id = tracks[p]!;
    if (id === 0) continue;
    if (id !== last) {
      last = id;
      lastRank = rankOf.get(id) ?? 0;
    }
    instance[p] = lastRank;
  }
  const inputs = trackInputs(result).map((input, i) => ({ ...input, id: i + 1 }));
  return { instance, inputs };
}

/**
 * The ground truth of a frame as a tracker input: its instances renumbered 1..n in scan order (so no track
 * identity leaks in), with their class, area and box.
 */
export function groundTruthAsFrame(truth: VideoPanopticFrame): { instance: Uint32Array; segments: TrackInput[] } {
  const { width, tracks, semantic } = truth;
  const perFrame = new Map<number, number>();
  const instance = new Uint32Array(tracks.length);
  const stats: { classId: number; area: number; x0: number; y0: number; x1: number; y1: number }[] = [];
  for (let p = 0; p < tracks.length; p++) {
    const track = tracks[p]!;
    if (track === 0) continue;
    let id = perFrame.get(track);
    const x = p % width;
    const y = (p - x) / width;
    if (id === undefined) {
      id = perFrame.size + 1;
      perFrame.set(track, id);
      stats.push({ classId: semantic[p]!, area: 0, x0: x, y0: y, x1: x, y1: y });
    }
    instance[p] = id;
    const s = stats[id - 1]!;
    s.area++;
    if (x < s.x0) s.x0 = x;
    if (x > s.x1) s.x1 = x;
    s.y1 = y;
  }
  const segments = stats.map((s, i) => ({
    id: i + 1,
    classId: s.classId,
    score: 1,
    area: s.area,
    box: [s.x0, s.y0, s.x1, s.y1] as const,
  }));
  return { instance, segments };
}

/** One sequence's frames, streamed as PNG files in order. */
async function* sequenceFrames(sequence: VideoSequence) {
  for (const [index, frame] of sequence.frames.entries()) {
    yield { frameId: index, pts: index, png: await readFile(frame.imagePath) };
  }
}

export async function evaluateVideo(
  client: FusionsegClient,
  root: string,
  split: string,
  labels: EvalLabels,
  options: VideoEvalOptions,
): Promise<VideoEvalReport> {
  const started = performance.now();
  let sequences = await listSequences(root, split);
  if (options.limitSequences !== undefined) sequences = sequences.slice(0, options.limitSequences);
  const rows: Record<Variant, Numbering> = {
    'per-frame': new Numbering(labels, undefined),
    box: new Numbering(labels, { ...options.tracking, association: 'box' }),
    mask: new Numbering(labels, { ...options.tracking, association: 'mask' }),
    oracle: new Numbering(labels, { ...options.tracking, association: 'mask' }),
  };
  const sweep = (options.sweep ?? []).map((tracking) => ({
    tracking,
    numbering: new Numbering(labels, { ...tracking, association: 'mask' }),
  }));
  const numberings = [...Object.values(rows), ...sweep.map(({ numbering }) => numbering)];
  const totalFrames = sequences.reduce((sum, s) => sum + s.frames.length, 0);
  const progress = new Progress('video', process.stderr, options.quiet);
  const groundTruthTracks = new Set<string>();
  let done = 0;
  let agreeing = 0;
  const output = {
    semanticMap: MapEncoding.MAP_ENCODING_RAW,
    instanceMap: MapEncoding.MAP_ENCODING_RAW,
    segments: true,
    sourceResolution: true,
  };
  for (const sequence of sequences) {
    for (const numbering of numberings) numbering.begin();
    // One pass, tracked by the server: its per-frame numbering is recovered from each result's segments
    // (1..n in their order, the order fusion numbers them in), so every row scores the very same fused frames.
    const results = client.streamFrames(sequenceFrames(sequence), {
      output,
      fusion: options.fusion,
      tracking: { enabled: true, iouThreshold: options.tracking.iouThreshold, maxAge: options.tracking.maxAge },
    });
    let index = 0;
    for await (const { result, semantic, instance: serverTracks } of results) {
      const frame = sequence.frames[index];
      if (frame === undefined) throw new Error(`${sequence.name}: the service answered more frames than were sent`);
      const truth = await readSequenceFrame(frame, labels.trainIdOf);
      if (
        semantic === undefined ||
        serverTracks === undefined ||
        !result.tracked ||
        result.width !== truth.width ||
        result.height !== truth.height
      ) {
        throw new Error(
          `${sequence.name} frame ${index}: the result is ${result.width}x${result.height}` +
            `${result.tracked ? '' : ' and untracked'}, the ground truth ${truth.width}x${truth.height}`,
        );
      }
      for (const track of new Set(truth.tracks)) if (track !== 0) groundTruthTracks.add(`${sequence.name}/${track}`);
      const { instance, inputs } = perFrameNumbering(serverTracks, result);
      rows['per-frame'].add(index, truth, semantic, instance, inputs);
      rows.box.add(index, truth, semantic, instance, inputs);
      const mine = rows.mask.add(index, truth, semantic, instance, inputs);
      for (const { numbering } of sweep) numbering.add(index, truth, semantic, instance, inputs);
      if (mine.every((id, p) => id === serverTracks[p])) agreeing++;
      const gt = groundTruthAsFrame(truth);
      rows.oracle.add(index, truth, truth.semantic, gt.instance, gt.segments);
      progress.update(++done, totalFrames);
      index++;
    }
    if (index !== sequence.frames.length) {
      throw new Error(`${sequence.name}: the service answered ${index} of ${sequence.frames.length} frames`);
    }
    for (const numbering of numberings) numbering.end();
  }
  progress.finish();
  return {
    sequences: sequences.length,
    frames: done,
    groundTruthTracks: groundTruthTracks.size,
    seconds: (performance.now() - started) / 1000,
    rows: VARIANTS.map((variant) => ({ variant, figures: rows[variant].score.figures() })),
    sweep: sweep.map(({ tracking, numbering }) => ({ tracking, figures: numbering.score.figures() })),
    serverAgreement: { frames: done, agreeing },
  };
}

/** Figures are fractions; tables show percent. */
const pc = (value: number) => (Number.isFinite(value) ? (100 * value).toFixed(1) : '-');
const f1 = (value: number) => (Number.isFinite(value) ? value.toFixed(1) : '-');

/** The comparison table (markdown). */
export function videoTable(report: VideoEvalReport): string[] {
  const ks = report.rows[0]?.figures.vpqByK.map(({ k }) => k) ?? [];
  const lines = [
    `| numbering | STQ | AQ | SQ | VPQ | ${ks.map((k) => `VPQ k=${k}`).join(' | ')} | id switches / 100 objects |`,
    `| --- | --- | --- | --- | --- | ${ks.map(() => '---').join(' | ')} | --- |`,
  ];
  for (const { variant, figures } of report.rows) {
    lines.push(
      `| ${VARIANT_NAMES[variant]} | ${pc(figures.stq)} | ${pc(figures.aq)} | ${pc(figures.sq)} | ${pc(figures.vpq)} | ` +
        `${figures.vpqByK.map(({ vpq }) => pc(vpq)).join(' | ')} | ${f1(figures.idSwitchesPer100)} |`,
    );
  }
  return lines;
}
