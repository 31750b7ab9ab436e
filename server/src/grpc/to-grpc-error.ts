import { Metadata, type ServiceError } from '@grpc/grpc-js';
import { ServerError, Status } from '../errors.js';
import { log } from '../logger.js';

/** What the edge reports for an unexpected error, so that the caller can be told where to look. */
export type InternalErrorLogger = (error: unknown) => void;

const defaultLogger: InternalErrorLogger = (error) => {
  log.error({ err: error }, 'internal error');
};

/**
 * Maps any thrown value to the status a client sees: a `ServerError` keeps its code and details;
 * anything else is logged and becomes INTERNAL without leaking its message.
 */
export function toGrpcError(error: unknown, logInternal: InternalErrorLogger = defaultLogger): Partial<ServiceError> {
  if (error instanceof ServerError) {
    return { code: error.code, details: error.details, metadata: new Metadata() };
  }
  logInternal(error);
  return { code: Status.INTERNAL, details: 'internal server error (logged on the server)', metadata: new Metadata() };
}
