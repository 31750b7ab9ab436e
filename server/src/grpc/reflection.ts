import { loadSync } from '@grpc/proto-loader';
import { ReflectionService } from '@grpc/reflection';
import { protoPath as healthProtoPath } from 'grpc-health-check';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The folder that holds the API's .proto files (package fusionseg.v1). */
export const protoRoot = fileURLToPath(new URL('../../../proto', import.meta.url));

/**
 * Server reflection for the fusionseg API and the health service, so that `grpcurl` and similar tools
 * work without the .proto files.
 */
export function createReflectionService(): ReflectionService {
  const definition = loadSync(['fusionseg/v1/segmentation.proto', 'health/v1/health.proto'], {
    includeDirs: [protoRoot, dirname(dirname(dirname(healthProtoPath)))],
  });
  return new ReflectionService(definition);
}
