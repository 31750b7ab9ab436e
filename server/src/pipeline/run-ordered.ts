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
export async function runOrdered<In, Out>(
  source: AsyncIterable<In>,
  window: number,
  process: (item: In) => Promise<Out>,
  write: (result: Out) => Promise<void>,
): Promise<void> {
  const inFlight: Promise<Out>[] = [];
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

  const pulling = (async () => {
    try {
      for await (const item of source) {
        const result = process(item);
        result.catch(() => {}); // observed when its turn comes; never an unhandled rejection meanwhile
        inFlight.push(result);
        notifyWriter();
        while (inFlight.length >= window && !writerFailed) await new Promise<void>((resolve) => (wakePuller = resolve));
        if (writerFailed) return;
      }
    } catch (error: unknown) {
      sourceFailure = { error };
    } finally {
      sourceDone = true;
      notifyWriter();
    }
  })();

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
