import type { ServerDuplexStream } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { toGrpcError } from './to-grpc-error.js';

/** Ends a streaming call with the status an error maps to (nothing to send if the client is gone). */
export function endCallWithError(call: ServerDuplexStream<unknown, unknown>, error: unknown, log: Logger): void {
  if (call.cancelled || call.destroyed) return;
  call.emit('error', toGrpcError(error, log));
}
