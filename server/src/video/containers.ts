/**
 * The containers (ffmpeg demuxers) a client's media may be opened as. Only single-file video containers:
 * playlists (HLS, DASH), concat lists, image sequences and other formats that name further files or URLs
 * inside the data would let a client make ffmpeg read what it should not, so they are never on the list.
 */

/** ffmpeg demuxer names allowed by default (`--allow-containers`). A name matches a demuxer that lists it
 * (ffmpeg's "mov,mp4,m4a,3gp,3g2,mj2" demuxer is allowed by "mp4"). */
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
