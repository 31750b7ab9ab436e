/**
 * Assembles a running fusionseg service: the engine (sessions + batcher), the fusion workers, and the gRPC
 * server with the segmentation service, health and reflection. Health turns SERVING only once the model
 * is loaded and warmed up.
 */
import type { Logger } from 'pino';
import type { ServerConfig } from './config.js';
import { Engine } from './engine/engine.js';
import { FinishPool } from './fusion/finish-pool.js';
import type { SegmentationServiceServer } from '../../proto/generated/fusionseg/v1/segmentation.pb.js';
import { unavailable } from './errors.js';
import { loadAuthTokens, bearerAuthInterceptor } from './grpc/auth-interceptor.js';
import { createFusionsegServer, LIVENESS_SERVICE_NAME, type FusionsegServer } from './grpc/create-server.js';
import { serverCredentials } from './grpc/server-credentials.js';
import { createLogger } from './logger.js';
import { endCallWithError } from './grpc/end-call.js';
import { toGrpcError } from './grpc/to-grpc-error.js';
import { startMetricsServer, type MetricsServer } from './metrics/metrics-server.js';
import { getModelInfo } from './grpc/get-model-info.js';
import { processVideo } from './grpc/process-video.js';
import { streamFrames } from './grpc/stream-frames.js';
import { DEFAULT_STREAM_LIMITS, ServiceContext } from './pipeline/service-context.js';

export interface RunningService {
  readonly server: FusionsegServer;
  readonly context: ServiceContext;
  readonly port: number;
  /** The port of `/metrics`, when `metricsPort` was given. */
  readonly metricsPort: number | undefined;
  /** Refuses new streams, lets running ones finish for up to the drain timeout, then stops everything. */
  stop(): Promise<void>;
}

export interface ServiceHooks {
  /** Called (and awaited) once the gRPC port listens, before the model loads: health is NOT_SERVING then. */
  readonly onListening?: (port: number) => void | Promise<void>;
  /** The logger the service, its streams and its workers log through (default: a new info-level JSON one). */
  readonly log?: Logger;
}

export async function startService(
  config: Pick<ServerConfig, 'modelDir' | 'address'> & Partial<ServerConfig>,
  hooks: ServiceHooks = {},
): Promise<RunningService> {
  // The port listens first, so that probes reach the process while the model loads: the 'liveness' health
  // service is SERVING at once, the overall and the segmentation service's status only once warm. Calls
  // that arrive before are UNAVAILABLE.
  const log = hooks.log ?? createLogger();
  let handlers: SegmentationServiceServer | undefined;
  const loading = () => unavailable('the model is still loading; retry when health reports SERVING');
  const credentials = await serverCredentials(config);
  const server = createFusionsegServer({
    segmentation: {
      streamFrames: (call) => (handlers ? handlers.streamFrames(call) : endCallWithError(call, loading(), log)),
      processVideo: (call) => (handlers ? handlers.processVideo(call) : endCallWithError(call, loading(), log)),
      getModelInfo: (call, callback) =>
        handlers ? handlers.getModelInfo(call, callback) : callback(toGrpcError(loading(), log), null),
    },
    // Bearer tokens, when configured, are checked before any handler runs (health is exempt).
    interceptors:
      config.authTokensFile === undefined
        ? []
        : [
            bearerAuthInterceptor(await loadAuthTokens(config.authTokensFile), {
              onReject: ({ method, peer, reason }) =>
                log.warn({ method, peer, reason }, 'unauthenticated call refused'),
            }),
          ],
  });
  const port = await server.listen(config.address, credentials);
  server.health.setStatus(LIVENESS_SERVICE_NAME, 'SERVING');

  let engine: Engine | undefined;
  let finishers: FinishPool | undefined;
  let metricsServer: MetricsServer | undefined;
  try {
    await hooks.onListening?.(port);
    const loaded = await Engine.start({
      modelDir: config.modelDir,
      ...(config.devices === undefined ? {} : { devices: config.devices }),
      batching: {
        ...(config.maxBatch === undefined ? {} : { maxBatch: config.maxBatch }),
        ...(config.maxDelayMs === undefined ? {} : { maxDelayMs: config.maxDelayMs }),
        ...(config.maxQueue === undefined ? {} : { maxQueue: config.maxQueue }),
      },
      log,
    });
    engine = loaded;
    const pool = await FinishPool.start(config.fusionWorkers ?? 1, loaded.model.labelSpace.definition, { log });
    finishers = pool;
    const defaults = DEFAULT_STREAM_LIMITS;
    const context = new ServiceContext(
      loaded,
      pool,
      {
        framesInFlight: config.framesInFlight ?? defaults.framesInFlight,
        maxStreams: config.maxStreams ?? defaults.maxStreams,
        maxDecoders: config.maxDecoders ?? defaults.maxDecoders,
        streamIdleTimeoutMs: config.streamIdleTimeoutMs ?? defaults.streamIdleTimeoutMs,
        maxUploadBytes: config.maxUploadBytes ?? defaults.maxUploadBytes,
        mediaRoot: config.mediaRoot ?? defaults.mediaRoot,
        allowedUrlSchemes: config.allowUrlSchemes ?? defaults.allowedUrlSchemes,
        allowUrlHosts: config.allowUrlHosts ?? defaults.allowUrlHosts,
        urlTimeoutMs: config.urlTimeoutMs ?? defaults.urlTimeoutMs,
        allowContainers: config.allowContainers ?? defaults.allowContainers,
        maxPixels: config.maxPixels ?? defaults.maxPixels,
      },
      log,
    );
    // Warm up: the first run of a session allocates and plans; no client frame should pay for that.
    const { width, height } = loaded.model.input;
    await Promise.all(loaded.devices.map(() => loaded.infer(new Uint8Array(width * height * 3))));
    // /metrics is not exposed beyond this host unless --metrics-address says so.
    const metrics =
      config.metricsPort === undefined
        ? undefined
        : await startMetricsServer(context.metrics.registry, config.metricsAddress ?? '127.0.0.1', config.metricsPort);
    metricsServer = metrics;
    handlers = {
      streamFrames: streamFrames(context),
      processVideo: processVideo(context),
      getModelInfo: getModelInfo(context),
    };
    server.setServing('SERVING');
    return {
      server,
      context,
      port,
      metricsPort: metrics?.port,
      async stop() {
        // Admission stops at once; streams get the drain timeout, then end UNAVAILABLE once what they have in
        // flight is answered; only then do the gRPC server, the engine and the fusion workers close.
        server.setServing('NOT_SERVING');
        await context.drain(config.drainTimeoutMs ?? 30_000);
        await server.shutdown(1000);
        await metrics?.close();
        await Promise.all([loaded.close(), pool.close()]);
      },
    };
  } catch (error: unknown) {
    await server.shutdown(0);
    await Promise.all([engine?.close(), finishers?.close(), metricsServer?.close()]);
    throw error;
  }
}
