/**
 * A session worker entry for tests of the restart path (see session-faults.ts): the real session worker,
 * except that a batch holding a frame marked with `markCrash` makes the worker thread exit with
 * `CRASH_EXIT_CODE` before the batch runs.
 */
import { parentPort } from 'node:worker_threads';
import type { ToWorker } from '../../server/src/engine/worker-protocol.js';
import { CRASH_EXIT_CODE, isMarkedCrash } from './session-faults.js';

if (parentPort === null) throw new Error('crashing-session-worker.ts runs only as a worker thread');
// Listens before the real worker does, so a marked batch never reaches the session.
parentPort.on('message', (message: ToWorker) => {
  if (message.frames.some(isMarkedCrash)) process.exit(CRASH_EXIT_CODE);
});
await import('../../server/src/engine/session-worker.js');
