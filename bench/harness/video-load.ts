/**
 * Load through ProcessVideo: N concurrent clients, each uploading the video again and again for a fixed time;
 * calls still running at the end are cancelled (a video can be longer than the measurement). Only results
 * after the first third of the time count (steady state: uploads, probes and ffmpeg start-ups overlap).
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { FusionsegClient } from '../../clients/src/client.js';
import { LoadSample } from './sample.js';

export interface VideoLoad {
  readonly streams: number;
  readonly seconds: number;
  readonly fusion: boolean;
}

export async function driveVideos(client: FusionsegClient, video: string, load: VideoLoad): Promise<LoadSample> {
  const sample = new LoadSample();
  const { size } = await stat(video);
  const started = performance.now();
  const deadline = started + load.seconds * 1000;
  const measureFrom = started + (load.seconds * 1000) / 3;

  async function oneClient(): Promise<void> {
    while (performance.now() < deadline) {
      const callStarted = performance.now();
      let first = true;
      const upload = createReadStream(video, { highWaterMark: 256 * 1024 }) as AsyncIterable<Uint8Array>;
      const signal = AbortSignal.timeout(Math.max(1, Math.round(deadline - callStarted)));
      const results = client.processVideo(
        { upload, sizeBytes: size },
        { decodeMaps: false, fusion: { disabled: !load.fusion }, signal },
      );
      try {
        for await (const { result } of results) {
          const now = performance.now();
          if (first) sample.firstResults.push(now - callStarted);
          first = false;
          if (now >= measureFrom) sample.add(result);
        }
      } catch (error: unknown) {
        if (!signal.aborted) throw error;
      }
    }
  }

  await Promise.all(Array.from({ length: load.streams }, oneClient));
  // Cancelled at the deadline: the window ends there.
  sample.elapsedMs = Math.min(performance.now(), deadline) - measureFrom;
  return sample;
}
