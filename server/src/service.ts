/**
 * Assembles a running fusionseg service: the engine (sessions + batcher), the fusion workers, and the gRPC
 * server with the segmentation service, health and reflection. Health turns SERVING only once the model
 * is loaded and warmed up.
 */
import { readFile } from 'node:fs/promises';
import { ServerCredentials } from '@grpc/grpc-js';
import type { ServerConfig } from './config.js';
import { Engine } from './engine/engine.js';
import { FinishPool } from './fusion/finish-pool.js';
import { createFusionsegServer, type FusionsegServer } from './grpc/create-server.js';
import { getModelInfo } from './grpc/get-model-info.js';
import { processVideo } from './grpc/process-video.js';
import { streamFrames } from './grpc/stream-frames.js';
import { DEFAULT_STREAM_LIMITS, ServiceContext } from './pipeline/service-context.js';

export interface RunningService {
  readonly server: FusionsegServer;
  readonly context: ServiceContext;
  readonly port: number;
  /** Refuses new streams, lets running ones finish for up to the drain timeout, then stops everything. */
  stop(): Promise<void>;
}

export async function startService(
  config: Pick<ServerConfig, 'modelDir' | 'address'> & Partial<ServerConfig>,
): Promise<RunningService> {
  const engine = await Engine.start({
    modelDir: config.modelDir,
    ...(config.devices === undefined ? {} : { devices: config.devices }),
    batching: {
      ...(config.maxBatch === undefined ? {} : { maxBatch: config.maxBatch }),
      ...(config.maxDelayMs === undefined ? {} : { maxDelayMs: config.maxDelayMs }),
      ...(config.maxQueue === undefined ? {} : { maxQueue: config.maxQueue }),
    },
  });
  let finishers: FinishPool | undefined;
  try {
    finishers = await FinishPool.start(config.fusionWorkers ?? 1, engine.model.labelSpace.definition);
    const context = new ServiceContext(engine, finishers, {
      framesInFlight: config.framesInFlight ?? DEFAULT_STREAM_LIMITS.framesInFlight,
      maxUploadBytes: config.maxUploadBytes ?? DEFAULT_STREAM_LIMITS.maxUploadBytes,
      mediaRoot: config.mediaRoot ?? DEFAULT_STREAM_LIMITS.mediaRoot,
      allowedUrlSchemes: config.allowUrlSchemes ?? DEFAULT_STREAM_LIMITS.allowedUrlSchemes,
    });
    // Warm up: the first run of a session allocates and plans; no client frame should pay for that.
    const { width, height } = engine.model.input;
    await Promise.all(engine.devices.map(() => engine.infer(new Uint8Array(width * height * 3))));

    const server = createFusionsegServer({
      segmentation: {
        streamFrames: streamFrames(context),
        processVideo: processVideo(context),
        getModelInfo: getModelInfo(context),
      },
    });
    const credentials =
      config.tlsCert !== undefined && config.tlsKey !== undefined
        ? ServerCredentials.createSsl(null, [
            { cert_chain: await readFile(config.tlsCert), private_key: await readFile(config.tlsKey) },
          ])
        : ServerCredentials.createInsecure();
    const port = await server.listen(config.address, credentials);
    server.setServing('SERVING');
    const pool = finishers;
    return {
      server,
      context,
      port,
      async stop() {
        server.setServing('NOT_SERVING');
        const timeout = config.drainTimeoutMs ?? 30_000;
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([
          context.drain(),
          new Promise<void>((resolve) => {
            timer = setTimeout(resolve, timeout);
          }),
        ]);
        clearTimeout(timer);
        await server.shutdown(1000);
        await Promise.all([engine.close(), pool.close()]);
      },
    };
  } catch (error: unknown) {
    await Promise.all([engine.close(), finishers?.close()]);
    throw error;
  }
}
