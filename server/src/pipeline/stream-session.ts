/**
 * One stream's whole life, written once for both streaming calls: admission (the stream cap; draining),
 * the first message, the call's own open step (validation and source), the ordered window of frames in
 * flight, writes that respect flow control, the idle timeout, shutdown (stop intake, answer what is in
 * flight, end UNAVAILABLE), the end status, metrics and the end log line. The gRPC handlers only say how
 * their call opens a source of frames.
 */
import type { ServerDuplexStream } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { FrameResult } from '../../../proto/generated/fusionseg/v1/segmentation.pb.js';
import { cancelled, deadlineExceeded, invalidArgument, ServerError, unavailable } from '../errors.js';
import { callSignal, clientMessages, endCall, ResultWriter } from '../grpc/call-io.js';
import { endCallWithError } from '../grpc/end-call.js';
import { MalformedMessage } from '../grpc/malformed-message.js';
import type { CallName } from '../metrics/service-metrics.js';
import { runOrdered } from './run-ordered.js';
import { segmentFrame, type PendingFrame, type StreamContext } from './segment-frame.js';
import { TrackStage } from './track-stage.js';
import type { Admission, ServiceContext } from './service-context.js';
import { failureReason, StreamMonitor } from './stream-monitor.js';
import type { StreamSettings } from './stream-settings.js';

/** What a call's open step is given: its first message, the rest, and the stream's services. */
export interface OpeningStream<Req> {
  readonly open: Req;
  /** The client's messages after the first. */
  readonly messages: AsyncIterable<Req>;
  /** Aborts when the stream ends for any reason (cancel, deadline, error, idle, shutdown). */
  readonly signal: AbortSignal;
  readonly log: Logger;
  readonly service: ServiceContext;
  /** Takes one of the server's decoder slots for this stream; RESOURCE_EXHAUSTED when none is free. */
  useDecoder(): void;
}

/** What a call's open step returns: the stream's settings and its frames. */
export interface OpenedStream {
  readonly settings: StreamSettings;
  readonly frames: AsyncIterable<PendingFrame>;
  /** The stream's frame count when known, else 0. */
  readonly totalFrames: number;
  /** Releases what the source holds (a spooled upload, ffmpeg); called once when the stream ends. */
  readonly close?: () => Promise<void>;
}

export type OpenStep<Req> = (stream: OpeningStream<Req>) => OpenedStream | Promise<OpenedStream>;

/** Runs one streaming call from admission to its final status. Never throws: every end is a status. */
export async function runStreamSession<Req>(
  call: ServerDuplexStream<Req, FrameResult>,
  service: ServiceContext,
  callName: CallName,
  openMessage: string,
  openStep: OpenStep<Req>,
): Promise<void> {
  const stop = new AbortController(); // the stream's own end: error, idle, or an abort at shutdown
  const intake = new AbortController(); // shutdown: take no more frames
  const signal = AbortSignal.any([callSignal(call), stop.signal]);
  let admission: Admission;
  try {
    admission = service.admit(callName, {
      stopIntake: () => intake.abort(),
      abort: () => stop.abort(unavailable('the server is shutting down (this stream could not finish in time)')),
    });
  } catch (error: unknown) {
    service.metrics.streamRefused(callName, failureReason(error));
    endCallWithError(call, error, service.log);
    return;
  }
  const monitor = new StreamMonitor(callName, admission.id, service.metrics, service.log, call.getPeer());
  const idle = new IdleWatch(service.limits.streamIdleTimeoutMs, () =>
    stop.abort(
      deadlineExceeded(
        `the stream was idle for ${service.limits.streamIdleTimeoutMs / 1000} s ` +
          '(no message from the client and no frame in flight)',
      ),
    ),
  );
  /** The open step, kept: a stream that ends while it runs still closes what it opens (a spooled upload). */
  let opening: Promise<OpenedStream> | undefined;
  let opened: OpenedStream | undefined;
  /** Frames of this stream still being decoded, inferred or fused: the stream ends only after them. */
  const working = new Set<Promise<void>>();
  try {
    const messages = idle.watch(decodedMessages(clientMessages(call)))[Symbol.asyncIterator]();
    const first = await untilAborted(messages.next(), signal);
    if (first.done === true) throw invalidArgument(`the call ended before its first message ("${openMessage}")`);
    opening = openAsync(openStep, {
      open: first.value,
      messages: { [Symbol.asyncIterator]: () => messages },
      signal,
      log: monitor.log,
      service,
      useDecoder: () => admission.useDecoder(),
    });
    opened = await untilAborted(opening, signal);
    const { settings, totalFrames } = opened;
    const { tracking } = settings;
    const { width, height } = service.engine.model.input;
    const context: StreamContext = {
      service,
      settings,
      signal,
      totalFrames,
      lane: monitor,
      // Nothing to track with fusion off: no instances.
      tracking: tracking.enabled && settings.fusion.enabled ? new TrackStage(width, height, tracking) : undefined,
    };
    const writer = new ResultWriter(call, signal);
    const window = service.limits.framesInFlight;
    await untilAborted(
      runOrdered(
        opened.frames,
        {
          window,
          stop: intake.signal,
          // A live stream keeps reading: the oldest frame still waiting for inference makes room.
          overflow:
            settings.overload === 'drop-oldest'
              ? { limit: 4 * window, makeRoom: () => service.engine.dropOldest(monitor) }
              : undefined,
        },
        (frame) => {
          monitor.frameIn();
          idle.busy(+1);
          const turn = context.tracking?.turn(); // in pull order: frames are tracked in the stream's order
          const segmented = (async () => {
            try {
              return await segmentFrame(await frame.decoded, context, turn);
            } finally {
              turn?.skip(); // a frame dropped or failed before tracking lets the next one go
            }
          })();
          const settled = segmented.then(
            () => {},
            () => {},
          );
          working.add(settled);
          void settled.then(() => {
            working.delete(settled);
            idle.busy(-1);
          });
          return segmented;
        },
        async (result) => {
          idle.busy(+1); // a result the client has not read yet is still in flight
          try {
            await writer.write(result);
          } finally {
            idle.busy(-1);
          }
          monitor.frameOut(result);
        },
      ),
      signal,
    );
    if (intake.signal.aborted) throw unavailable('the server is shutting down; the frames sent so far were answered');
    await endCall(call, signal);
  } catch (error: unknown) {
    const reason: unknown = stop.signal.aborted ? stop.signal.reason : error;
    monitor.fail(reason);
    endCallWithError(call, reason, monitor.log);
  } finally {
    idle.close();
    stop.abort(); // stops ffmpeg and drops this stream's queued frames
    await Promise.all(working); // a frame already in a session finishes there; nothing of it is fused
    opened ??= await opening?.catch(() => undefined);
    await opened?.close?.().catch((error: unknown) => monitor.log.error({ err: error }, 'closing the source failed'));
    monitor.close(call);
    admission.release();
  }
}

/**
 * The client's messages after the first, each turned into what the stream takes from it by `take` (which
 * throws INVALID_ARGUMENT for a message of the wrong kind; `number` is the message's 1-based position).
 */
export async function* eachMessage<Req, T>(
  messages: AsyncIterable<Req>,
  take: (message: Req, number: number) => T,
): AsyncGenerator<T> {
  let number = 1;
  for await (const message of messages) yield take(message, ++number);
}

async function openAsync<Req>(step: OpenStep<Req>, stream: OpeningStream<Req>): Promise<OpenedStream> {
  return step(stream);
}

/** The client's messages, failing the stream at the first one whose bytes did not decode. */
async function* decodedMessages<Req>(messages: AsyncIterable<Req>): AsyncGenerator<Req> {
  let number = 0;
  for await (const message of messages) {
    number++;
    if (message instanceof MalformedMessage) throw message.toError(`message ${number} of the call`);
    yield message;
  }
}

/** Resolves as `work` does, or rejects once `signal` aborts (with its reason), whichever comes first. */
function untilAborted<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  work.catch(() => {}); // may settle after the abort; nobody waits for it then
  if (signal.aborted) return Promise.reject(abortReason(signal));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(abortReason(signal));
    signal.addEventListener('abort', onAbort, { once: true });
    work.finally(() => signal.removeEventListener('abort', onAbort)).then(resolve, reject);
  });
}

function abortReason(signal: AbortSignal): ServerError {
  // The call's own signal aborts without a reason of ours: the client cancelled or its deadline passed.
  return signal.reason instanceof ServerError ? signal.reason : cancelled('the client cancelled the call');
}

/**
 * The idle timeout: fires `onIdle` when the client has sent nothing and no frame has been in flight for
 * `timeoutMs` (0 disables it). A stream whose client does not read its results is not idle: its frames
 * are in flight.
 */
class IdleWatch {
  #inFlight = 0;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(
    private readonly timeoutMs: number,
    private readonly onIdle: () => void,
  ) {
    this.#arm();
  }

  /** The client's messages, each one resetting the timeout. */
  watch<T>(messages: AsyncIterable<T>): AsyncIterable<T> {
    return {
      [Symbol.asyncIterator]: () => {
        const inner = messages[Symbol.asyncIterator]();
        return {
          next: async () => {
            const next = await inner.next();
            this.#arm();
            return next;
          },
          return: async () => (await inner.return?.()) ?? { value: undefined, done: true },
        };
      },
    };
  }

  busy(delta: number): void {
    this.#inFlight += delta;
    this.#arm();
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
  }

  #arm(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#closed || this.timeoutMs <= 0 || this.#inFlight > 0) return;
    this.#timer = setTimeout(this.onIdle, this.timeoutMs);
    this.#timer.unref();
  }
}
