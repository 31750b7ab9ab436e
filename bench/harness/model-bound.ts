/**
 * The model alone: the same engine (sessions + batcher) the service uses, fed frames directly, with no gRPC,
 * decoding, fusion or encoding. Enough frames stay in flight to fill every session's batches.
 */
import type { Engine } from '../../server/src/engine/engine.js';
import type { FrameSet } from './frame-source.js';

export async function measureModelAlone(engine: Engine, source: FrameSet, seconds: number): Promise<number> {
  const inFlight = 2 * engine.batching.maxBatch * engine.devices.length;
  const started = performance.now();
  const deadline = started + seconds * 1000;
  let done = 0;
  let next = 0;
  const feeder = async () => {
    while (performance.now() < deadline) {
      // The engine takes ownership of (transfers) the buffer: give it a copy.
      await engine.infer(source.frames[next++ % source.frames.length]!.slice());
      done++;
    }
  };
  await Promise.all(Array.from({ length: inFlight }, feeder));
  return (done * 1000) / (performance.now() - started);
}
