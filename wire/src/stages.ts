/** The server-side stages of a frame that `FrameResult.timings` reports, for the server's metrics and the clients' summaries. */
import type { StageTimings } from '../../proto/generated/fusionseg/v1/segmentation.pb.js';

/** decode, queue, inference, fusion, track, encode, and total (the frame's whole time on the server). */
export const STAGES = ['decode', 'queue', 'inference', 'fusion', 'track', 'encode', 'total'] as const;
export type Stage = (typeof STAGES)[number];

/** Zero for every stage: the start of a sum of stage times. */
export function zeroStages(): Record<Stage, number> {
  return Object.fromEntries(STAGES.map((stage) => [stage, 0])) as Record<Stage, number>;
}

/** A result's stage times in microseconds, keyed by stage name. */
export function stageUs(timings: StageTimings): Record<Stage, number> {
  return {
    decode: timings.decodeUs,
    queue: timings.queueUs,
    inference: timings.inferenceUs,
    fusion: timings.fusionUs,
    track: timings.trackUs,
    encode: timings.encodeUs,
    total: timings.totalUs,
  };
}

/** A result's stage times in milliseconds, keyed by stage name. */
export function stageMs(timings: StageTimings): Record<Stage, number> {
  const us = stageUs(timings);
  return Object.fromEntries(STAGES.map((stage) => [stage, us[stage] / 1000])) as Record<Stage, number>;
}
