import { Server, ServerCredentials, type ServerInterceptor } from '@grpc/grpc-js';
import { HealthImplementation, type ServingStatus } from 'grpc-health-check';
import {
  SegmentationServiceService,
  type SegmentationServiceServer,
} from '../../../proto/generated/fusionseg/v1/segmentation.pb.js';
import { withLenientDeserializers } from './malformed-message.js';
import { createReflectionService } from './reflection.js';
import { serverChannelOptions, type ServerLimits } from './server-options.js';

/**
 * The health service name that reports SERVING as soon as the port listens (the process is alive), for
 * liveness probes; '' and the segmentation service report readiness (model loaded and warm, not draining).
 */
export const LIVENESS_SERVICE_NAME = 'liveness';

/** The fully qualified name health checks use for the segmentation service. */
export const SEGMENTATION_SERVICE_NAME = 'fusionseg.v1.SegmentationService';

export interface FusionsegServerOptions extends ServerLimits {
  /** The segmentation service's handlers. */
  readonly segmentation: SegmentationServiceServer;
  /**
   * Server interceptors, run for every call before its handler, in order (e.g. `bearerAuthInterceptor`
   * from auth-interceptor.ts); default none.
   */
  readonly interceptors?: readonly ServerInterceptor[];
}

/** A gRPC server with the segmentation service, grpc.health.v1 and server reflection, and its interceptors. */
export interface FusionsegServer {
  readonly grpc: Server;
  readonly health: HealthImplementation;
  /** Sets the overall ('') and the segmentation service's health status together. */
  setServing(status: ServingStatus): void;
  /** Binds `address` (e.g. `127.0.0.1:0`) and resolves with the bound port. */
  listen(address: string, credentials?: ServerCredentials): Promise<number>;
  /** Stops accepting calls and waits for running ones; after `graceMs`, cancels what is left. */
  shutdown(graceMs?: number): Promise<void>;
}

export function createFusionsegServer(options: FusionsegServerOptions): FusionsegServer {
  const server = new Server({ ...serverChannelOptions(options), interceptors: [...(options.interceptors ?? [])] });
  // NOT_SERVING until the caller says the model is loaded and warm.
  const health = new HealthImplementation({
    '': 'NOT_SERVING',
    [SEGMENTATION_SERVICE_NAME]: 'NOT_SERVING',
    [LIVENESS_SERVICE_NAME]: 'NOT_SERVING',
  });
  health.addToServer(server);
  createReflectionService().addToServer(server);
  server.addService(withLenientDeserializers(SegmentationServiceService), options.segmentation);

  return {
    grpc: server,
    health,
    setServing(status) {
      health.setStatus('', status);
      health.setStatus(SEGMENTATION_SERVICE_NAME, status);
    },
    listen(address, credentials = ServerCredentials.createInsecure()) {
      return new Promise((resolve, reject) => {
        server.bindAsync(address, credentials, (error, port) => (error ? reject(error) : resolve(port)));
      });
    },
    async shutdown(graceMs = 10_000) {
      this.setServing('NOT_SERVING');
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, graceMs);
        server.tryShutdown(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    },
  };
}
