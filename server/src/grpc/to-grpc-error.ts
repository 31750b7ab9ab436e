import { Metadata, type ServiceError } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { ServerError, Status } from '../errors.js';

/**
 * Maps any thrown value to the status a client sees: a `ServerError` keeps its code and details;
 * anything else is logged (with its stack, on `log`) and becomes INTERNAL without leaking its message.
 * An INTERNAL ServerError is logged too, with its cause: its details are for the client, the cause for us.
 */
export function toGrpcError(error: unknown, log: Logger): Partial<ServiceError> {
  if (error instanceof ServerError) {
    if (error.code === Status.INTERNAL) log.error({ err: error.cause ?? error }, error.details);
    return { code: error.code, details: error.details, metadata: new Metadata() };
  }
  log.error({ err: error }, 'internal error');
  return { code: Status.INTERNAL, details: 'internal server error (logged on the server)', metadata: new Metadata() };
}
