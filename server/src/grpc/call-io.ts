import type { ServerDuplexStream } from '@grpc/grpc-js';
import { cancelled } from '../errors.js';

/**
 * The client's messages as an async iterator, adapted from the call's events. Not a `for await` over the
 * call, nor its `iterator()`: both destroy the call when it errors, so the status the handler ends it with
 * would never be sent and the client would hang (grpc-node #1839). Ends quietly when the client half-closes
 * or the call ends (cancel, deadline, or the handler's own error). Backpressure: the call is paused while a
 * message waits unread, so grpc-js stops reading and HTTP/2 flow control pauses the client.
 */
export function clientMessages<Req, Res>(call: ServerDuplexStream<Req, Res>): AsyncIterable<Req> {
  return {
    [Symbol.asyncIterator](): AsyncIterator<Req> {
      const buffered: Req[] = [];
      let ended = false;
      let waiting: ((result: IteratorResult<Req>) => void) | undefined;
      const onData = (message: Req) => {
        if (waiting !== undefined) {
          const resolve = waiting;
          waiting = undefined;
          resolve({ value: message, done: false });
        } else {
          buffered.push(message);
          call.pause();
        }
      };
      const onEnd = () => {
        if (ended) return;
        ended = true;
        call.off('data', onData);
        for (const event of ['end', 'close', 'error', 'cancelled'] as const) call.off(event, onEnd);
        waiting?.({ value: undefined, done: true });
        waiting = undefined;
      };
      call.on('data', onData);
      for (const event of ['end', 'close', 'error', 'cancelled'] as const) call.on(event, onEnd);
      if (call.cancelled || call.destroyed) onEnd();
      return {
        next() {
          const message = buffered.shift();
          if (message !== undefined) return Promise.resolve({ value: message, done: false });
          if (ended) return Promise.resolve({ value: undefined, done: true });
          call.resume();
          return new Promise((resolve) => (waiting = resolve));
        },
        return() {
          onEnd();
          buffered.length = 0;
          return Promise.resolve({ value: undefined, done: true });
        },
      };
    },
  };
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

/**
 * Ends a call whose work is done, unless the client cancelled it: a cancel can end the client's messages
 * (and so the work) a moment before grpc-js reports it, so pending I/O events run first.
 */
export async function endCall(call: ServerDuplexStream<unknown, unknown>, signal: AbortSignal): Promise<void> {
  await new Promise((resolve) => setImmediate(resolve));
  if (signal.aborted) throw cancelled('the client cancelled the call');
  call.end();
}
