import type { ServerDuplexStream } from '@grpc/grpc-js';
import { cancelled } from '../errors.js';

/**
 * The client's messages as an async iterator that does not destroy the call when the consumer stops early
 * (a plain `for await` over a grpc-js call does, and the client then hangs: grpc-node #1839). While the
 * consumer does not pull, grpc-js stops reading and HTTP/2 flow control pauses the client.
 */
export function clientMessages<Req, Res>(call: ServerDuplexStream<Req, Res>): AsyncIterable<Req> {
  return { [Symbol.asyncIterator]: () => call.iterator({ destroyOnReturn: false }) as AsyncIterator<Req> };
}

/** An AbortSignal that fires when the client cancels the call or its deadline passes. */
export function callSignal(call: ServerDuplexStream<unknown, unknown>): AbortSignal {
  const controller = new AbortController();
  if (call.cancelled) controller.abort();
  else call.once('cancelled', () => controller.abort());
  return controller.signal;
}

/**
 * Writes a call's results with bounded buffering. grpc-js' stream only reports 'drain' after 16 buffered
 * messages, and large results (raw maps, panoptic PNGs) would pile up in memory for a client that reads
 * slowly; here each write's callback (the message handed to HTTP/2, which respects the client's flow
 * control window) is awaited once `maxPending` messages are outstanding.
 */
export class ResultWriter<Res> {
  #pending = 0;
  #wake: (() => void) | undefined;

  constructor(
    private readonly call: ServerDuplexStream<unknown, Res>,
    private readonly signal: AbortSignal,
    private readonly maxPending = 2,
  ) {}

  async write(message: Res): Promise<void> {
    if (this.signal.aborted) throw cancelled('the client cancelled the call');
    this.#pending++;
    this.call.write(message, () => {
      this.#pending--;
      this.#wake?.();
    });
    while (this.#pending >= this.maxPending) {
      await new Promise<void>((resolve, reject) => {
        const onAbort = () => reject(cancelled('the client cancelled the call'));
        if (this.signal.aborted) return onAbort();
        this.signal.addEventListener('abort', onAbort, { once: true });
        this.#wake = () => {
          this.signal.removeEventListener('abort', onAbort);
          this.#wake = undefined;
          resolve();
        };
      });
    }
  }
}
