/**
 * Processes a stream's frames with up to `window` in flight and hands the results to `write` in input
 * order, each as soon as it and the ones before it are done: a client that waits for a frame's result
 * before it sends the next one (an interactive camera) gets it at once.
 *
 * Pulling and writing run side by side. The source is pulled only while the window has room, and `write`
 * is awaited (it waits for the transport to drain), so a slow reader stops the pulling: backpressure
 * reaches the source. A failed frame or write ends the run with its error at once; a failing source
 * first lets the frames before the failure reach the client.
 */
export interface OrderedOptions {
  /** Frames between being pulled and being written, at most. */
  readonly window: number;
  /**
   * For live sources that must not fall behind: the source is pulled even while the window is full (up to
   * `limit` frames held), and each frame pulled into a full window first calls `makeRoom`, which settles
   * one of the frames in flight early (drops it) or returns false, in which case the frame waits for room.
   */
  readonly overflow?: { readonly limit: number; readonly makeRoom: () => boolean } | undefined;
  /** Stops pulling (e.g. the server shuts down): the frames already pulled are still processed and written. */
  readonly stop?: AbortSignal | undefined;
}

export async function runOrdered<In, Out>(
  source: AsyncIterable<In>,
  options: OrderedOptions,
  process: (item: In) => Promise<Out>,
  write: (result: Out) => Promise<void>,
): Promise<void> {
  const { window, overflow, stop } = options;
  const inFlight: Promise<Out>[] = [];
  /** Frames whose processing has not settled (a dropped frame settles at once, long before it is written). */
  let unsettled = 0;
  let sourceDone = false;
  let sourceFailure: { readonly error: unknown } | undefined;
  let writerFailed = false;
  let wakeWriter: (() => void) | undefined;
  let wakePuller: (() => void) | undefined;
  const notifyWriter = () => {
    wakeWriter?.();
    wakeWriter = undefined;
  };
  const notifyPuller = () => {
    wakePuller?.();
    wakePuller = undefined;
  };
  const stopped = new Promise<'stopped'>((resolve) => {
    if (stop?.aborted) resolve('stopped');
    stop?.addEventListener('abort', () => resolve('stopped'), { once: true });
  });
  stop?.addEventListener('abort', notifyPuller, { once: true });
  const halted = () => writerFailed || stop?.aborted === true;
  const waitForPuller = () => new Promise<void>((resolve) => (wakePuller = resolve));

  const pulling = (async () => {
    const frames = source[Symbol.asyncIterator]();
    try {
      for (;;) {
        // Waiting mode: not even pulled while full, so the client is slowed by flow control.
        while (inFlight.length >= (overflow?.limit ?? window) && !halted()) await waitForPuller();
        if (halted()) return;
        const next = await Promise.race([frames.next(), stopped]);
        if (next === 'stopped' || next.done === true) return;
        while (overflow !== undefined && unsettled >= window && !halted() && !overflow.makeRoom()) {
          await waitForPuller();
        }
        if (halted()) return;
        unsettled++;
        const result = process(next.value);
        // Observed when its turn comes; never an unhandled rejection meanwhile.
        result.then(settled, settled);
        inFlight.push(result);
        notifyWriter();
      }
    } catch (error: unknown) {
      sourceFailure = { error };
    } finally {
      sourceDone = true;
      notifyWriter();
    }
  })();
  function settled() {
    unsettled--;
    notifyPuller();
  }

  try {
    for (;;) {
      const next = inFlight[0];
      if (next === undefined) {
        if (sourceDone) break;
        await new Promise<void>((resolve) => (wakeWriter = resolve));
        continue;
      }
      await write(await next);
      void inFlight.shift(); // the promise just written
      notifyPuller();
    }
  } catch (error: unknown) {
    // A puller waiting for room stops now; one waiting for the client's next message is left to the
    // caller's cleanup (ending the call ends the messages).
    writerFailed = true;
    inFlight.length = 0;
    notifyPuller();
    throw error;
  }
  await pulling;
  if (sourceFailure !== undefined) throw sourceFailure.error;
}
