/**
 * Requests whose bytes do not decode (truncated protobuf, a 64-bit number past 2^53 that the generated code
 * refuses) would end in grpc-js as INTERNAL "Error deserializing request". The service's deserializers are
 * wrapped instead: such a message arrives as a `MalformedMessage`, and the handler ends the call with
 * INVALID_ARGUMENT naming the message.
 */
import type { ServiceDefinition } from '@grpc/grpc-js';
import { invalidArgument, type ServerError } from '../errors.js';

export class MalformedMessage {
  constructor(readonly reason: string) {}

  /** The error a call ends with: `what` names the message ("message 3 of the call", "the request"). */
  toError(what: string): ServerError {
    return invalidArgument(`${what} is not a valid protobuf message of this call: ${this.reason}`);
  }
}

/** `service` with every request deserializer turning undecodable bytes into a MalformedMessage. */
export function withLenientDeserializers<S extends ServiceDefinition>(service: S): S {
  const methods = Object.entries(service).map(([name, method]) => [
    name,
    {
      ...method,
      requestDeserialize: (bytes: Buffer): unknown => {
        try {
          return method.requestDeserialize(bytes);
        } catch (error: unknown) {
          return new MalformedMessage(error instanceof Error ? error.message : String(error));
        }
      },
    },
  ]);
  return Object.fromEntries(methods) as S;
}
