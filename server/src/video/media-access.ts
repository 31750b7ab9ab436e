/**
 * What a client may make the server read: files only under the configured media root (no `..`, no symlink
 * escape), URLs only with an allowed scheme, each with the ffmpeg protocol whitelist that scheme needs.
 */
import { realpath, stat } from 'node:fs/promises';
import { isAbsolute, relative, resolve, sep } from 'node:path';
// The URL schemes and the ffmpeg protocols each needs are one table, shared with the client.
import { PROTOCOLS_BY_SCHEME, SUPPORTED_URL_SCHEMES } from '../../../wire/src/media-urls.js';
import { invalidArgument, notFound, permissionDenied } from '../errors.js';

export { SUPPORTED_URL_SCHEMES };

/**
 * Resolves a client-given path under `mediaRoot` to a real file path. PERMISSION_DENIED for `..`,
 * absolute paths outside the root and symlinks out of it; NOT_FOUND for a missing file.
 */
export async function resolveMediaPath(mediaRoot: string | undefined, requested: string): Promise<string> {
  if (mediaRoot === undefined) {
    throw permissionDenied('server-side paths are disabled on this server (it was started without a media root)');
  }
  if (requested === '' || requested.includes('\0')) throw invalidArgument('server_path is empty or malformed');
  if (requested.split(/[\\/]/).includes('..')) {
    throw permissionDenied(`server_path "${requested}" may not contain ".." segments`);
  }
  // The API's paths are relative to the media root: an absolute one is malformed, wherever it points.
  if (isAbsolute(requested) || /^[a-zA-Z]:[\\/]/.test(requested)) {
    throw invalidArgument(`server_path "${requested}" must be relative to the media root`);
  }
  const root = await realpath(mediaRoot);
  const candidate = resolve(root, requested);
  const inside = (path: string) => {
    const rel = relative(root, path);
    return rel !== '' && !rel.startsWith(`..${sep}`) && rel !== '..' && !isAbsolute(rel);
  };
  if (resolve(candidate) === root) throw invalidArgument(`server_path "${requested}" names the media root, not a file`);
  if (!inside(resolve(candidate))) throw permissionDenied(`server_path "${requested}" is outside the media root`);
  let real: string;
  try {
    real = await realpath(candidate);
  } catch (error: unknown) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') throw notFound(`no file "${requested}" under the media root`);
    if (code === 'EACCES') throw permissionDenied(`server_path "${requested}" cannot be read by the server`);
    if (code === 'ELOOP' || code === 'ENAMETOOLONG') throw invalidArgument(`server_path "${requested}" is malformed`);
    throw error;
  }
  if (!inside(real)) throw permissionDenied(`server_path "${requested}" leads outside the media root (symlink)`);
  if (!(await stat(real)).isFile()) throw invalidArgument(`server_path "${requested}" is not a file`);
  return real;
}

/** Checks a URL against the allowed schemes; returns it with its ffmpeg protocol whitelist. */
export function resolveMediaUrl(
  requested: string,
  allowedSchemes: readonly string[],
): { url: string; protocols: readonly string[] } {
  let url: URL;
  try {
    url = new URL(requested);
  } catch {
    throw invalidArgument(`url "${requested}" is not a valid URL`);
  }
  const scheme = url.protocol.replace(/:$/, '').toLowerCase();
  if (!allowedSchemes.includes(scheme)) {
    const allowed = allowedSchemes.length > 0 ? allowedSchemes.join(', ') : 'none (URL sources are disabled)';
    throw permissionDenied(`url scheme "${scheme}" is not allowed on this server (allowed: ${allowed})`);
  }
  const protocols = PROTOCOLS_BY_SCHEME[scheme];
  if (protocols === undefined) throw permissionDenied(`url scheme "${scheme}" is not supported`);
  return { url: url.href, protocols };
}
