/**
 * The service's Prometheus metrics (prom-client), one registry per service: frames in, out and failed (by
 * reason), streams, queue depth, batch sizes, per-stage durations, per-session busy time, ffmpeg processes
 * alive, and the model as labels of an info metric. Served on `/metrics` by metrics-server.ts.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { StageTimings } from '../../../proto/generated/fusionseg/v1/segmentation.pb.js';
import type { Engine } from '../engine/engine.js';
import { STAGES } from '../../../wire/src/stages.js';
import { aliveChildProcesses } from '../video/child-process.js';

/** Why frames or streams failed: the label values of `fusionseg_frames_failed_total`. */
export const FAILURE_REASONS = [
  'invalid_input',
  'overloaded',
  'cancelled',
  'deadline',
  'unavailable',
  'internal',
] as const;
export type FailureReason = (typeof FAILURE_REASONS)[number];

export type CallName = 'StreamFrames' | 'ProcessVideo';

// From 1 ms to 30 s: fusion and encoding live in the low buckets, inference and queueing in the high ones.
const SECONDS_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export class ServiceMetrics {
  readonly registry = new Registry();
  readonly #framesIn: Counter<'call'>;
  readonly #framesOut: Counter<'call'>;
  readonly #framesFailed: Counter<'call' | 'reason'>;
  readonly #framesDropped: Counter<'call'>;
  readonly #tracksBorn: Counter<'call'>;
  readonly #tracksEnded: Counter<'call'>;
  readonly #streamsRefused: Counter<'call' | 'reason'>;
  readonly #streams: Counter<'call' | 'outcome'>;
  readonly #stageSeconds: Histogram<'stage'>;
  readonly #batchSize: Histogram<'session' | 'device'>;

  constructor(engine: Engine, activeStreams: () => number) {
    const registry = this.registry;
    collectDefaultMetrics({ register: registry, prefix: 'fusionseg_' });
    this.#framesIn = new Counter({
      name: 'fusionseg_frames_received_total',
      help: 'Frames that entered a stream pipeline (before decoding).',
      labelNames: ['call'],
      registers: [registry],
    });
    this.#framesOut = new Counter({
      name: 'fusionseg_frames_segmented_total',
      help: 'Frames answered with a result.',
      labelNames: ['call'],
      registers: [registry],
    });
    this.#framesFailed = new Counter({
      name: 'fusionseg_frames_failed_total',
      help: 'Frames that entered a stream and got no result, by why the stream ended.',
      labelNames: ['call', 'reason'],
      registers: [registry],
    });
    this.#tracksBorn = new Counter({
      name: 'fusionseg_tracks_born_total',
      help: 'Tracks begun in tracked streams (objects first seen).',
      labelNames: ['call'],
      registers: [registry],
    });
    this.#tracksEnded = new Counter({
      name: 'fusionseg_tracks_ended_total',
      help: 'Tracks ended in tracked streams (lost for more than max_age frames).',
      labelNames: ['call'],
      registers: [registry],
    });
    this.#framesDropped = new Counter({
      name: 'fusionseg_frames_dropped_total',
      help: 'Frames of live streams (overload DROP_OLDEST) answered as dropped, without segmentation.',
      labelNames: ['call'],
      registers: [registry],
    });
    this.#streamsRefused = new Counter({
      name: 'fusionseg_streams_refused_total',
      help: 'Calls refused at admission, before any frame: overloaded (stream cap) or unavailable (draining).',
      labelNames: ['call', 'reason'],
      registers: [registry],
    });
    this.#streams = new Counter({
      name: 'fusionseg_streams_total',
      help: 'Streams (calls) that ended, by outcome: ok or a failure reason.',
      labelNames: ['call', 'outcome'],
      registers: [registry],
    });
    new Gauge({
      name: 'fusionseg_streams_open',
      help: 'Streams running now.',
      registers: [registry],
      collect() {
        this.set(activeStreams());
      },
    });
    new Gauge({
      name: 'fusionseg_queue_depth',
      help: 'Frames waiting for an inference session.',
      registers: [registry],
      collect() {
        this.set(engine.queued);
      },
    });
    this.#batchSize = new Histogram({
      name: 'fusionseg_batch_size',
      help: 'Frames per inference batch, by session.',
      labelNames: ['session', 'device'],
      buckets: [1, 2, 3, 4, 6, 8, 12, 16, 32],
      registers: [registry],
    });
    this.#stageSeconds = new Histogram({
      name: 'fusionseg_stage_duration_seconds',
      help: "Time of a frame in each stage (total: from its arrival to its result's hand-off).",
      labelNames: ['stage'],
      buckets: SECONDS_BUCKETS,
      registers: [registry],
    });
    new Counter({
      name: 'fusionseg_session_busy_seconds_total',
      help: 'Time each inference session spent running batches.',
      labelNames: ['session', 'device'],
      registers: [registry],
      collect() {
        this.reset(); // the sessions keep the running totals
        engine.sessionStats.forEach((stats, i) =>
          this.inc({ session: String(i), device: stats.device }, stats.busyMs / 1000),
        );
      },
    });
    new Gauge({
      name: 'fusionseg_ffmpeg_processes',
      help: 'ffmpeg and ffprobe processes alive.',
      registers: [registry],
      collect() {
        this.set(aliveChildProcesses());
      },
    });
    const model = engine.model;
    new Gauge({
      name: 'fusionseg_model_info',
      help: 'The model served (always 1; the model is in the labels).',
      labelNames: ['model', 'kind', 'input', 'label_space', 'devices', 'max_batch'],
      registers: [registry],
    }).set(
      {
        model: model.name,
        kind: model.kind,
        input: `${model.input.width}x${model.input.height}`,
        label_space: model.labelSpace.definition.name,
        devices: engine.devices.map((d) => d.name).join(','),
        max_batch: String(engine.maxBatch),
      },
      1,
    );
    engine.onBatch((size, session, device) => this.#batchSize.observe({ session: String(session), device }, size));
  }

  frameIn(call: CallName): void {
    this.#framesIn.inc({ call });
  }

  /** A frame answered: segmented, or (`dropped`) answered as dropped by a live stream. */
  frameOut(
    call: CallName,
    timings: StageTimings | undefined,
    dropped = false,
    tracks: { readonly born: number; readonly ended: number } = { born: 0, ended: 0 },
  ): void {
    if (dropped) {
      this.#framesDropped.inc({ call });
      return;
    }
    this.#framesOut.inc({ call });
    if (tracks.born > 0) this.#tracksBorn.inc({ call }, tracks.born);
    if (tracks.ended > 0) this.#tracksEnded.inc({ call }, tracks.ended);
    if (timings === undefined) return;
    const us = {
      decode: timings.decodeUs,
      queue: timings.queueUs,
      inference: timings.inferenceUs,
      fusion: timings.fusionUs,
      track: timings.trackUs,
      encode: timings.encodeUs,
      total: timings.totalUs,
    };
    for (const stage of STAGES) this.#stageSeconds.observe({ stage }, us[stage] / 1e6);
  }

  streamRefused(call: CallName, reason: FailureReason): void {
    this.#streamsRefused.inc({ call, reason });
  }

  streamEnded(call: CallName, outcome: 'ok' | FailureReason, framesLost: number): void {
    this.#streams.inc({ call, outcome });
    if (outcome !== 'ok' && framesLost > 0) this.#framesFailed.inc({ call, reason: outcome }, framesLost);
  }
}
