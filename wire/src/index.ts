/**
 * What the server and the clients share (neither side's own code): the map codecs, the panoptic id scheme
 * and void values, the stage names, ffmpeg / ffprobe resolution, child-process helpers, the probe of a
 * video and the URL schemes a video may come from. Import the module you need (e.g.
 * `wire/src/map-codecs.js`) to load only it; this index re-exports them all.
 */
export * from './child-process.js';
export * from './map-codecs.js';
export * from './media-tools.js';
export * from './media-urls.js';
export * from './panoptic.js';
export * from './probe.js';
export * from './raw-frames.js';
export * from './stages.js';
