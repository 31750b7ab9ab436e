/**
 * A per-stream HTTP proxy on 127.0.0.1 that ffmpeg is told to use (`-http_proxy`) for http and https URL
 * sources. Every connection ffmpeg makes, redirects included, passes through it, so each one is checked
 * (url-guard.ts) and goes to the address that was checked: plain http is forwarded to that address with
 * the original Host header; https is a CONNECT tunnel to that address, so ffmpeg's TLS still sends the
 * name (SNI) and verifies the certificate against it. The proxy never connects anywhere else.
 */
import { createServer, request, type IncomingMessage, type OutgoingHttpHeaders, type ServerResponse } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { MediaError } from './media-error.js';
import { resolveAllowedHost, type HostLookup, type ResolvedHost, type UrlHostAllowList } from './url-guard.js';

export interface PinnedProxy {
  /** `http://127.0.0.1:port`, for ffmpeg's `-http_proxy`. */
  readonly url: string;
  /** Requests and tunnels the proxy was asked for (checked or refused). */
  readonly requests: number;
  /** The first refused host (a MediaError of kind `forbidden-host`), if any. */
  readonly refusal: MediaError | undefined;
  /** Whether an upstream connection failed or timed out. */
  readonly upstreamFailed: boolean;
  close(): Promise<void>;
}

export interface ProxyOptions {
  readonly allow: UrlHostAllowList;
  /** Hosts already resolved and checked (the URL's own host): used as they are, never looked up again. */
  readonly resolved: readonly ResolvedHost[];
  /** Connect and silence timeout for upstream connections. */
  readonly timeoutMs: number;
  readonly log?: Logger;
  readonly lookup?: HostLookup;
  /** Redirects (and other extra connections) followed at most; more are refused. */
  readonly maxRequests?: number;
}

const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authorization',
  'proxy-authenticate',
  'te',
  'trailer',
  'upgrade',
]);

export async function startPinnedProxy(options: ProxyOptions): Promise<PinnedProxy> {
  const cache = new Map<string, Promise<ResolvedHost>>();
  for (const host of options.resolved) cache.set(host.host.toLowerCase(), Promise.resolve(host));
  const sockets = new Set<Socket | Duplex>();
  let requests = 0;
  let refusal: MediaError | undefined;
  let upstreamFailed = false;
  const maxRequests = options.maxRequests ?? 64;

  /** The checked address to connect to for `host`, or undefined (and the refusal recorded). */
  const addressOf = async (host: string): Promise<string | undefined> => {
    requests++;
    if (requests > maxRequests) {
      refusal ??= new MediaError('forbidden-host', 'the url source made too many requests (redirects)');
      return undefined;
    }
    const key = host.toLowerCase();
    let pending = cache.get(key);
    if (pending === undefined) {
      pending = resolveAllowedHost(host, options.allow, options.lookup);
      cache.set(key, pending);
    }
    try {
      return (await pending).addresses[0]?.address;
    } catch (error: unknown) {
      if (error instanceof MediaError && error.kind === 'forbidden-host') refusal ??= error;
      else upstreamFailed = true;
      options.log?.warn({ host, err: error }, 'url source: connection refused by the proxy');
      return undefined;
    }
  };

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    void (async () => {
      let target: URL;
      try {
        target = new URL(req.url ?? '');
      } catch {
        res.writeHead(400).end();
        return;
      }
      if (target.protocol !== 'http:') {
        res.writeHead(400).end();
        return;
      }
      const host = target.hostname.replace(/^\[|\]$/g, '');
      const address = await addressOf(host);
      if (address === undefined) {
        res.writeHead(403).end();
        return;
      }
      const headers: OutgoingHttpHeaders = {};
      for (const [name, value] of Object.entries(req.headers)) {
        if (!HOP_BY_HOP.has(name) && value !== undefined) headers[name] = value;
      }
      headers['host'] = target.host;
      const upstream = request({
        host: address,
        port: target.port === '' ? 80 : Number(target.port),
        method: req.method,
        path: `${target.pathname}${target.search}`,
        headers,
        setHost: false,
        timeout: options.timeoutMs,
      });
      upstream.on('timeout', () => upstream.destroy(new Error('upstream timed out')));
      upstream.on('error', (error) => {
        upstreamFailed = true;
        options.log?.warn({ host, err: error }, 'url source: upstream request failed');
        if (!res.headersSent) res.writeHead(502).end();
        else res.destroy();
      });
      upstream.on('response', (response) => {
        res.writeHead(response.statusCode ?? 502, response.headers);
        response.pipe(res);
      });
      req.pipe(upstream);
    })();
  });

  server.on('connect', (req: IncomingMessage, client: Duplex, head: Buffer) => {
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    client.on('error', () => {});
    void (async () => {
      const match = /^\[?([^\]]*?)\]?:(\d+)$/.exec(req.url ?? '');
      if (match?.[1] === undefined || match[2] === undefined) {
        client.end('HTTP/1.1 400 Bad Request\r\n\r\n');
        return;
      }
      const address = await addressOf(match[1]);
      if (address === undefined) {
        client.end('HTTP/1.1 403 Forbidden\r\n\r\n');
        return;
      }
      const upstream = connect({ host: address, port: Number(match[2]), timeout: options.timeoutMs });
      sockets.add(upstream);
      upstream.on('close', () => sockets.delete(upstream));
      upstream.on('timeout', () => upstream.destroy(new Error('upstream timed out')));
      upstream.on('error', (error) => {
        upstreamFailed = true;
        options.log?.warn({ host: match[1], err: error }, 'url source: upstream tunnel failed');
        if (client.writable) client.end('HTTP/1.1 502 Bad Gateway\r\n\r\n');
        client.destroy();
      });
      upstream.on('connect', () => {
        client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
        if (head.length > 0) upstream.write(head);
        upstream.pipe(client);
        client.pipe(upstream);
      });
    })();
  });
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  let closing: Promise<void> | undefined;
  return {
    url: `http://127.0.0.1:${port}`,
    get requests() {
      return requests;
    },
    get refusal() {
      return refusal;
    },
    get upstreamFailed() {
      return upstreamFailed;
    },
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      });
      return closing;
    },
  };
}
