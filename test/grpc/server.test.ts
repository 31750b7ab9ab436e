import { silentLogger } from '../../server/src/logger.js';
import test, { type ExecutionContext } from 'ava';
import { credentials, Metadata, status, type ServiceError } from '@grpc/grpc-js';
import {
  ModelInfo,
  SegmentationServiceClient,
  type SegmentationServiceServer,
} from '../../proto/generated/fusionseg/v1/segmentation.pb.js';
import { createFusionsegServer, SEGMENTATION_SERVICE_NAME } from '../../server/src/grpc/create-server.js';
import { ServerError, Status } from '../../server/src/errors.js';
import { toGrpcError } from '../../server/src/grpc/to-grpc-error.js';
import { healthCheck, listServicesByReflection } from '../helpers/standard-services.js';

const info = ModelInfo.fromPartial({
  name: 'test-model',
  kind: 'unified',
  inputWidth: 512,
  inputHeight: 256,
  labelSpace: { name: 'cityscapes', classes: [{ id: 13, name: 'car', category: 'vehicle', isThing: true }] },
});

const notBuiltHere = (name: string) => () => {
  throw new Error(`${name} is not part of this test`);
};

/** A real server on 127.0.0.1:0 whose GetModelInfo answers from `info`, or fails with `failure`. */
async function startServer(t: ExecutionContext, failure?: unknown) {
  const segmentation: SegmentationServiceServer = {
    streamFrames: notBuiltHere('streamFrames'),
    processVideo: notBuiltHere('processVideo'),
    getModelInfo: (call, callback) => {
      if (failure !== undefined) callback(toGrpcError(failure, silentLogger()));
      else callback(null, call.request.model === '' ? info : { ...info, name: call.request.model });
    },
  };
  const server = createFusionsegServer({ segmentation });
  const port = await server.listen('127.0.0.1:0');
  t.teardown(() => server.shutdown(1000));
  return { server, address: `127.0.0.1:${port}` };
}

function getModelInfo(client: SegmentationServiceClient, model = ''): Promise<ModelInfo> {
  return new Promise((resolve, reject) => {
    client.getModelInfo({ model }, new Metadata(), { deadline: Date.now() + 5000 }, (error, response) =>
      error ? reject(error) : resolve(response),
    );
  });
}

test('the generated client and a real server on 127.0.0.1:0 exchange a call', async (t) => {
  const { address } = await startServer(t);
  const client = new SegmentationServiceClient(address, credentials.createInsecure());
  t.teardown(() => client.close());
  t.deepEqual(await getModelInfo(client), info);
  t.is((await getModelInfo(client, 'other')).name, 'other');
});

test('a ServerError reaches the client with its code and details; other errors become INTERNAL', async (t) => {
  for (const [failure, code, details] of [
    [new ServerError(Status.NOT_FOUND, 'no model named "x"'), status.NOT_FOUND, 'no model named "x"'],
    [new Error('secret internals'), status.INTERNAL, 'internal server error (logged on the server)'],
  ] as const) {
    const { address } = await startServer(t, failure);
    const client = new SegmentationServiceClient(address, credentials.createInsecure());
    const error = await t.throwsAsync<ServiceError>(getModelInfo(client));
    client.close();
    t.is(error.code, code);
    t.is(error.details, details);
  }
});

test('health reports NOT_SERVING until the server is marked serving', async (t) => {
  const { server, address } = await startServer(t);
  t.is(await healthCheck(address, SEGMENTATION_SERVICE_NAME), 'NOT_SERVING');
  server.setServing('SERVING');
  t.is(await healthCheck(address, ''), 'SERVING');
  t.is(await healthCheck(address, SEGMENTATION_SERVICE_NAME), 'SERVING');
});

test('server reflection lists the segmentation and health services', async (t) => {
  const { address } = await startServer(t);
  const names = await listServicesByReflection(address);
  t.true(names.includes(SEGMENTATION_SERVICE_NAME), names.join(', '));
  t.true(names.includes('grpc.health.v1.Health'), names.join(', '));
});
