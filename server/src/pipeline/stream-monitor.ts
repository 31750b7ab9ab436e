/**
 * One stream's bookkeeping: frames in and out for the metrics, and a logger whose every line carries the
 * stream's id. When the stream ends, its outcome (ok, or why it failed) is counted and logged once; frames
 * that entered and got no result count as failed for that reason. No frame data is ever logged.
 */
import { status, type ServerDuplexStream } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { FrameResult } from '../../../proto/generated/fusionseg/v1/segmentation.pb.js';
import { ServerError } from '../errors.js';
import type { CallName, FailureReason, ServiceMetrics } from '../metrics/service-metrics.js';

const REASON_OF_STATUS = new Map<status, FailureReason>([
  [status.INVALID_ARGUMENT, 'invalid_input'],
  [status.NOT_FOUND, 'invalid_input'],
  [status.PERMISSION_DENIED, 'invalid_input'],
  [status.OUT_OF_RANGE, 'invalid_input'],
  [status.FAILED_PRECONDITION, 'invalid_input'],
  [status.RESOURCE_EXHAUSTED, 'overloaded'],
  [status.CANCELLED, 'cancelled'],
  [status.DEADLINE_EXCEEDED, 'deadline'],
  [status.UNAVAILABLE, 'unavailable'],
]);

/** The metrics' failure reason of an error a stream ended with; anything unexpected is internal. */
export function failureReason(error: unknown): FailureReason {
  return error instanceof ServerError ? (REASON_OF_STATUS.get(error.code) ?? 'internal') : 'internal';
}

export class StreamMonitor {
  readonly log: Logger;
  readonly #started = performance.now();
  #framesIn = 0;
  #framesOut = 0;
  #error: unknown;
  #failed = false;

  constructor(
    readonly call: CallName,
    readonly id: number,
    private readonly metrics: ServiceMetrics,
    parentLog: Logger,
    peer: string,
  ) {
    this.log = parentLog.child({ stream: id, call, peer });
    this.log.debug('stream opened');
  }

  frameIn(): void {
    this.#framesIn++;
    this.metrics.frameIn(this.call);
  }

  frameOut(result: FrameResult): void {
    this.#framesOut++;
    this.metrics.frameOut(this.call, result.timings, result.dropped, {
      born: result.tracksBorn.length,
      ended: result.tracksEnded.length,
    });
  }

  /** Records the error the stream ends with (the first one counts). */
  fail(error: unknown): void {
    if (this.#failed) return;
    this.#failed = true;
    this.#error = error;
  }

  /** Counts and logs the stream's end; `grpcCall`'s deadline tells a client's cancel and a passed deadline apart. */
  close(grpcCall: ServerDuplexStream<unknown, unknown>): void {
    let outcome: 'ok' | FailureReason = this.#failed ? failureReason(this.#error) : 'ok';
    if (outcome === 'cancelled') {
      // grpc-js reports a passed deadline as a cancel.
      const deadline = grpcCall.getDeadline();
      if ((deadline instanceof Date ? deadline.getTime() : deadline) <= Date.now()) outcome = 'deadline';
    }
    const lost = this.#framesIn - this.#framesOut;
    this.metrics.streamEnded(this.call, outcome, lost);
    const fields = {
      outcome,
      framesIn: this.#framesIn,
      framesOut: this.#framesOut,
      seconds: Number(((performance.now() - this.#started) / 1000).toFixed(3)),
    };
    if (outcome === 'ok') this.log.info(fields, 'stream ended');
    else {
      const details = this.#error instanceof ServerError ? this.#error.details : undefined;
      this.log.warn({ ...fields, ...(details === undefined ? {} : { details }) }, `stream failed: ${outcome}`);
    }
  }
}
