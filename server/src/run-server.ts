/** `npm start` / `fusionseg serve`: runs the server until SIGTERM or SIGINT, then drains and exits. */
import { parseServerConfig, usage, wantsPrintConfig } from './config.js';
import { createLogger } from './logger.js';
import { startService } from './service.js';
import { describeBinary, ffmpegBinary, ffprobeBinary } from './video/ffmpeg.js';

/** Runs the server with command-line arguments; resolves once it listens (it then runs until a signal). */
export async function runServer(argv: readonly string[]): Promise<void> {
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log(usage());
    return;
  }
  const config = parseServerConfig(argv);
  if (wantsPrintConfig(argv)) {
    console.log(JSON.stringify(config, (_key, value: unknown) => (value === undefined ? null : value), 2));
    return;
  }
  const log = createLogger(config.logLevel, config.logFormat);
  // ffmpeg decodes what clients send: say which build it is, and warn when it is an old one.
  for (const binary of [ffmpegBinary(), ffprobeBinary()].map((found) => describeBinary(found))) {
    const fields = { tool: binary.tool, path: binary.path, source: binary.source, version: binary.versionLine };
    if (binary.olderThan5) {
      log.warn(
        fields,
        `${binary.tool} is an old build (before 5.0) and decodes untrusted input: install a maintained one ` +
          '(Debian: apt-get install ffmpeg) or set FFMPEG_PATH / FFPROBE_PATH',
      );
    } else log.info(fields, `using ${binary.tool} ${binary.version ?? ''}`.trim());
  }
  const service = await startService(config, {
    log,
    onListening: (port) => log.info({ port }, `listening on port ${port}; loading the model (health NOT_SERVING)`),
  });
  const { engine } = service.context;
  log.info(
    {
      model: engine.model.name,
      devices: engine.devices.map((d) => d.name),
      port: service.port,
      metricsPort: service.metricsPort,
    },
    `serving model "${engine.model.name}" (${engine.model.input.width}x${engine.model.input.height}) ` +
      `on ${config.address.replace(/:\d+$/, '')}:${service.port}`,
  );
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, `draining: running streams may finish for up to ${config.drainTimeoutMs / 1000} s`);
    service.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        log.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}
