/**
 * The track stage of a stream: its frames are fused in parallel workers and arrive here in any order, but
 * are tracked one at a time in frame order, each waiting only for the frames of its own stream before it.
 * Other streams never wait: every stream has its own stage and tracker.
 */
import { ServerError, Status } from '../errors.js';
import type { FrameTracks, FusedFrame } from '../fusion/finish-protocol.js';
import { Tracker, TrackIdsExhausted, type EndedTrack, type TrackingParameters } from '../track/tracker.js';

/** What tracking gave one frame: the ids for its encoding, and the tracks born and ended with it. */
export interface TrackedFrameInfo {
  readonly tracks: FrameTracks;
  readonly born: readonly number[];
  readonly ended: readonly EndedTrack[];
  readonly trackUs: number;
}

/** One frame's place in the stream's tracking order. Exactly one of `track` or `skip` is called. */
export interface TrackTurn {
  /** Waits for the frames before this one, then tracks this one. */
  track(index: number, fused: FusedFrame): Promise<TrackedFrameInfo>;
  /** Gives the turn up (a dropped or failed frame): the frames after it need not wait for it. */
  skip(): void;
}

export class TrackStage {
  readonly #tracker: Tracker;
  /** Settles when the last frame that took a turn has been tracked or skipped. */
  #tail: Promise<void> = Promise.resolve();

  constructor(width: number, height: number, parameters: TrackingParameters) {
    this.#tracker = new Tracker(width, height, parameters);
  }

  /** Takes the next turn; call in frame order (as frames are pulled from the source). */
  turn(): TrackTurn {
    const previous = this.#tail;
    let release!: () => void;
    this.#tail = new Promise<void>((resolve) => (release = resolve));
    let used = false;
    const use = () => {
      if (used) throw new Error('a track turn is used once');
      used = true;
    };
    return {
      track: async (index, fused) => {
        use();
        try {
          await previous;
          const started = performance.now();
          const tracked = this.#track(index, fused);
          return { ...tracked, trackUs: Math.round((performance.now() - started) * 1000) };
        } finally {
          release();
        }
      },
      skip: () => {
        if (used) return;
        used = true;
        void previous.then(release);
      },
    };
  }

  #track(index: number, fused: FusedFrame): Omit<TrackedFrameInfo, 'trackUs'> {
    let tracked;
    try {
      tracked = this.#tracker.update(index, fused.instance, fused.segments);
    } catch (error: unknown) {
      if (error instanceof TrackIdsExhausted) {
        throw new ServerError(
          Status.OUT_OF_RANGE,
          'this stream numbered as many tracks as track ids allow (16776959); reopen it to go on',
        );
      }
      throw error;
    }
    const { trackOf, firstIndexOf, born, ended } = tracked;
    return { tracks: { trackOf, firstIndexOf }, born, ended };
  }
}
