import { invalidArgument } from '../errors.js';

/**
 * The containers (ffmpeg demuxers) a client's media may be opened as. Only single-file video containers:
 * playlists (HLS, DASH), concat lists, image sequences and other formats that name further files or URLs
 * inside the data would let a client make ffmpeg read what it should not, so they are never on the list.
 */

/** ffmpeg demuxer names allowed by default (`--allow-containers`). A name matches a demuxer that lists it
 * (ffmpeg's "mov,mp4,m4a,3gp,3g2,mj2" demuxer is allowed by "mp4"). Every name is a demuxer of both the
 * 2018 @ffmpeg-installer build (N-47683) and Debian 12's ffmpeg 5.1, and opens one file only (test/video/
 * containers.test.ts checks this against the resolved ffmpeg). */
export const DEFAULT_CONTAINERS: readonly string[] = [
  'mov',
  'mp4',
  'matroska',
  'webm',
  'avi',
  'mpegts',
  'flv',
  'h264',
  'hevc',
  'ivf',
  'nut',
  'ogg',
  'mpeg',
  'asf',
  'mjpeg',
];

/** Demuxers that open other files or URLs named inside their data: refused even when configured. */
export const NEVER_ALLOWED_CONTAINERS: readonly string[] = [
  'hls',
  'applehttp',
  'dash',
  'concat',
  'image2',
  'image2pipe',
  'ffconcat',
  'mpd',
  'tee',
  'sdp',
  'rtsp',
  'data',
  'subviewer',
  'webm_dash_manifest',
  'imf',
];

/**
 * ffmpeg's `-format_whitelist` for a configured list: lower-cased, without the names that are never allowed
 * (a configuration that names them is refused at start-up; this is the second line).
 */
export function demuxerWhitelist(allowed: readonly string[]): string[] {
  const names = [...new Set(allowed.map((name) => name.trim().toLowerCase()))].filter(
    (name) => /^[a-z0-9_]+$/.test(name) && !NEVER_ALLOWED_CONTAINERS.includes(name),
  );
  if (names.length === 0) throw new TypeError('no container is allowed (allowContainers is empty)');
  return names;
}

/**
 * The demuxer a client named (`container_format`), checked against the allowed ones: the whitelist that
 * ffmpeg then gets is that one name. Throws INVALID_ARGUMENT naming the allowed containers.
 */
export function requestedContainer(format: string, allowed: readonly string[]): string[] {
  const whitelist = demuxerWhitelist(allowed);
  const name = format.trim().toLowerCase();
  if (!whitelist.includes(name)) {
    throw invalidArgument(
      `container_format "${format}" is not accepted by this server (allowed: ${whitelist.join(', ')})`,
    );
  }
  return [name];
}
