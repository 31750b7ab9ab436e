/**
 * Load through ProcessVideo: N concurrent clients, each uploading the video again and again, for a fixed
 * time (calls still running at the end are cancelled: a video can be longer than the measurement) or, when
 * `frames` is set, one call per client of frames / N frames (max_frames). Only results after the first
 * third count (steady state: uploads, probes and ffmpeg start-ups overlap).
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { FusionsegClient } from '../../clients/src/client.js';
import { LoadSample, MeasurementWindow } from './sample.js';

export interface VideoLoad {
  readonly streams: number;
  readonly seconds: number;
  readonly frames?: number;
  readonly fusion: boolean;
}

export async function driveVideos(client: FusionsegClient, video: string, load: VideoLoad): Promise<LoadSample> {
  const sample = new LoadSample();
  const { size } = await stat(video);
  const measured = new MeasurementWindow(load);
  const { byFrames, deadline } = measured;

  async function oneCall(maxFrames: number | undefined): Promise<void> {
    const callStarted = performance.now();
    let first = true;
    const upload = createReadStream(video, { highWaterMark: 256 * 1024 }) as AsyncIterable<Uint8Array>;
    const signal = byFrames ? undefined : AbortSignal.timeout(Math.max(1, Math.round(deadline - callStarted)));
    const results = client.processVideo(
      { upload, sizeBytes: size },
      {
        decodeMaps: false,
        fusion: { disabled: !load.fusion },
        ...(signal ? { signal } : {}),
        ...(maxFrames ? { maxFrames } : {}),
      },
    );
    try {
      for await (const { result } of results) {
        const now = performance.now();
        if (first) sample.firstResults.push(now - callStarted);
        first = false;
        if (measured.counts(now)) sample.add(result);
      }
    } catch (error: unknown) {
      if (!signal?.aborted) throw error;
    }
  }

  async function oneClient(): Promise<void> {
    if (load.frames !== undefined) return oneCall(Math.ceil(load.frames / load.streams));
    while (performance.now() < deadline) await oneCall(undefined);
  }

  await Promise.all(Array.from({ length: load.streams }, oneClient));
  // Timed: cancelled at the deadline, so the window ends there.
  sample.elapsedMs = byFrames ? measured.elapsedMs() : measured.elapsedMs(Math.min(performance.now(), deadline));
  return sample;
}
