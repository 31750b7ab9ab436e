/**
 * The `fusionseg` command line: serve, stream, process, info. Only `serve` loads the server (a dynamic
 * import, in that command alone): the client commands load the client library and the shared module,
 * never server/ (test/clients/no-server-imports.test.ts and the lint rule on clients/ keep it so).
 */
import { connectionHelp, exitCodeFor, UsageError } from './commands/common.js';
import { infoCommand, infoUsage } from './commands/info.js';
import { processCommand, processUsage } from './commands/process.js';
import { streamCommand, streamUsage } from './commands/stream.js';

const serveUsage = `fusionseg serve [options]
  Runs the server (gRPC service, model, ffmpeg decoding); \`fusionseg serve --help\` lists its options and
  environment variables.`;

const usage = `usage: fusionseg <command> [options]

${serveUsage}

${streamUsage}

${processUsage}

${infoUsage}

Every command takes --help.

${connectionHelp}

Exit codes: 0 ok; 1-16 the gRPC status code of the server's error; 64 usage error; 65 any other error.`;

/** Loads the server only when it is asked for: `fusionseg info` must not pay for (or need) sharp, ONNX Runtime, .... */
async function serve(argv: readonly string[]): Promise<void> {
  const { runServer } = await import('../../server/src/run-server.js');
  await runServer(argv); // runs until SIGTERM / SIGINT, then exits itself
}

export async function main(argv: readonly string[]): Promise<number> {
  const [command, ...rest] = argv;
  const controller = new AbortController();
  const onSignal = () => controller.abort();
  try {
    switch (command) {
      case 'serve':
        await serve(rest);
        return rest.includes('--help') || rest.includes('-h') ? 0 : -1;
      case 'stream':
      case 'process':
      case 'info':
        process.once('SIGINT', onSignal); // cancel the call: the server stops this stream's work
        process.once('SIGTERM', onSignal);
        await { stream: streamCommand, process: processCommand, info: infoCommand }[command](rest, controller.signal);
        return 0;
      case undefined:
      case '--help':
      case '-h':
      case 'help':
        console.log(usage);
        return command === undefined ? 64 : 0;
      default:
        throw new UsageError(`unknown command "${command}"`);
    }
  } catch (error: unknown) {
    const message = error instanceof Error ? error.message : String(error);
    console.error(`fusionseg: ${message}`);
    if (error instanceof UsageError) console.error(`run \`fusionseg --help\` for usage`);
    return exitCodeFor(error);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
