/**
 * Authentication: bearer tokens (a server interceptor) and mutual TLS, on real servers on 127.0.0.1:0 with
 * real grpc-js clients and the client library. Certificates are generated here with `openssl`.
 */
import test, { type ExecutionContext } from 'ava';
import {
  credentials,
  Metadata,
  status,
  type ChannelCredentials,
  type ServerCredentials,
  type ServiceError,
} from '@grpc/grpc-js';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { FusionsegClient, FusionsegError, type ClientFrame } from '../../clients/src/client.js';
import {
  FrameResult,
  ModelInfo,
  SegmentationServiceClient,
  type FrameRequest,
  type SegmentationServiceServer,
} from '../../proto/generated/fusionseg/v1/segmentation.pb.js';
import {
  bearerAuthInterceptor,
  loadAuthTokens,
  UNAUTHENTICATED_DETAILS,
  type AuthRejection,
} from '../../server/src/grpc/auth-interceptor.js';
import { createFusionsegServer } from '../../server/src/grpc/create-server.js';
import { serverCredentials, type TlsFiles } from '../../server/src/grpc/server-credentials.js';
import { tempDir } from '../helpers/clips.js';
import { startTestService } from '../helpers/service.js';
import { healthCheck, listServicesByReflection } from '../helpers/standard-services.js';
import { makeCertificates } from '../helpers/tls-certificates.js';

const TOKEN = 'test-token-0123456789abcdef';
const OTHER_TOKEN = 'second-token-fedcba9876543210';
const info = ModelInfo.fromPartial({ name: 'auth-test', kind: 'unified', inputWidth: 64, inputHeight: 32 });

interface Started {
  /** 127.0.0.1:port; `localhost:port` for TLS clients (the certificate names both; TLS names no IP address). */
  readonly address: string;
  readonly tlsAddress: string;
  /** Metadata keys each handler call saw, in order. */
  readonly seen: string[][];
  readonly rejections: AuthRejection[];
}

/**
 * A real server whose handlers are trivial (GetModelInfo answers `info`; StreamFrames answers each frame
 * with an empty result and ends OK when the client half-closes), with the token interceptor when `tokens`
 * are given and the credentials made from `tls`.
 */
async function startServer(
  t: ExecutionContext,
  { tokens, tls = {} }: { tokens?: readonly string[]; tls?: TlsFiles } = {},
): Promise<Started> {
  const seen: string[][] = [];
  const rejections: AuthRejection[] = [];
  const segmentation: SegmentationServiceServer = {
    getModelInfo: (call, callback) => {
      seen.push(Object.keys(call.metadata.getMap()));
      callback(null, info);
    },
    streamFrames: (call) => {
      seen.push(Object.keys(call.metadata.getMap()));
      call.on('data', (request: FrameRequest) => {
        if (request.payload?.$case === 'frame')
          call.write(FrameResult.fromPartial({ frameId: request.payload.frame.frameId }));
      });
      call.on('end', () => call.end());
    },
    processVideo: (call) => {
      seen.push(Object.keys(call.metadata.getMap()));
      call.end();
    },
  };
  const server = createFusionsegServer({
    segmentation,
    interceptors:
      tokens === undefined
        ? []
        : [bearerAuthInterceptor(tokens, { onReject: (rejection) => rejections.push(rejection) })],
  });
  const credentials: ServerCredentials = await serverCredentials(tls);
  const port = await server.listen('127.0.0.1:0', credentials);
  server.setServing('SERVING');
  t.teardown(() => server.shutdown(1000));
  return { address: `127.0.0.1:${port}`, tlsAddress: `localhost:${port}`, seen, rejections };
}

function bearer(token: string, scheme = 'Bearer'): Metadata {
  const metadata = new Metadata();
  metadata.set('authorization', `${scheme} ${token}`);
  return metadata;
}

function rawClient(t: ExecutionContext, address: string, channel: ChannelCredentials = credentials.createInsecure()) {
  const client = new SegmentationServiceClient(address, channel);
  t.teardown(() => client.close());
  return client;
}

function rawGetModelInfo(client: SegmentationServiceClient, metadata = new Metadata()): Promise<ModelInfo> {
  return new Promise((resolve, reject) => {
    client.getModelInfo({ model: '' }, metadata, { deadline: Date.now() + 5000 }, (error, response) =>
      error ? reject(error) : resolve(response),
    );
  });
}

/** A StreamFrames call of one open message and one small PNG-less frame; resolves with the frame ids answered. */
function rawStreamFrames(client: SegmentationServiceClient, metadata = new Metadata()): Promise<number[]> {
  const call = client.streamFrames(metadata, { deadline: Date.now() + 5000 });
  const ids: number[] = [];
  return new Promise((resolve, reject) => {
    call.on('data', (result: FrameResult) => ids.push(result.frameId));
    call.on('error', reject);
    call.on('end', () => resolve(ids));
    call.write({ payload: { $case: 'open', open: { input: 0, containerFormat: '' } } });
    call.write({
      payload: { $case: 'frame', frame: { frameId: 7, pts: 0, image: { $case: 'jpeg', jpeg: new Uint8Array(4) } } },
    });
    call.end();
  });
}

async function unauthenticated(t: ExecutionContext, promise: Promise<unknown>): Promise<void> {
  const error = await t.throwsAsync<ServiceError>(promise);
  t.is(error.code, status.UNAUTHENTICATED, error.message);
  t.is(error.details, UNAUTHENTICATED_DETAILS);
}

async function tokensFile(t: ExecutionContext, text: string): Promise<string> {
  const file = join(await tempDir(t), 'tokens');
  await writeFile(file, text);
  return file;
}

// --- the tokens file --------------------------------------------------------------------------------------

test('loadAuthTokens reads one token a line, skipping blank lines and # comments (CRLF too)', async (t) => {
  const file = await tokensFile(t, `# ops team\n${TOKEN}\n\n   \r\n  # rotated 2024\r\n  ${OTHER_TOKEN}  \r\n`);
  t.deepEqual(await loadAuthTokens(file), [TOKEN, OTHER_TOKEN]);
});

test('loadAuthTokens refuses an empty file, a short token, a token with spaces and a missing file, naming the option', async (t) => {
  const empty = await t.throwsAsync(loadAuthTokens(await tokensFile(t, '# nothing yet\n\n')), {
    instanceOf: TypeError,
  });
  t.regex(empty.message, /^--auth-tokens-file \(FUSIONSEG_AUTH_TOKENS_FILE\): .* holds no token/);
  const short = await t.throwsAsync(loadAuthTokens(await tokensFile(t, `${TOKEN}\nshort-secret\n`)), {
    instanceOf: TypeError,
  });
  t.regex(short.message, /^--auth-tokens-file .*line 2: a token must be at least 16 characters long$/);
  t.false(short.message.includes('short-secret'), 'the token is not echoed');
  const spaced = await t.throwsAsync(loadAuthTokens(await tokensFile(t, 'two words that are long\n')), {
    instanceOf: TypeError,
  });
  t.regex(spaced.message, /line 1: a token may hold only visible ASCII characters/);
  const missing = await t.throwsAsync(loadAuthTokens('/nonexistent/tokens'), { instanceOf: TypeError });
  t.regex(missing.message, /^--auth-tokens-file .*cannot read \/nonexistent\/tokens/);
  t.throws(() => bearerAuthInterceptor([]), { instanceOf: TypeError, message: /no tokens/ });
  t.throws(() => bearerAuthInterceptor(['too-short']), { instanceOf: TypeError, message: /at least 16/ });
});

// --- bearer tokens ----------------------------------------------------------------------------------------

test('without a token, with a wrong one or another scheme: UNAUTHENTICATED before any handler runs', async (t) => {
  const { address, seen, rejections } = await startServer(t, { tokens: [TOKEN, OTHER_TOKEN] });
  const client = rawClient(t, address);
  await unauthenticated(t, rawGetModelInfo(client));
  await unauthenticated(t, rawStreamFrames(client));
  await unauthenticated(t, rawGetModelInfo(client, bearer('wrong-token-0123456789abcdef')));
  await unauthenticated(t, rawGetModelInfo(client, bearer(`${TOKEN}x`)));
  await unauthenticated(t, rawStreamFrames(client, bearer(TOKEN.slice(0, -1))));
  await unauthenticated(t, rawGetModelInfo(client, bearer(TOKEN, 'Basic')));
  t.deepEqual(seen, [], 'no handler ran');
  t.deepEqual(
    rejections.map((r) => [r.method, r.reason]),
    [
      ['/fusionseg.v1.SegmentationService/GetModelInfo', 'missing'],
      ['/fusionseg.v1.SegmentationService/StreamFrames', 'missing'],
      ['/fusionseg.v1.SegmentationService/GetModelInfo', 'unknown token'],
      ['/fusionseg.v1.SegmentationService/GetModelInfo', 'unknown token'],
      ['/fusionseg.v1.SegmentationService/StreamFrames', 'unknown token'],
      ['/fusionseg.v1.SegmentationService/GetModelInfo', 'malformed'],
    ],
  );
  t.false(JSON.stringify(rejections).includes(TOKEN.slice(0, 8)), 'rejections never carry a token');
});

test('with a right token (any of the file’s) calls work, and handlers never see the authorization header', async (t) => {
  const { address, seen } = await startServer(t, { tokens: [TOKEN, OTHER_TOKEN] });
  const client = rawClient(t, address);
  t.is((await rawGetModelInfo(client, bearer(TOKEN))).name, 'auth-test');
  t.deepEqual(await rawStreamFrames(client, bearer(OTHER_TOKEN)), [7]);
  t.deepEqual(await rawStreamFrames(client, bearer(TOKEN, 'bearer')), [7], 'the scheme is case-insensitive');
  t.is(seen.length, 3);
  for (const keys of seen) t.false(keys.includes('authorization'), keys.join(', '));
});

test('health needs no token; reflection needs one like the service', async (t) => {
  const { address } = await startServer(t, { tokens: [TOKEN] });
  t.is(await healthCheck(address, ''), 'SERVING');
  t.is(await healthCheck(address, 'fusionseg.v1.SegmentationService'), 'SERVING');
  await unauthenticated(t, listServicesByReflection(address));
  const names = await listServicesByReflection(address, bearer(TOKEN));
  t.true(names.includes('fusionseg.v1.SegmentationService'), names.join(', '));
});

test('the client library sends its token option on every call', async (t) => {
  const { address } = await startServer(t, { tokens: [TOKEN] });
  const good = new FusionsegClient(address, { token: TOKEN });
  const none = new FusionsegClient(address);
  const wrong = new FusionsegClient(address, { token: OTHER_TOKEN });
  t.teardown(() => [good, none, wrong].forEach((client) => client.close()));
  t.is((await good.getModelInfo({ deadlineMs: 5000 })).name, 'auth-test');
  const frames: ClientFrame[] = [
    { frameId: 3, jpeg: new Uint8Array(4) },
    { frameId: 4, jpeg: new Uint8Array(4) },
  ];
  const ids: number[] = [];
  for await (const { result } of good.streamFrames(frames, { deadlineMs: 5000 })) ids.push(result.frameId);
  t.deepEqual(ids, [3, 4]);
  for (const client of [none, wrong]) {
    const error = await t.throwsAsync(client.getModelInfo({ deadlineMs: 5000 }), { instanceOf: FusionsegError });
    t.is(error.code, status.UNAUTHENTICATED);
    const streamed = await t.throwsAsync(drain(client.streamFrames(frames, { deadlineMs: 5000 })), {
      instanceOf: FusionsegError,
    });
    t.is(streamed.code, status.UNAUTHENTICATED);
  }
  t.throws(() => new FusionsegClient(address, { token: 'has a space' }), { instanceOf: TypeError });
});

test('the client library: a refused stream whose writes wait for flow control ends UNAUTHENTICATED, not a hang', async (t) => {
  const { address } = await startServer(t, { tokens: [TOKEN] });
  const client = new FusionsegClient(address, { token: OTHER_TOKEN });
  t.teardown(() => client.close());
  // An endless source of 2 MiB frames: the first write already exceeds HTTP/2's window, so the writer waits
  // for 'drain', which never comes once the server has ended the call.
  function* frames(): Generator<ClientFrame> {
    const rgb24 = new Uint8Array(1024 * 682 * 3);
    for (let i = 0; ; i++) yield { frameId: i, raw: { width: 1024, height: 682, rgb24 } };
  }
  const error = await t.throwsAsync(withTimeout(drain(client.streamFrames(frames())), 10_000), {
    instanceOf: FusionsegError,
  });
  t.is(error.code, status.UNAUTHENTICATED);
  const uploaded = await t.throwsAsync(withTimeout(drain(client.processVideo({ upload: chunks() })), 10_000), {
    instanceOf: FusionsegError,
  });
  t.is(uploaded.code, status.UNAUTHENTICATED);
  async function* chunks(): AsyncGenerator<Uint8Array> {
    for (;;) yield await Promise.resolve(new Uint8Array(1024 * 1024));
  }
});

async function drain(results: AsyncIterable<unknown>): Promise<number> {
  const all: unknown[] = [];
  for await (const result of results) all.push(result);
  return all.length;
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no outcome within ${ms} ms (a hang)`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

// --- mutual TLS -------------------------------------------------------------------------------------------

const bytes = async (file: string) => new Uint8Array(await readFile(file));

test('mutual TLS: no client certificate or one from another CA fails the handshake; the right one works', async (t) => {
  const certs = await makeCertificates(t);
  const { tlsAddress: address, seen } = await startServer(t, {
    tls: { tlsCert: certs.serverCert, tlsKey: certs.serverKey, tlsClientCa: certs.ca },
  });
  const ca = await bytes(certs.ca);
  const clients = {
    none: new FusionsegClient(address, { tls: true, ca }),
    stranger: new FusionsegClient(address, {
      ca,
      cert: await bytes(certs.strangerCert),
      key: await bytes(certs.strangerKey),
    }),
    good: new FusionsegClient(address, { ca, cert: await bytes(certs.clientCert), key: await bytes(certs.clientKey) }),
  };
  t.teardown(() => Object.values(clients).forEach((client) => client.close()));
  for (const name of ['none', 'stranger'] as const) {
    const error = await t.throwsAsync(clients[name].getModelInfo({ deadlineMs: 5000 }), { instanceOf: FusionsegError });
    t.is(error.code, status.UNAVAILABLE, `${name}: ${error.message}`);
  }
  t.is(seen.length, 0, 'no call reached a handler');
  t.is((await clients.good.getModelInfo({ deadlineMs: 5000 })).name, 'auth-test');
  // A plain grpc-js client with the same certificate, too (the library is not special).
  const raw = rawClient(
    t,
    address,
    credentials.createSsl(Buffer.from(ca), await readFile(certs.clientKey), await readFile(certs.clientCert)),
  );
  t.is((await rawGetModelInfo(raw)).name, 'auth-test');
});

test('TLS without --tls-client-ca stays server-only; mutual TLS and tokens combine', async (t) => {
  const certs = await makeCertificates(t);
  const ca = await bytes(certs.ca);
  const serverOnly = await startServer(t, { tls: { tlsCert: certs.serverCert, tlsKey: certs.serverKey } });
  const anonymous = new FusionsegClient(serverOnly.tlsAddress, { tls: true, ca });
  t.teardown(() => anonymous.close());
  t.is((await anonymous.getModelInfo({ deadlineMs: 5000 })).name, 'auth-test');

  const both = await startServer(t, {
    tokens: [TOKEN],
    tls: { tlsCert: certs.serverCert, tlsKey: certs.serverKey, tlsClientCa: certs.ca },
  });
  const cert = await bytes(certs.clientCert);
  const key = await bytes(certs.clientKey);
  const withoutToken = new FusionsegClient(both.tlsAddress, { ca, cert, key });
  const withToken = new FusionsegClient(both.tlsAddress, { ca, cert, key, token: TOKEN });
  t.teardown(() => [withoutToken, withToken].forEach((client) => client.close()));
  const error = await t.throwsAsync(withoutToken.getModelInfo({ deadlineMs: 5000 }), { instanceOf: FusionsegError });
  t.is(error.code, status.UNAUTHENTICATED);
  t.is((await withToken.getModelInfo({ deadlineMs: 5000 })).name, 'auth-test');
});

test('serverCredentials refuses a client CA without a certificate, a key that does not match, unreadable files', async (t) => {
  const certs = await makeCertificates(t);
  await t.throwsAsync(serverCredentials({ tlsClientCa: certs.ca }), {
    instanceOf: TypeError,
    message: /^--tls-client-ca \(FUSIONSEG_TLS_CLIENT_CA\) needs --tls-cert/,
  });
  await t.throwsAsync(serverCredentials({ tlsCert: certs.serverCert }), {
    instanceOf: TypeError,
    message: /go together/,
  });
  await t.throwsAsync(serverCredentials({ tlsCert: certs.serverCert, tlsKey: certs.clientKey }), {
    instanceOf: TypeError,
    message: /^--tls-key \(FUSIONSEG_TLS_KEY\): .*client\.key is not usable/,
  });
  await t.throwsAsync(
    serverCredentials({ tlsCert: certs.serverCert, tlsKey: certs.serverKey, tlsClientCa: certs.serverKey }),
    {
      instanceOf: TypeError,
      message: /^--tls-client-ca .*server\.key is not usable/,
    },
  );
  await t.throwsAsync(serverCredentials({ tlsCert: join(certs.dir, 'nope.crt'), tlsKey: certs.serverKey }), {
    instanceOf: TypeError,
    message: /^--tls-cert \(FUSIONSEG_TLS_CERT\): cannot read .*nope\.crt/,
  });
  t.truthy(await serverCredentials({}));
});

// --- the whole service (startService wires the options) ------------------------------------------------------

test('the service with --auth-tokens-file: health without a token, calls and a real stream with one', async (t) => {
  const { address } = await startTestService(t, { authTokensFile: await tokensFile(t, `# clients\n${TOKEN}\n`) });
  t.is(await healthCheck(address, ''), 'SERVING');
  const anonymous = new FusionsegClient(address);
  const client = new FusionsegClient(address, { token: TOKEN });
  t.teardown(() => [anonymous, client].forEach((c) => c.close()));
  const error = await t.throwsAsync(anonymous.getModelInfo({ deadlineMs: 5000 }), { instanceOf: FusionsegError });
  t.is(error.code, status.UNAUTHENTICATED);
  t.is((await client.getModelInfo({ deadlineMs: 5000 })).name, 'unified-test');
  const rgb24 = new Uint8Array(64 * 32 * 3).fill(200);
  const frames: ClientFrame[] = [0, 1].map((frameId) => ({ frameId, raw: { width: 64, height: 32, rgb24 } }));
  const ids: number[] = [];
  for await (const { result } of client.streamFrames(frames, { deadlineMs: 20_000 })) ids.push(result.frameId);
  t.deepEqual(ids, [0, 1]);
});

test('the service refuses to start with a tokens file it cannot use, naming the option', async (t) => {
  await t.throwsAsync(startTestService(t, { authTokensFile: await tokensFile(t, 'short\n') }), {
    instanceOf: TypeError,
    message: /^--auth-tokens-file \(FUSIONSEG_AUTH_TOKENS_FILE\): .*line 1: a token must be at least 16 characters/,
  });
});

test('the service with --tls-client-ca: only clients with a certificate from that CA get through', async (t) => {
  const certs = await makeCertificates(t);
  const { service } = await startTestService(t, {
    tlsCert: certs.serverCert,
    tlsKey: certs.serverKey,
    tlsClientCa: certs.ca,
  });
  const address = `localhost:${service.port}`;
  const ca = await bytes(certs.ca);
  const without = new FusionsegClient(address, { ca });
  const stranger = new FusionsegClient(address, {
    ca,
    cert: await bytes(certs.strangerCert),
    key: await bytes(certs.strangerKey),
  });
  const good = new FusionsegClient(address, {
    ca,
    cert: await bytes(certs.clientCert),
    key: await bytes(certs.clientKey),
  });
  t.teardown(() => [without, stranger, good].forEach((c) => c.close()));
  for (const client of [without, stranger]) {
    const error = await t.throwsAsync(client.getModelInfo({ deadlineMs: 5000 }), { instanceOf: FusionsegError });
    t.is(error.code, status.UNAVAILABLE);
  }
  t.is((await good.getModelInfo({ deadlineMs: 5000 })).name, 'unified-test');
});
