/**
 * Faults injected into session workers from the tests, without hooks in the server: an engine started with
 * `sessionWorkerEntry: CRASHING_SESSION_WORKER` runs the real session worker behind a wrapper that makes the
 * worker thread exit, as a native fault in ONNX Runtime would, when a batch holds a frame marked with
 * `markCrash`.
 */
export const CRASHING_SESSION_WORKER = new URL('./crashing-session-worker.ts', import.meta.url);

/** The exit code of a worker that crashed on a marked frame. */
export const CRASH_EXIT_CODE = 70;

/** The bytes a marked frame starts with; an RGB frame from a decoder does not start with this text. */
const CRASH_MARKER = new TextEncoder().encode('fusionseg test: crash this worker');

/** Marks `frame` (at least as long as the marker) so that the crashing worker dies on it; returns it. */
export function markCrash(frame: Uint8Array): Uint8Array {
  if (frame.length < CRASH_MARKER.length) throw new RangeError('the frame is shorter than the crash marker');
  frame.set(CRASH_MARKER);
  return frame;
}

export function isMarkedCrash(frame: Uint8Array): boolean {
  return frame.length >= CRASH_MARKER.length && CRASH_MARKER.every((byte, i) => frame[i] === byte);
}
