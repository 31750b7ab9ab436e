import {
  credentials,
  loadPackageDefinition,
  type Client,
  type ClientDuplexStream,
  type GrpcObject,
  type ServiceClientConstructor,
} from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { protoPath as healthProtoPath } from 'grpc-health-check';
import { fileURLToPath } from 'node:url';

const reflectionProtoDir = fileURLToPath(new URL('../../node_modules/@grpc/reflection/build/proto', import.meta.url));

/** Looks up a service constructor by its dotted path in a loaded package. */
function serviceConstructor(root: GrpcObject, path: string): ServiceClientConstructor {
  let node: unknown = root;
  for (const part of path.split('.')) node = (node as GrpcObject)[part];
  if (typeof node !== 'function') throw new Error(`${path} is not a service in the loaded protos`);
  return node as ServiceClientConstructor;
}

type Callback<T> = (error: Error | null, response: T) => void;

/** grpc.health.v1 Check, through a dynamically loaded client, as a probe would call it. */
export async function healthCheck(address: string, service: string): Promise<string> {
  const Health = serviceConstructor(
    loadPackageDefinition(loadSync(healthProtoPath, { enums: String })),
    'grpc.health.v1.Health',
  );
  const client = new Health(address, credentials.createInsecure()) as unknown as Client & {
    check(request: { service: string }, callback: Callback<{ status: string }>): void;
  };
  try {
    return await new Promise((resolve, reject) =>
      client.check({ service }, (error, response) => (error ? reject(error) : resolve(response.status))),
    );
  } finally {
    client.close();
  }
}

interface ReflectionResponse {
  listServicesResponse?: { service: { name: string }[] };
}

/** The service names a server lists through grpc.reflection.v1, as grpcurl asks for them. */
export async function listServicesByReflection(address: string): Promise<string[]> {
  const definition = loadSync('grpc/reflection/v1/reflection.proto', { includeDirs: [reflectionProtoDir] });
  const Reflection = serviceConstructor(loadPackageDefinition(definition), 'grpc.reflection.v1.ServerReflection');
  const client = new Reflection(address, credentials.createInsecure()) as unknown as Client & {
    serverReflectionInfo(): ClientDuplexStream<{ listServices: string }, ReflectionResponse>;
  };
  try {
    const call = client.serverReflectionInfo();
    const response = await new Promise<ReflectionResponse>((resolve, reject) => {
      call.once('data', resolve);
      call.once('error', reject);
      call.write({ listServices: '*' });
    });
    call.end();
    return response.listServicesResponse?.service.map((service) => service.name) ?? [];
  } finally {
    client.close();
  }
}
