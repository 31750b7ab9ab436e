/**
 * A typed client for the fusionseg service. Calls return async iterables of results with the maps
 * decoded; writes respect flow control ('drain') and reads are pulled, so backpressure holds both ways.
 * Every call takes an AbortSignal (cancels the call) and a deadline; failures throw `FusionsegError` with
 * the gRPC status code and the server's message. No reconnects or retries happen behind the caller's back.
 * A server with `--auth-tokens-file` wants `token`; one with `--tls-client-ca` wants `cert` and `key`.
 * The address may name several replicas (`10.0.0.1:5001,10.0.0.2:5001`, or `dns:///name:port` for every address
 * of a name): calls are spread over the reachable ones round-robin (see `grpcTarget`).
 */
import {
  type ChannelCredentials,
  credentials,
  Metadata,
  status,
  type ClientDuplexStream,
  type ServiceError,
} from '@grpc/grpc-js';
import {
  FusionOptions,
  InputKind,
  OutputOptions,
  OverloadPolicy,
  SegmentationServiceClient,
  TrackingOptions,
  type FrameRequest,
  type FrameResult,
  type ModelInfo,
  type VideoRequest,
} from '../../proto/generated/fusionseg/v1/segmentation.pb.js';
import { isIPv4, isIPv6 } from 'node:net';
import { decodeMap } from './decode-maps.js';

export interface ClientOptions {
  /** Use TLS; with `ca`, trust that CA (PEM) instead of the system's roots. `ca`, `cert` and `key` imply TLS. */
  readonly tls?: boolean;
  readonly ca?: Uint8Array;
  /** A client certificate chain and its private key (PEM), for servers that require mutual TLS; both or neither. */
  readonly cert?: Uint8Array;
  readonly key?: Uint8Array;
  /** A bearer token, sent as `authorization: Bearer <token>` on every call (use TLS: it is a password). */
  readonly token?: string;
  /** Largest message sent or received; default 64 MiB. */
  readonly maxMessageBytes?: number;
}

export interface CallOptions {
  readonly signal?: AbortSignal;
  /** Milliseconds from now; default none. */
  readonly deadlineMs?: number;
  /** The model to use; default the server's. */
  readonly model?: string;
  readonly output?: Partial<OutputOptions>;
  readonly fusion?: Partial<FusionOptions>;
  /** What the stream's frames do when the server is overloaded: wait (default) or drop the oldest (live sources). */
  readonly overload?: OverloadPolicy;
  /**
   * Tracking: instance ids that persist across the stream's frames (`enabled`, `iouThreshold`, `maxAge`;
   * unset fields take the server's defaults). The server turns it on by default for `processVideo` and
   * `streamVideo`, off for `streamFrames`. Tracked results have `result.tracked` set, segment ids that are
   * track ids, and an instance map that decodes to a `Uint32Array`.
   */
  readonly tracking?: Partial<TrackingOptions>;
  /** Decode the maps into typed arrays (default true); false leaves `semantic` and `instance` undefined. */
  readonly decodeMaps?: boolean;
}

/** One frame to send: raw RGB24, JPEG or PNG, with an optional id and timestamp echoed back. */
export type ClientFrame = { readonly frameId?: number; readonly pts?: number } & (
  | { readonly raw: { readonly width: number; readonly height: number; readonly rgb24: Uint8Array } }
  | { readonly jpeg: Uint8Array }
  | { readonly png: Uint8Array }
);

/** Where ProcessVideo reads the video from. */
export type VideoSource =
  | { readonly upload: AsyncIterable<Uint8Array>; readonly containerFormat?: string; readonly sizeBytes?: number }
  | { readonly serverPath: string }
  | { readonly url: string };

export interface VideoOptions extends CallOptions {
  readonly fps?: number;
  readonly startTime?: number;
  readonly maxFrames?: number;
}

/** A result with its maps decoded into typed arrays. */
export interface SegmentationResult {
  readonly result: FrameResult;
  /** Class id per pixel (255 = void); undefined when the map was not asked for, or not decoded. */
  readonly semantic: Uint8Array | undefined;
  /**
   * Instance id per pixel (0 = none): a `Uint16Array`, or a `Uint32Array` of track ids when the result is
   * tracked (`result.tracked`); undefined when the map was not asked for, or not decoded.
   */
  readonly instance: Uint16Array | Uint32Array | undefined;
}

/** A failed call: the gRPC status code (see @grpc/grpc-js `status`) and the server's message. */
export class FusionsegError extends Error {
  constructor(
    readonly code: status,
    readonly details: string,
  ) {
    super(`${status[code] ?? code}: ${details}`);
    this.name = 'FusionsegError';
  }
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(typeof error === 'string' ? error : JSON.stringify(error));
}

function toFusionsegError(error: unknown): FusionsegError {
  if (error instanceof FusionsegError) return error;
  const serviceError = error as Partial<ServiceError>;
  if (typeof serviceError.code === 'number') return new FusionsegError(serviceError.code, serviceError.details ?? '');
  return new FusionsegError(status.UNKNOWN, error instanceof Error ? error.message : String(error));
}

function decoded(result: FrameResult, decodeMaps: boolean): SegmentationResult {
  if (!decodeMaps) return { result, semantic: undefined, instance: undefined };
  const instance = decodeMap(result.instance);
  return {
    result,
    semantic: decodeMap(result.semantic) as Uint8Array | undefined,
    instance: instance as Uint16Array | Uint32Array | undefined,
  };
}

/** Resolves once the call can take more writes, or can take none any more (ended, failed, or `signal` aborted). */
function writable<Req>(call: ClientDuplexStream<Req, FrameResult>, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const events = ['drain', 'close', 'error', 'finish'] as const;
    const done = () => {
      for (const event of events) call.off(event, done);
      signal.removeEventListener('abort', done);
      resolve();
    };
    for (const event of events) call.once(event, done);
    signal.addEventListener('abort', done, { once: true });
    if (signal.aborted || call.destroyed) done();
  });
}

/** Target schemes passed to gRPC as they are (`dns:///name:port`, `ipv4:a:p,b:p`, `unix:path`, ...). */
const TARGET_SCHEME = /^(dns|ipv4|ipv6|unix|unix-abstract|vsock):/;

/**
 * The gRPC target for an address: `host:port`, a gRPC target with its scheme (`dns:///name:port`, `ipv4:...`),
 * or a comma-separated list of IP literals with ports (`127.0.0.1:5001,127.0.0.1:5002`; IPv6 as `[::1]:5001`),
 * which becomes an `ipv4:` or `ipv6:` target. Host names in a list throw: `dns:///name:port` resolves a name to
 * all its addresses instead. Throws a TypeError that says what is wrong.
 */
export function grpcTarget(address: string): string {
  const trimmed = address.trim();
  if (trimmed === '') throw new TypeError('the address is empty');
  if (TARGET_SCHEME.test(trimmed) || !trimmed.includes(',')) return trimmed;
  const entries = trimmed.split(',').map((entry) => entry.trim());
  const families = entries.map((entry) => {
    if (entry === '') throw new TypeError(`an empty address in the list "${address}"`);
    const match = /^\[([^\]]+)\]:(\d+)$/.exec(entry) ?? /^([^:[\]]+):(\d+)$/.exec(entry);
    if (match === null) {
      throw new TypeError(`"${entry}" is not host:port (an IPv6 address goes in brackets: [::1]:50051)`);
    }
    const [, host, port] = match as unknown as [string, string, string];
    if (Number(port) < 1 || Number(port) > 65535) throw new TypeError(`"${entry}": the port must be 1 to 65535`);
    if (isIPv4(host) && !entry.startsWith('[')) return 'ipv4';
    if (isIPv6(host) && entry.startsWith('[')) return 'ipv6';
    throw new TypeError(
      `"${entry}": a list takes IP addresses only; for the addresses of a host name use dns:///${entry}`,
    );
  });
  const family = families[0]!;
  if (families.some((f) => f !== family)) {
    throw new TypeError('a list takes IPv4 or IPv6 addresses, not both; use dns:///name:port for a mixed set');
  }
  return `${family}:${entries.join(',')}`;
}

/** Spreads calls over every reachable address of the target (a pick per call, skipping failed replicas). */
const ROUND_ROBIN_SERVICE_CONFIG = JSON.stringify({ loadBalancingConfig: [{ round_robin: {} }] });

function channelCredentials(options: ClientOptions): ChannelCredentials {
  if ((options.cert === undefined) !== (options.key === undefined)) {
    throw new TypeError('a client certificate needs both cert and key');
  }
  const tls = options.tls === true || options.ca !== undefined || options.cert !== undefined;
  if (!tls) return credentials.createInsecure();
  const buffer = (bytes: Uint8Array | undefined) => (bytes === undefined ? null : Buffer.from(bytes));
  return credentials.createSsl(buffer(options.ca), buffer(options.key), buffer(options.cert));
}

export class FusionsegClient {
  readonly #client: SegmentationServiceClient;
  readonly #authorization: string | undefined;

  constructor(address: string, options: ClientOptions = {}) {
    if (options.token !== undefined && !/^[\x21-\x7e]+$/.test(options.token)) {
      throw new TypeError('token must be visible ASCII characters, without spaces');
    }
    this.#authorization = options.token === undefined ? undefined : `Bearer ${options.token}`;
    const limit = options.maxMessageBytes ?? 64 * 1024 * 1024;
    const target = grpcTarget(address);
    this.#client = new SegmentationServiceClient(target, channelCredentials(options), {
      'grpc.service_config': ROUND_ROBIN_SERVICE_CONFIG,
      'grpc.max_receive_message_length': limit,
      'grpc.max_send_message_length': limit,
    });
  }

  /** The model, label space, devices and batching settings of the server. */
  getModelInfo(options: Pick<CallOptions, 'signal' | 'deadlineMs' | 'model'> = {}): Promise<ModelInfo> {
    return new Promise((resolve, reject) => {
      const call = this.#client.getModelInfo(
        { model: options.model ?? '' },
        this.#metadata(),
        this.#callOptions(options),
        (error, info) => (error ? reject(toFusionsegError(error)) : resolve(info)),
      );
      options.signal?.addEventListener('abort', () => call.cancel(), { once: true });
    });
  }

  /** Streams frames (as a camera client does) and yields one result per frame, in order. */
  streamFrames(
    frames: AsyncIterable<ClientFrame> | Iterable<ClientFrame>,
    options: CallOptions = {},
  ): AsyncIterable<SegmentationResult> {
    const call = this.#client.streamFrames(this.#metadata(), this.#callOptions(options));
    async function* requests(): AsyncGenerator<FrameRequest> {
      yield {
        payload: {
          $case: 'open',
          open: { options: streamOptions(options), input: InputKind.INPUT_KIND_FRAMES, containerFormat: '' },
        },
      };
      let index = 0;
      for await (const frame of frames) {
        const image =
          'raw' in frame
            ? { $case: 'raw' as const, raw: frame.raw }
            : 'jpeg' in frame
              ? { $case: 'jpeg' as const, jpeg: frame.jpeg }
              : { $case: 'png' as const, png: frame.png };
        yield {
          payload: { $case: 'frame', frame: { frameId: frame.frameId ?? index, pts: frame.pts ?? index, image } },
        };
        index++;
      }
    }
    return this.#run(call, requests(), options);
  }

  /** Streams an encoded video (H.264 Annex B, MPEG-TS, Matroska, ...) in chunks; one result per decoded frame. */
  streamVideo(
    chunks: AsyncIterable<Uint8Array>,
    options: CallOptions & { readonly containerFormat?: string } = {},
  ): AsyncIterable<SegmentationResult> {
    const call = this.#client.streamFrames(this.#metadata(), this.#callOptions(options));
    async function* requests(): AsyncGenerator<FrameRequest> {
      yield {
        payload: {
          $case: 'open',
          open: {
            options: streamOptions(options),
            input: InputKind.INPUT_KIND_ENCODED_VIDEO,
            containerFormat: options.containerFormat ?? '',
          },
        },
      };
      for await (const data of chunks) yield { payload: { $case: 'videoChunk', videoChunk: { data } } };
    }
    return this.#run(call, requests(), options);
  }

  /** Processes a whole video: uploaded, a file under the server's media root, or a URL. */
  processVideo(source: VideoSource, options: VideoOptions = {}): AsyncIterable<SegmentationResult> {
    const call = this.#client.processVideo(this.#metadata(), this.#callOptions(options));
    async function* requests(): AsyncGenerator<VideoRequest> {
      const sourceField =
        'upload' in source
          ? {
              $case: 'upload' as const,
              upload: { containerFormat: source.containerFormat ?? '', sizeBytes: source.sizeBytes ?? 0 },
            }
          : 'serverPath' in source
            ? { $case: 'serverPath' as const, serverPath: source.serverPath }
            : { $case: 'url' as const, url: source.url };
      yield {
        payload: {
          $case: 'open',
          open: {
            options: streamOptions(options),
            source: sourceField,
            fps: options.fps ?? 0,
            startTime: options.startTime ?? 0,
            maxFrames: options.maxFrames ?? 0,
          },
        },
      };
      if ('upload' in source)
        for await (const data of source.upload) yield { payload: { $case: 'chunk', chunk: { data } } };
    }
    return this.#run(call, requests(), options);
  }

  close(): void {
    this.#client.close();
  }

  /** Per-call metadata: the token, when given (call credentials would need TLS; tokens work over both). */
  #metadata(): Metadata {
    const metadata = new Metadata();
    if (this.#authorization !== undefined) metadata.set('authorization', this.#authorization);
    return metadata;
  }

  #callOptions(options: Pick<CallOptions, 'deadlineMs'>) {
    return options.deadlineMs === undefined ? {} : { deadline: Date.now() + options.deadlineMs };
  }

  /**
   * Writes the requests (waiting for 'drain') while yielding decoded results; cancels on abort or early exit.
   * Once the call is over (the server's status, a cancel, the caller's abort), the writer stops: a wait for
   * 'drain' ends, and the writer is not awaited, since the caller's source may never yield again.
   */
  async *#run<Req>(
    call: ClientDuplexStream<Req, FrameResult>,
    requests: AsyncIterable<Req>,
    { signal, decodeMaps = true }: CallOptions,
  ): AsyncGenerator<SegmentationResult> {
    const over = new AbortController();
    const onAbort = () => {
      over.abort();
      call.cancel();
    };
    if (signal?.aborted) onAbort();
    signal?.addEventListener('abort', onAbort, { once: true });
    const stopped = () => over.signal.aborted || call.destroyed;
    let writeError: unknown;
    void (async () => {
      try {
        for await (const request of requests) {
          if (stopped()) return;
          if (!call.write(request)) await writable(call, over.signal);
        }
        if (!stopped()) call.end();
      } catch (error: unknown) {
        writeError = error;
        call.cancel();
      }
    })();
    let finished = false;
    try {
      for await (const result of call as AsyncIterable<FrameResult>) yield decoded(result, decodeMaps);
      finished = true;
    } catch (error: unknown) {
      if (writeError !== undefined) throw asError(writeError);
      throw toFusionsegError(error);
    } finally {
      signal?.removeEventListener('abort', onAbort);
      over.abort();
      if (!finished) call.cancel(); // the consumer stopped early: stop the server's work too
    }
    if (writeError !== undefined) throw asError(writeError);
  }
}

function streamOptions(options: CallOptions) {
  return {
    model: options.model ?? '',
    output: OutputOptions.fromPartial(options.output ?? {}),
    fusion: FusionOptions.fromPartial(options.fusion ?? {}),
    overload: options.overload ?? OverloadPolicy.OVERLOAD_POLICY_UNSPECIFIED,
    // Absent unless asked for: the server then applies its per-call default.
    tracking: options.tracking === undefined ? undefined : TrackingOptions.fromPartial(options.tracking),
  };
}
