/**
 * Load through StreamFrames: N concurrent streams, each keeping `inFlight` raw frames outstanding (the next
 * frame leaves when a result arrives), for a fixed time or a fixed number of frames. Only results after the
 * first third (of the time, or of the frames) count: the steady state, not the ramp-up.
 */
import type { FusionsegClient } from '../../clients/src/client.js';
import type { FrameSet } from './frame-source.js';
import { LoadSample, MeasurementWindow } from './sample.js';

export interface StreamLoad {
  readonly streams: number;
  readonly inFlight: number;
  /** Length of the measurement: seconds, or (when `frames` is set) frames sent across all streams. */
  readonly seconds: number;
  readonly frames?: number;
  readonly fusion: boolean;
  /** Track each stream's frames (they are consecutive frames of a video). Default off, as for frame streams. */
  readonly tracking?: boolean;
}

export async function driveStreams(client: FusionsegClient, source: FrameSet, load: StreamLoad): Promise<LoadSample> {
  const sample = new LoadSample();
  const measured = new MeasurementWindow(load);
  let sent = 0;
  const more = () => (load.frames !== undefined ? sent < load.frames : performance.now() < measured.deadline);

  async function oneStream(offset: number): Promise<void> {
    const sentAt = new Map<number, number>();
    let outstanding = 0;
    let wake: (() => void) | undefined;
    async function* frames() {
      for (let i = 0; more(); i++) {
        while (outstanding >= load.inFlight) await new Promise<void>((resolve) => (wake = resolve));
        if (!more()) return;
        outstanding++;
        sent++;
        sentAt.set(i, performance.now());
        const rgb24 = source.frames[(offset + i) % source.frames.length]!;
        yield { frameId: i, raw: { width: source.width, height: source.height, rgb24 } };
      }
    }
    const results = client.streamFrames(frames(), {
      decodeMaps: false,
      fusion: { disabled: !load.fusion },
      tracking: { enabled: load.tracking ?? false },
    });
    for await (const { result } of results) {
      const now = performance.now();
      sample.answered++;
      if (measured.counts(now)) sample.add(result, now - sentAt.get(result.frameId)!);
      sentAt.delete(result.frameId);
      outstanding--;
      wake?.();
      wake = undefined;
    }
  }

  await Promise.all(Array.from({ length: load.streams }, (_, i) => oneStream(i * 7)));
  sample.elapsedMs = measured.elapsedMs();
  return sample;
}
