/**
 * ffmpeg and ffprobe binary resolution (FFMPEG_PATH / FFPROBE_PATH, a maintained build on PATH, the
 * bundled packages, any build on PATH): one implementation shared with the clients, in
 * wire/src/media-tools.ts. This module keeps the server's import path.
 */
export * from '../../../wire/src/media-tools.js';
