/** `npm start`: the server, configured by flags and FUSIONSEG_* variables (see --help). */
import { runServer } from './run-server.js';

runServer(process.argv.slice(2)).catch((error: unknown) => {
  console.error(`fusionseg: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
