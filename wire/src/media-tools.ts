/**
 * Finds the ffmpeg and ffprobe executables (for the server's decoders and the client's local decoding and
 * overlay encoding alike), in one documented order:
 *
 * 1. the `FFMPEG_PATH` / `FFPROBE_PATH` environment variable (an override that must work when set);
 * 2. `ffmpeg` / `ffprobe` on `PATH` when it is version 5.0 or newer (a maintained build, e.g. Debian's, that
 *    gets decoder security fixes: it decodes untrusted input);
 * 3. ffmpeg-static's binary, when its install step managed to download it (ffmpeg only);
 * 4. the binary shipped inside an npm package (`@ffmpeg-installer/ffmpeg`, `@ffprobe-installer/ffprobe`;
 *    the ffmpeg one is a 2018 build);
 * 5. `ffmpeg` / `ffprobe` on `PATH` of any version.
 *
 * `describeBinary` tells which one was chosen, its version and whether it is older than 5.0, for the
 * start-up log line (and its warning).
 */
import { execFileSync } from 'node:child_process';
import { accessSync, constants, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { delimiter, join } from 'node:path';

export type MediaTool = 'ffmpeg' | 'ffprobe';

/** Where a resolved binary came from. */
export type BinarySource = 'env' | 'system' | 'ffmpeg-static' | 'npm-package' | 'path';

export interface ResolvedBinary {
  readonly tool: MediaTool;
  readonly path: string;
  readonly source: BinarySource;
}

/** A place to look for a binary, in order; `locate` returns a path or undefined. */
export interface BinaryCandidate {
  readonly source: BinarySource;
  readonly description: string;
  readonly locate: () => string | undefined;
}

export interface ResolveOptions {
  /** Environment to read the override and PATH from; defaults to `process.env`. */
  readonly env?: NodeJS.ProcessEnv;
  /** The npm-package candidates; tests replace them to simulate a host without them. */
  readonly packageCandidates?: readonly BinaryCandidate[];
  /** Reads a binary's `-version` text (undefined when it does not run); tests replace it. */
  readonly versionOf?: (path: string) => string | undefined;
}

/** What a resolved binary is: for the start-up log line, and a warning when it is old. */
export interface BinaryDescription extends ResolvedBinary {
  /** The first line of `-version`, e.g. "ffmpeg version 5.1.6-0+deb12u1 Copyright (c) 2000-2024 ...". */
  readonly versionLine: string;
  /** The release, e.g. "5.1.6", or a git build's name ("N-47683-g0e8eb07980-static"); undefined when unknown. */
  readonly version: string | undefined;
  /** Older than 5.0 (or of unknown age): no decoder security fixes for years. */
  readonly olderThan5: boolean;
}

/** The lowest major version preferred from PATH over the bundled builds. */
export const MAINTAINED_MAJOR = 5;

const require = createRequire(import.meta.url);

const envVariable: Record<MediaTool, string> = { ffmpeg: 'FFMPEG_PATH', ffprobe: 'FFPROBE_PATH' };

/** Thrown when no usable binary exists; the message lists every place that was tried. */
export class MissingBinaryError extends Error {
  constructor(
    readonly tool: MediaTool,
    readonly tried: readonly string[],
  ) {
    super(
      `${tool} not found. Tried, in order:\n${tried.map((line) => `  - ${line}`).join('\n')}\n` +
        `Set ${envVariable[tool]} to an ${tool} executable, reinstall the npm packages (npm ci), ` +
        `or install ${tool} on PATH (Debian: apt-get install ffmpeg).`,
    );
    this.name = 'MissingBinaryError';
  }
}

function isExecutableFile(path: string): boolean {
  try {
    if (!statSync(path).isFile()) return false;
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The default npm-package candidates for a tool; each swallows a missing or unsupported package. */
export function defaultPackageCandidates(tool: MediaTool): BinaryCandidate[] {
  // Each package named literally (not through a variable), so that what this module can load is plain to read.
  const fromModule = (load: () => unknown, pick: (exported: unknown) => unknown) => () => {
    try {
      const value = pick(load());
      return typeof value === 'string' ? value : undefined;
    } catch {
      return undefined; // optional dependency absent, or no binary for this platform
    }
  };
  const installerPath = (exported: unknown) =>
    typeof exported === 'object' && exported !== null ? (exported as { path?: unknown }).path : undefined;
  if (tool === 'ffmpeg') {
    return [
      {
        source: 'ffmpeg-static',
        description: 'the ffmpeg-static package',
        locate: fromModule(
          () => require('ffmpeg-static'),
          (exported) => exported,
        ),
      },
      {
        source: 'npm-package',
        description: 'the @ffmpeg-installer/ffmpeg package',
        locate: fromModule(() => require('@ffmpeg-installer/ffmpeg'), installerPath),
      },
    ];
  }
  return [
    {
      source: 'npm-package',
      description: 'the @ffprobe-installer/ffprobe package',
      locate: fromModule(() => require('@ffprobe-installer/ffprobe'), installerPath),
    },
  ];
}

function findOnPath(tool: MediaTool, env: NodeJS.ProcessEnv): string | undefined {
  const names = process.platform === 'win32' ? [`${tool}.exe`] : [tool];
  for (const dir of (env['PATH'] ?? '').split(delimiter)) {
    if (dir === '') continue;
    for (const name of names) {
      const candidate = join(dir, name);
      if (isExecutableFile(candidate)) return candidate;
    }
  }
  return undefined;
}

/**
 * Resolves `tool` in the documented order. An override variable that is set but does not name an
 * executable is an error rather than silently skipped, so a typo never runs a different ffmpeg.
 */
export function resolveBinary(tool: MediaTool, options: ResolveOptions = {}): ResolvedBinary {
  const env = options.env ?? process.env;
  const variable = envVariable[tool];
  const override = env[variable];
  if (override !== undefined && override !== '') {
    if (isExecutableFile(override)) return { tool, path: override, source: 'env' };
    throw new MissingBinaryError(tool, [`${variable}=${override}: not an executable file`]);
  }
  const tried = [`${variable}: not set`];
  const versionOf = options.versionOf ?? readVersion;
  const onPath = findOnPath(tool, env);
  if (onPath !== undefined) {
    const text = versionOf(onPath);
    if (text !== undefined && !isOlderThan5(text)) return { tool, path: onPath, source: 'system' };
    tried.push(`${tool} on PATH (${onPath}): ${text === undefined ? 'does not run' : 'older than 5.0'}`);
  }
  for (const candidate of options.packageCandidates ?? defaultPackageCandidates(tool)) {
    const path = candidate.locate();
    if (path !== undefined && isExecutableFile(path)) return { tool, path, source: candidate.source };
    tried.push(`${candidate.description}: ${path === undefined ? 'not installed' : `${path} is not executable`}`);
  }
  if (onPath !== undefined) return { tool, path: onPath, source: 'path' };
  tried.push(`${tool} on PATH: not found`);
  throw new MissingBinaryError(tool, tried);
}

const versions = new Map<string, string | undefined>();

/** The first line of `path -version`, cached; undefined when it does not run. */
function readVersion(path: string): string | undefined {
  if (!versions.has(path)) {
    let line: string | undefined;
    try {
      const text = execFileSync(path, ['-version'], { timeout: 10_000, stdio: ['ignore', 'pipe', 'ignore'] });
      line = text.toString().split('\n')[0]?.trim();
    } catch {
      line = undefined;
    }
    versions.set(path, line === '' ? undefined : line);
  }
  return versions.get(path);
}

/** The version in a `-version` line: "5.1.6-0+deb12u1", or a git build's "N-47683-g0e8eb07980-static". */
export function parseVersion(versionLine: string): string | undefined {
  return /^\S+ version (\S+)/.exec(versionLine)?.[1];
}

/**
 * Whether a `-version` line names a build older than 5.0. A release says its number; a git build ("N-…")
 * does not, so its copyright year decides (5.0 came out in January 2022).
 */
export function isOlderThan5(versionLine: string): boolean {
  const version = parseVersion(versionLine);
  const release = version === undefined ? null : /^n?(\d+)\.(\d+)/.exec(version);
  if (release !== null) return Number(release[1]) < MAINTAINED_MAJOR;
  const year = /Copyright \(c\) \d{4}-(\d{4})/.exec(versionLine)?.[1];
  return year === undefined || Number(year) < 2022;
}

/** Describes a resolved binary: its `-version` line, version and whether it is older than 5.0. */
export function describeBinary(
  binary: ResolvedBinary,
  versionOf: (path: string) => string | undefined = readVersion,
): BinaryDescription {
  const versionLine = versionOf(binary.path) ?? 'unknown (-version did not run)';
  return { ...binary, versionLine, version: parseVersion(versionLine), olderThan5: isOlderThan5(versionLine) };
}

const resolved = new Map<MediaTool, ResolvedBinary>();

/** The process-wide ffmpeg, resolved once. */
export function ffmpegBinary(): ResolvedBinary {
  return cachedResolve('ffmpeg');
}

/** The process-wide ffprobe, resolved once. */
export function ffprobeBinary(): ResolvedBinary {
  return cachedResolve('ffprobe');
}

function cachedResolve(tool: MediaTool): ResolvedBinary {
  let binary = resolved.get(tool);
  if (binary === undefined) {
    binary = resolveBinary(tool);
    resolved.set(tool, binary);
  }
  return binary;
}
