import { status as Status } from '@grpc/grpc-js';

/**
 * The one error type that carries a gRPC status code. Anything else that reaches the edge is a bug and
 * becomes INTERNAL (see `toGrpcError`).
 */
export class ServerError extends Error {
  constructor(
    readonly code: Status,
    readonly details: string,
    options?: { cause?: unknown },
  ) {
    super(details, options);
    this.name = 'ServerError';
  }
}

export { Status };

/** Shorthands for the codes this server uses, so call sites read as what went wrong. */
export const invalidArgument = (details: string, cause?: unknown) =>
  new ServerError(Status.INVALID_ARGUMENT, details, { cause });
export const notFound = (details: string) => new ServerError(Status.NOT_FOUND, details);
export const permissionDenied = (details: string) => new ServerError(Status.PERMISSION_DENIED, details);
export const resourceExhausted = (details: string) => new ServerError(Status.RESOURCE_EXHAUSTED, details);
export const unavailable = (details: string) => new ServerError(Status.UNAVAILABLE, details);
export const cancelled = (details: string) => new ServerError(Status.CANCELLED, details);
export const deadlineExceeded = (details: string) => new ServerError(Status.DEADLINE_EXCEEDED, details);
export const internal = (details: string, cause?: unknown) => new ServerError(Status.INTERNAL, details, { cause });
