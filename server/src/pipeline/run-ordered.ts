/**
 * Processes a stream's frames with up to `window` in flight and hands the results to `write` in input
 * order. The source is pulled only while the window has room, and `write` is awaited (it waits for the
 * transport to drain), so a slow reader stops the pulling: backpressure reaches the source.
 */
export async function runOrdered<In, Out>(
  source: AsyncIterable<In>,
  window: number,
  process: (item: In) => Promise<Out>,
  write: (result: Out) => Promise<void>,
): Promise<void> {
  const inFlight: Promise<Out>[] = [];
  try {
    for await (const item of source) {
      const result = process(item);
      result.catch(() => {}); // observed when its turn comes; never an unhandled rejection meanwhile
      inFlight.push(result);
      if (inFlight.length >= window) await write(await inFlight.shift()!);
    }
    while (inFlight.length > 0) await write(await inFlight.shift()!);
  } finally {
    inFlight.length = 0;
  }
}
