/**
 * `npm run demo`: starts a server in-process on the shipped default model, streams the shipped demo video
 * through it with `fusionseg stream` (tracked: each object keeps its id and colour), and writes
 * out/demo-overlay.mp4, a few PNG frames in out/demo-frames/, out/demo.ndjson and the tracks in MOTChallenge
 * form in out/demo-tracks.txt, then prints the summary.
 */
import { mkdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { main as cli } from '../clients/src/cli.js';
import { DEFAULT_MODEL_DIR } from '../server/src/config.js';
import { startService } from '../server/src/service.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const video = `${root}models/demo/street.mp4`;
const out = `${root}out`;

await mkdir(out, { recursive: true });
// The server's own log lines would interleave with the client's progress: warnings and errors only, on stderr.
const service = await startService(
  { modelDir: process.env['FUSIONSEG_MODEL'] ?? DEFAULT_MODEL_DIR, address: '127.0.0.1:0' },
  { log: pino({ level: 'warn' }, pino.destination(2)) },
);
let code = 1;
try {
  const model = service.context.engine.model;
  console.log(`demo: serving "${model.name}" on 127.0.0.1:${service.port}; streaming ${video}`);
  code = await cli([
    'stream',
    video,
    '--server',
    `127.0.0.1:${service.port}`,
    '--overlay',
    `${out}/demo-overlay.mp4`,
    '--frames-dir',
    `${out}/demo-frames`,
    '--frames-every',
    '25',
    '--json',
    `${out}/demo.ndjson`,
    '--tracks',
    `${out}/demo-tracks.txt`,
    '--summary',
  ]);
  if (code === 0) {
    console.log('demo: wrote out/demo-overlay.mp4, out/demo-frames/, out/demo.ndjson and out/demo-tracks.txt');
  }
} finally {
  await service.stop();
}
process.exit(code);
