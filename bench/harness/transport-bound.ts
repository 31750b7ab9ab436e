/**
 * Transport alone: a gRPC echo on loopback that answers each frame-sized request with a result-sized
 * response, with the same streams, frames in flight and message limits as the service. What the service
 * would reach if decoding, inference, fusion and encoding cost nothing.
 */
import {
  Server,
  ServerCredentials,
  credentials,
  makeGenericClientConstructor,
  type ClientDuplexStream,
  type ServerDuplexStream,
  type ServiceDefinition,
} from '@grpc/grpc-js';
import { serverChannelOptions } from '../../server/src/grpc/server-options.js';
import { LoadSample } from './sample.js';

const identity = (buffer: Buffer) => buffer;
const ECHO: ServiceDefinition = {
  echo: {
    path: '/fusionseg.bench.Echo/Echo',
    requestStream: true,
    responseStream: true,
    requestSerialize: identity,
    requestDeserialize: identity,
    responseSerialize: identity,
    responseDeserialize: identity,
  },
};

export interface TransportLoad {
  readonly streams: number;
  readonly inFlight: number;
  readonly seconds: number;
  readonly requestBytes: number;
  readonly responseBytes: number;
}

export interface TransportFigures {
  readonly streams: number;
  readonly fps: number;
  readonly p50: number;
  readonly p95: number;
}

/** Starts the echo server once; measure() runs one load against it. */
export async function startEcho(): Promise<{
  measure(load: TransportLoad): Promise<LoadSample>;
  close(): Promise<void>;
}> {
  let response = Buffer.alloc(0);
  const server = new Server(serverChannelOptions());
  server.addService(ECHO, {
    echo: (call: ServerDuplexStream<Buffer, Buffer>) => {
      call.on('data', () => {
        if (!call.write(response)) {
          call.pause();
          call.once('drain', () => call.resume());
        }
      });
      call.on('end', () => call.end());
      call.on('error', () => {});
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (error, bound) =>
      error ? reject(error) : resolve(bound),
    ),
  );
  const EchoClient = makeGenericClientConstructor(ECHO, 'Echo');
  const client = new EchoClient(`127.0.0.1:${port}`, credentials.createInsecure(), {
    'grpc.max_receive_message_length': 64 * 1024 * 1024,
    'grpc.max_send_message_length': 64 * 1024 * 1024,
  }) as unknown as { echo(): ClientDuplexStream<Buffer, Buffer>; close(): void };

  async function measure(load: TransportLoad): Promise<LoadSample> {
    response = Buffer.alloc(Math.round(load.responseBytes), 7);
    const request = Buffer.alloc(load.requestBytes, 3);
    const sample = new LoadSample();
    const started = performance.now();
    const deadline = started + load.seconds * 1000;
    let lastResult = started;
    const oneStream = () =>
      new Promise<void>((resolve, reject) => {
        const call = client.echo();
        const sentAt: number[] = [];
        const send = () => {
          if (performance.now() >= deadline) {
            if (sentAt.length === 0) call.end();
            return;
          }
          sentAt.push(performance.now());
          call.write(request);
        };
        call.on('data', () => {
          const now = performance.now();
          sample.frames++;
          sample.latencies.push(now - sentAt.shift()!);
          lastResult = now;
          send();
          if (sentAt.length === 0 && now >= deadline) call.end();
        });
        call.on('end', resolve);
        call.on('error', reject);
        for (let i = 0; i < load.inFlight; i++) send();
      });
    await Promise.all(Array.from({ length: load.streams }, oneStream));
    sample.elapsedMs = lastResult - started;
    return sample;
  }

  return {
    measure,
    close: async () => {
      client.close();
      await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
    },
  };
}
