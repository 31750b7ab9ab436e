/**
 * The server's configuration, from one place: command-line flags over `FUSIONSEG_*` environment variables
 * over an optional JSON config file (`--config`) over defaults. Every value is validated here, at the edge,
 * with a message that names the key where it came from; `--print-config` shows the result.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { DEFAULT_BATCHING } from './engine/batcher.js';
import { LOG_LEVELS, type LogLevel } from './logger.js';
import { DEFAULT_STREAM_LIMITS } from './pipeline/service-context.js';
import { DEFAULT_CONTAINERS, NEVER_ALLOWED_CONTAINERS } from './video/containers.js';
import { SUPPORTED_URL_SCHEMES } from './video/media-access.js';

export interface ServerConfig {
  readonly modelDir: string;
  readonly address: string;
  readonly devices: string | undefined;
  readonly maxBatch: number;
  readonly maxDelayMs: number;
  readonly maxQueue: number;
  readonly framesInFlight: number;
  readonly fusionWorkers: number;
  readonly mediaRoot: string | undefined;
  readonly allowUrlSchemes: readonly string[];
  /** Hosts or CIDRs URL sources may reach although they resolve to loopback or private addresses. */
  readonly allowUrlHosts: readonly string[];
  /** How long ffmpeg waits for a URL source's data before the stream ends UNAVAILABLE. */
  readonly urlTimeoutMs: number;
  /** ffmpeg demuxers client media may be opened as (single-file video containers only). */
  readonly allowContainers: readonly string[];
  /** The largest declared video frame (width x height) decoded; larger is INVALID_ARGUMENT before decoding. */
  readonly maxPixels: number;
  readonly maxUploadBytes: number;
  /** Streams open at once; one more is RESOURCE_EXHAUSTED at open (never after acceptance). */
  readonly maxStreams: number;
  /** ffmpeg decoders running at once (encoded-video streams and ProcessVideo); more is RESOURCE_EXHAUSTED at open. */
  readonly maxDecoders: number;
  /** A stream with no client message and nothing in flight for this long ends DEADLINE_EXCEEDED; 0 = never. */
  readonly streamIdleTimeoutMs: number;
  readonly tlsCert: string | undefined;
  readonly tlsKey: string | undefined;
  /** PEM CA bundle: client certificates are then required and verified against it (mutual TLS). */
  readonly tlsClientCa: string | undefined;
  /** A file of bearer tokens, one a line; calls without one of them are UNAUTHENTICATED (health is exempt). */
  readonly authTokensFile: string | undefined;
  readonly drainTimeoutMs: number;
  readonly logLevel: LogLevel;
  /** JSON lines (for log collectors) or human-readable lines (for terminals). */
  readonly logFormat: LogFormat;
  /** Port of the Prometheus `/metrics` endpoint; undefined = off. */
  readonly metricsPort: number | undefined;
  /** Host `/metrics` binds to (default 127.0.0.1: not exposed unless asked). */
  readonly metricsAddress: string;
  /** The config file read, if any. */
  readonly configFile: string | undefined;
}

export const LOG_FORMATS = ['json', 'pretty'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

/** The shipped model: models/default of the package, from the sources (server/src) or the build (dist/server/src). */
export const DEFAULT_MODEL_DIR =
  [new URL('../../models/default', import.meta.url), new URL('../../../models/default', import.meta.url)]
    .map((url) => fileURLToPath(url))
    .find((dir) => existsSync(join(dir, 'model.json'))) ??
  fileURLToPath(new URL('../../models/default', import.meta.url));
export const DEFAULT_PORT = 50051;
export const DEFAULT_MAX_PIXELS = 4096 * 2160;
export const DEFAULT_MAX_STREAMS = 64;
export const DEFAULT_MAX_DECODERS = 32;

interface Option {
  readonly flag: string;
  readonly env: string;
  readonly help: string;
}

const OPTIONS = {
  model: { flag: 'model', env: 'FUSIONSEG_MODEL', help: 'model folder (default: the shipped models/default)' },
  address: {
    flag: 'address',
    env: 'FUSIONSEG_ADDRESS',
    help: `host:port to listen on (default 0.0.0.0:${DEFAULT_PORT})`,
  },
  devices: { flag: 'devices', env: 'FUSIONSEG_DEVICES', help: 'inference sessions, e.g. cpu,cpu or cuda:0,cuda:1' },
  maxBatch: {
    flag: 'max-batch',
    env: 'FUSIONSEG_MAX_BATCH',
    help: `frames per inference batch (default ${DEFAULT_BATCHING.maxBatch})`,
  },
  maxDelayMs: {
    flag: 'max-delay-ms',
    env: 'FUSIONSEG_MAX_DELAY_MS',
    help: `wait for a fuller batch (default ${DEFAULT_BATCHING.maxDelayMs})`,
  },
  maxQueue: {
    flag: 'max-queue',
    env: 'FUSIONSEG_MAX_QUEUE',
    help: `frames waiting for inference (default ${DEFAULT_BATCHING.maxQueue})`,
  },
  framesInFlight: {
    flag: 'frames-in-flight',
    env: 'FUSIONSEG_FRAMES_IN_FLIGHT',
    help: `per stream (default ${DEFAULT_STREAM_LIMITS.framesInFlight})`,
  },
  fusionWorkers: {
    flag: 'fusion-workers',
    env: 'FUSIONSEG_FUSION_WORKERS',
    help: 'fusion + encoding threads (default: half the cores)',
  },
  mediaRoot: {
    flag: 'media-root',
    env: 'FUSIONSEG_MEDIA_ROOT',
    help: 'folder ProcessVideo may read server-side files from',
  },
  allowUrlSchemes: {
    flag: 'allow-url-schemes',
    env: 'FUSIONSEG_ALLOW_URL_SCHEMES',
    help: `URL schemes ProcessVideo may open (${SUPPORTED_URL_SCHEMES.join(', ')})`,
  },
  allowUrlHosts: {
    flag: 'allow-url-hosts',
    env: 'FUSIONSEG_ALLOW_URL_HOSTS',
    help: 'hosts or CIDRs URL sources may reach although loopback/private (default none)',
  },
  urlTimeoutS: {
    flag: 'url-timeout-s',
    env: 'FUSIONSEG_URL_TIMEOUT_S',
    help: 'a URL source silent this long ends the stream UNAVAILABLE (default 10)',
  },
  allowContainers: {
    flag: 'allow-containers',
    env: 'FUSIONSEG_ALLOW_CONTAINERS',
    help: `ffmpeg demuxers media may be opened as (default ${DEFAULT_CONTAINERS.join(',')})`,
  },
  maxPixels: {
    flag: 'max-pixels',
    env: 'FUSIONSEG_MAX_PIXELS',
    help: `largest video frame, width x height (default ${DEFAULT_MAX_PIXELS}, 4096x2160)`,
  },
  maxUploadBytes: { flag: 'max-upload-bytes', env: 'FUSIONSEG_MAX_UPLOAD_BYTES', help: 'largest video upload' },
  maxStreams: {
    flag: 'max-streams',
    env: 'FUSIONSEG_MAX_STREAMS',
    help: `streams open at once (default ${DEFAULT_MAX_STREAMS})`,
  },
  maxDecoders: {
    flag: 'max-decoders',
    env: 'FUSIONSEG_MAX_DECODERS',
    help: `ffmpeg decoders at once (default ${DEFAULT_MAX_DECODERS})`,
  },
  streamIdleTimeoutS: {
    flag: 'stream-idle-timeout-s',
    env: 'FUSIONSEG_STREAM_IDLE_TIMEOUT_S',
    help: 'end a stream idle this long: no message, nothing in flight (default 60; 0 = never)',
  },
  tlsCert: {
    flag: 'tls-cert',
    env: 'FUSIONSEG_TLS_CERT',
    help: 'PEM certificate chain (TLS on when given with --tls-key)',
  },
  tlsKey: { flag: 'tls-key', env: 'FUSIONSEG_TLS_KEY', help: 'PEM private key' },
  tlsClientCa: {
    flag: 'tls-client-ca',
    env: 'FUSIONSEG_TLS_CLIENT_CA',
    help: 'PEM CA: require client certificates signed by it (mutual TLS; needs --tls-cert)',
  },
  authTokensFile: {
    flag: 'auth-tokens-file',
    env: 'FUSIONSEG_AUTH_TOKENS_FILE',
    help: 'bearer tokens, one a line: calls must send one (health is exempt)',
  },
  logLevel: { flag: 'log-level', env: 'FUSIONSEG_LOG_LEVEL', help: `${LOG_LEVELS.join(', ')} (default info)` },
  logFormat: { flag: 'log-format', env: 'FUSIONSEG_LOG_FORMAT', help: 'json (default) or pretty (for terminals)' },
  metricsPort: {
    flag: 'metrics-port',
    env: 'FUSIONSEG_METRICS_PORT',
    help: 'serve Prometheus metrics on GET /metrics at this port (off by default)',
  },
  metricsAddress: {
    flag: 'metrics-address',
    env: 'FUSIONSEG_METRICS_ADDRESS',
    help: 'host /metrics binds to (default 127.0.0.1)',
  },
  drainTimeoutS: {
    flag: 'drain-timeout-s',
    env: 'FUSIONSEG_DRAIN_TIMEOUT_S',
    help: 'on SIGTERM, how long running streams may finish (default 30)',
  },
} satisfies Record<string, Option>;

type OptionKey = keyof typeof OPTIONS;
const CONFIG_OPTION: Option = {
  flag: 'config',
  env: 'FUSIONSEG_CONFIG',
  help: `JSON file of settings keyed ${Object.keys(OPTIONS).slice(0, 3).join(', ')}, ... (flags and variables win)`,
};

export function usage(): string {
  const lines = [CONFIG_OPTION, ...Object.values(OPTIONS)].map(
    (option) => `  --${option.flag.padEnd(20)} ${option.env.padEnd(30)} ${option.help}`,
  );
  return (
    `fusionseg serve [options]\n\n  flag                   environment variable           meaning\n${lines.join('\n')}\n` +
    `  --print-config                                       print the effective configuration (JSON) and exit\n\n` +
    'Precedence: flag, then variable, then config file key (the camelCase name: maxBatch, logLevel, ...), then default.'
  );
}

/** Reads the config file: a JSON object whose keys are option names (e.g. "maxBatch"); values as strings, numbers, booleans or lists. */
function readConfigFile(path: string): Partial<Record<OptionKey, string>> {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error: unknown) {
    throw new TypeError(`--config (FUSIONSEG_CONFIG): cannot read ${path}: ${(error as Error).message}`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new TypeError(`config file ${path} must hold a JSON object of settings`);
  }
  const values: Partial<Record<OptionKey, string>> = {};
  for (const [key, value] of Object.entries(json)) {
    if (!(key in OPTIONS)) {
      throw new TypeError(`config file ${path}: unknown key "${key}" (known keys: ${Object.keys(OPTIONS).join(', ')})`);
    }
    if (Array.isArray(value) && value.every((item) => typeof item === 'string'))
      values[key as OptionKey] = value.join(',');
    else if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') {
      values[key as OptionKey] = String(value);
    } else {
      throw new TypeError(`config file ${path}: "${key}" must be a string, number, boolean or list of strings`);
    }
  }
  return values;
}

/** Whether the arguments ask for the effective configuration instead of a server. */
export function wantsPrintConfig(argv: readonly string[]): boolean {
  return argv.includes('--print-config');
}

export function parseServerConfig(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): ServerConfig {
  const { values } = parseArgs({
    args: argv.filter((arg) => arg !== '--print-config'),
    options: Object.fromEntries(
      [CONFIG_OPTION, ...Object.values(OPTIONS)].map((option) => [option.flag, { type: 'string' as const }]),
    ),
    strict: true,
    allowPositionals: false,
  });
  const configFlag = values[CONFIG_OPTION.flag];
  const configFile = typeof configFlag === 'string' ? configFlag : env[CONFIG_OPTION.env] || undefined;
  const file = configFile === undefined ? {} : readConfigFile(configFile);
  const keyOf = new Map(Object.entries(OPTIONS).map(([key, option]) => [option as Option, key as OptionKey]));
  const fromFile = (option: Option) => {
    const key = keyOf.get(option);
    return key === undefined ? undefined : file[key];
  };
  const raw = (option: Option): string | undefined => {
    const flag = values[option.flag];
    return typeof flag === 'string' ? flag : (env[option.env] ?? fromFile(option));
  };
  /** The option's names, and the file key when the value came from the file. */
  const named = (option: Option): string => {
    const fileKey =
      typeof values[option.flag] !== 'string' && env[option.env] === undefined && fromFile(option) !== undefined;
    return `--${option.flag} (${option.env}${fileKey ? `, "${keyOf.get(option)}" in ${configFile}` : ''})`;
  };
  const integer = (option: Option, fallback: number, min: number, max: number): number => {
    const text = raw(option);
    if (text === undefined || text === '') return fallback;
    const value = Number(text);
    if (!Number.isInteger(value) || value < min || value > max) {
      throw new TypeError(`${named(option)} must be an integer from ${min} to ${max}, got "${text}"`);
    }
    return value;
  };
  const schemes = (raw(OPTIONS.allowUrlSchemes) ?? '')
    .split(',')
    .map((scheme) => scheme.trim().toLowerCase())
    .filter((scheme) => scheme !== '');
  for (const scheme of schemes) {
    if (!SUPPORTED_URL_SCHEMES.includes(scheme)) {
      throw new TypeError(
        `${named(OPTIONS.allowUrlSchemes)}: "${scheme}" is not one of ${SUPPORTED_URL_SCHEMES.join(', ')}`,
      );
    }
  }
  const list = (option: Option): string[] =>
    (raw(option) ?? '')
      .split(',')
      .map((item) => item.trim())
      .filter((item) => item !== '');
  const containers =
    raw(OPTIONS.allowContainers) === undefined ? [...DEFAULT_CONTAINERS] : list(OPTIONS.allowContainers);
  for (const container of containers) {
    if (!/^[a-z0-9_]+$/.test(container)) {
      throw new TypeError(`${named(OPTIONS.allowContainers)}: "${container}" is not an ffmpeg demuxer name`);
    }
    if (NEVER_ALLOWED_CONTAINERS.includes(container)) {
      throw new TypeError(
        `${named(OPTIONS.allowContainers)}: "${container}" opens other files or URLs named in its data and is never allowed`,
      );
    }
  }
  if (containers.length === 0) throw new TypeError(`${named(OPTIONS.allowContainers)} must name at least one demuxer`);
  const urlHosts = list(OPTIONS.allowUrlHosts);
  for (const host of urlHosts) {
    if (!/^[\w.:-]+(\/\d{1,3})?$/.test(host)) {
      throw new TypeError(`${named(OPTIONS.allowUrlHosts)}: "${host}" is not a host name, address or CIDR`);
    }
  }
  const tlsCert = raw(OPTIONS.tlsCert);
  const tlsKey = raw(OPTIONS.tlsKey);
  if ((tlsCert === undefined) !== (tlsKey === undefined)) {
    throw new TypeError('--tls-cert and --tls-key (FUSIONSEG_TLS_CERT, FUSIONSEG_TLS_KEY) go together');
  }
  const tlsClientCa = raw(OPTIONS.tlsClientCa);
  if (tlsClientCa !== undefined && tlsCert === undefined) {
    throw new TypeError(`${named(OPTIONS.tlsClientCa)} needs --tls-cert and --tls-key (mutual TLS is TLS first)`);
  }
  const logLevel = raw(OPTIONS.logLevel) ?? 'info';
  if (!(LOG_LEVELS as readonly string[]).includes(logLevel)) {
    throw new TypeError(`${named(OPTIONS.logLevel)} must be one of ${LOG_LEVELS.join(', ')}, got "${logLevel}"`);
  }
  const logFormat = raw(OPTIONS.logFormat) ?? 'json';
  if (!(LOG_FORMATS as readonly string[]).includes(logFormat)) {
    throw new TypeError(`${named(OPTIONS.logFormat)} must be one of ${LOG_FORMATS.join(', ')}, got "${logFormat}"`);
  }
  const metricsText = raw(OPTIONS.metricsPort);
  return {
    configFile,
    logLevel: logLevel as LogLevel,
    logFormat: logFormat as LogFormat,
    metricsPort:
      metricsText === undefined || metricsText === '' ? undefined : integer(OPTIONS.metricsPort, 0, 0, 65_535),
    metricsAddress: raw(OPTIONS.metricsAddress) ?? '127.0.0.1',
    modelDir: raw(OPTIONS.model) ?? DEFAULT_MODEL_DIR,
    address: raw(OPTIONS.address) ?? `0.0.0.0:${DEFAULT_PORT}`,
    devices: raw(OPTIONS.devices),
    maxBatch: integer(OPTIONS.maxBatch, DEFAULT_BATCHING.maxBatch, 1, 256),
    maxDelayMs: integer(OPTIONS.maxDelayMs, DEFAULT_BATCHING.maxDelayMs, 0, 10_000),
    maxQueue: integer(OPTIONS.maxQueue, DEFAULT_BATCHING.maxQueue, 1, 1_000_000),
    framesInFlight: integer(OPTIONS.framesInFlight, DEFAULT_STREAM_LIMITS.framesInFlight, 1, 1024),
    fusionWorkers: integer(OPTIONS.fusionWorkers, Math.max(1, Math.floor(availableParallelism() / 2)), 1, 64),
    mediaRoot: raw(OPTIONS.mediaRoot),
    allowUrlSchemes: schemes,
    allowUrlHosts: urlHosts,
    urlTimeoutMs: integer(OPTIONS.urlTimeoutS, 10, 1, 3600) * 1000,
    allowContainers: containers,
    maxPixels: integer(OPTIONS.maxPixels, DEFAULT_MAX_PIXELS, 1, 2 ** 31),
    maxUploadBytes: integer(OPTIONS.maxUploadBytes, DEFAULT_STREAM_LIMITS.maxUploadBytes, 1, Number.MAX_SAFE_INTEGER),
    maxStreams: integer(OPTIONS.maxStreams, DEFAULT_MAX_STREAMS, 1, 100_000),
    maxDecoders: integer(OPTIONS.maxDecoders, DEFAULT_MAX_DECODERS, 1, 10_000),
    streamIdleTimeoutMs: integer(OPTIONS.streamIdleTimeoutS, 60, 0, 86_400) * 1000,
    tlsCert,
    tlsKey,
    tlsClientCa,
    authTokensFile: raw(OPTIONS.authTokensFile),
    drainTimeoutMs: integer(OPTIONS.drainTimeoutS, 30, 0, 86_400) * 1000,
  };
}
