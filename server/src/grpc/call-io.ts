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

/** Writes one message and waits for 'drain' when grpc-js' buffer is full. */
export async function writeMessage<Res>(
  call: ServerDuplexStream<unknown, Res>,
  message: Res,
  signal: AbortSignal,
): Promise<void> {
  if (signal.aborted) throw cancelled('the client cancelled the call');
  if (call.write(message)) return;
  await new Promise<void>((resolve, reject) => {
    const onDrain = () => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    };
    const onAbort = () => {
      call.off('drain', onDrain);
      reject(cancelled('the client cancelled the call'));
    };
    call.once('drain', onDrain);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
