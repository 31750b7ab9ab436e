/**
 * Finds the ffmpeg and ffprobe executables, in one documented order:
 *
 * 1. the `FFMPEG_PATH` / `FFPROBE_PATH` environment variable (an override that must work when set);
 * 2. ffmpeg-static's binary, when its install step managed to download it (ffmpeg only);
 * 3. the binary shipped inside an npm package (`@ffmpeg-installer/ffmpeg`, `@ffprobe-installer/ffprobe`);
 * 4. `ffmpeg` / `ffprobe` on `PATH`.
 */
import { accessSync, constants, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { delimiter, join } from 'node:path';

export type MediaTool = 'ffmpeg' | 'ffprobe';

/** Where a resolved binary came from. */
export type BinarySource = 'env' | 'ffmpeg-static' | 'npm-package' | 'path';

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
}

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
  const fromModule = (moduleName: string, pick: (exported: unknown) => unknown) => () => {
    try {
      const value = pick(require(moduleName));
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
        locate: fromModule('ffmpeg-static', (exported) => exported),
      },
      {
        source: 'npm-package',
        description: 'the @ffmpeg-installer/ffmpeg package',
        locate: fromModule('@ffmpeg-installer/ffmpeg', installerPath),
      },
    ];
  }
  return [
    {
      source: 'npm-package',
      description: 'the @ffprobe-installer/ffprobe package',
      locate: fromModule('@ffprobe-installer/ffprobe', installerPath),
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
  for (const candidate of options.packageCandidates ?? defaultPackageCandidates(tool)) {
    const path = candidate.locate();
    if (path !== undefined && isExecutableFile(path)) return { tool, path, source: candidate.source };
    tried.push(`${candidate.description}: ${path === undefined ? 'not installed' : `${path} is not executable`}`);
  }
  const onPath = findOnPath(tool, env);
  if (onPath !== undefined) return { tool, path: onPath, source: 'path' };
  tried.push(`${tool} on PATH: not found`);
  throw new MissingBinaryError(tool, tried);
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
