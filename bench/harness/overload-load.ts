/**
 * Overload: N eager StreamFrames clients that together offer more frames than the model can take (a multiple
 * of the model alone's frames/s), each sending on its schedule whenever its window of frames in flight
 * allows. The server must slow them down, not kill them: every stream ends OK with every frame answered,
 * the streams share the model fairly, and the model stays busy.
 *
 * Measured after the fact from each result's arrival time: the window runs from a third of the way in to
 * the moment the first stream got its last result (until then every stream competes).
 */
import type { FusionsegClient } from '../../clients/src/client.js';
import type { FrameSet } from './frame-source.js';

export interface OverloadLoad {
  readonly streams: number;
  /** Frames per second offered across all streams. */
  readonly offeredFps: number;
  /** Frames each stream sends. */
  readonly framesPerStream: number;
  /** Frames each stream keeps in flight at most. */
  readonly inFlight: number;
}

export interface OverloadFigures {
  readonly streams: number;
  readonly offeredFps: number;
  readonly framesPerStream: number;
  /** Frames/s of all streams together in the measured window. */
  readonly totalFps: number;
  /** Frames/s of each stream in the measured window. */
  readonly perStreamFps: readonly number[];
  /** Largest relative distance of a stream's frames/s from the mean (0.2 = ±20%). */
  readonly spread: number;
  /** Streams that ended with an error. */
  readonly killed: number;
  readonly sent: number;
  readonly answered: number;
  readonly windowMs: number;
}

export async function driveOverload(
  client: FusionsegClient,
  source: FrameSet,
  load: OverloadLoad,
): Promise<OverloadFigures> {
  const started = performance.now();
  const perStreamRate = load.offeredFps / load.streams;
  const arrivals: number[][] = [];
  let killed = 0;
  let sent = 0;

  async function oneStream(stream: number): Promise<void> {
    const times: number[] = (arrivals[stream] = []);
    let outstanding = 0;
    let wake: (() => void) | undefined;
    async function* frames() {
      for (let i = 0; i < load.framesPerStream; i++) {
        const due = started + (i * 1000) / perStreamRate + (stream * 1000) / load.offeredFps;
        const wait = due - performance.now();
        if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
        while (outstanding >= load.inFlight) await new Promise<void>((resolve) => (wake = resolve));
        outstanding++;
        sent++;
        const rgb24 = source.frames[(stream * 7 + i) % source.frames.length]!;
        yield { frameId: i, raw: { width: source.width, height: source.height, rgb24 } };
      }
    }
    try {
      const results = client.streamFrames(frames(), { decodeMaps: false });
      for await (const { result } of results) {
        times[result.index] = performance.now();
        outstanding--;
        wake?.();
        wake = undefined;
      }
    } catch {
      killed++;
    }
  }

  await Promise.all(Array.from({ length: load.streams }, (_, stream) => oneStream(stream)));
  const end = Math.min(...arrivals.map((times) => times.at(-1) ?? started));
  const from = started + (end - started) / 3;
  const windowMs = Math.max(1, end - from);
  const perStreamFps = arrivals.map((times) => (times.filter((at) => at > from && at <= end).length * 1000) / windowMs);
  const totalFps = perStreamFps.reduce((a, b) => a + b, 0);
  const mean = totalFps / load.streams;
  const spread = mean > 0 ? Math.max(...perStreamFps.map((fps) => Math.abs(fps - mean) / mean)) : 1;
  return {
    streams: load.streams,
    offeredFps: load.offeredFps,
    framesPerStream: load.framesPerStream,
    totalFps,
    perStreamFps,
    spread,
    killed,
    sent,
    answered: arrivals.reduce((sum, times) => sum + times.length, 0),
    windowMs,
  };
}
