/**
 * Load through StreamFrames: N concurrent streams, each keeping `inFlight` raw frames outstanding (the next
 * frame leaves when a result arrives), for a fixed time. Only results after the first third of the time
 * count (steady state, not the ramp-up).
 */
import type { FusionsegClient } from '../../clients/src/client.js';
import type { FrameSet } from './frame-source.js';
import { LoadSample } from './sample.js';

export interface StreamLoad {
  readonly streams: number;
  readonly inFlight: number;
  readonly seconds: number;
  readonly fusion: boolean;
}

export async function driveStreams(client: FusionsegClient, source: FrameSet, load: StreamLoad): Promise<LoadSample> {
  const sample = new LoadSample();
  const started = performance.now();
  const deadline = started + load.seconds * 1000;
  const measureFrom = started + (load.seconds * 1000) / 3;
  let lastResult = measureFrom;

  async function oneStream(offset: number): Promise<void> {
    const sentAt = new Map<number, number>();
    let outstanding = 0;
    let wake: (() => void) | undefined;
    async function* frames() {
      for (let i = 0; performance.now() < deadline; i++) {
        while (outstanding >= load.inFlight) await new Promise<void>((resolve) => (wake = resolve));
        if (performance.now() >= deadline) return;
        outstanding++;
        sentAt.set(i, performance.now());
        const rgb24 = source.frames[(offset + i) % source.frames.length]!;
        yield { frameId: i, raw: { width: source.width, height: source.height, rgb24 } };
      }
    }
    const results = client.streamFrames(frames(), { decodeMaps: false, fusion: { disabled: !load.fusion } });
    for await (const { result } of results) {
      const now = performance.now();
      if (now >= measureFrom) {
        sample.add(result, now - sentAt.get(result.frameId)!);
        lastResult = now;
      }
      sentAt.delete(result.frameId);
      outstanding--;
      wake?.();
      wake = undefined;
    }
  }

  await Promise.all(Array.from({ length: load.streams }, (_, i) => oneStream(i * 7)));
  sample.elapsedMs = lastResult - measureFrom;
  return sample;
}
