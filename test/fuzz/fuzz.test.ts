/**
 * The seeded, bounded fuzz of StreamFrames and ProcessVideo (test/fuzz/fuzz-cases.ts): a few hundred
 * mutated calls, 4 at a time, against a real server on the generated test model. Every call must end with
 * a documented status within its deadline; afterwards the server is SERVING, good streams return every
 * frame, and ffmpeg children and open fds are back to their baseline. INTERNAL statuses and OK answers to
 * invalid options fail it too. FUZZ_CASES and FUZZ_SEED change the run (`npm run fuzz` for
 * longer runs).
 */
import test from 'ava';
import {
  checkServerAfter,
  describeAfter,
  findings,
  histogram,
  makeFixtures,
  runCases,
  startFuzzServer,
  takeBaseline,
} from './fuzz-cases.js';

const CASES = Number(process.env['FUZZ_CASES'] ?? 300);
const SEED = Number(process.env['FUZZ_SEED'] ?? 0x5eed);
const CONCURRENCY = 4;

test.serial(`${CASES} fuzzed calls end with documented statuses and leave the server healthy`, async (t) => {
  t.timeout(170_000);
  const fixtures = await makeFixtures();
  t.teardown(() => fixtures.remove());
  const server = await startFuzzServer(fixtures, undefined);
  t.teardown(() => server.stop());
  const baseline = await takeBaseline(server, fixtures);

  const started = Date.now();
  const indexes = Array.from({ length: CASES }, (_, i) => i);
  const outcomes = await runCases(server.client, fixtures, SEED, indexes, CONCURRENCY);
  const after = await checkServerAfter(server, fixtures, baseline);

  t.log(`seed ${SEED}, ${CASES} cases, ${CONCURRENCY} at a time, ${((Date.now() - started) / 1000).toFixed(1)} s`);
  t.log(histogram(outcomes));
  t.log(describeAfter(after));
  const found = findings(outcomes);
  for (const line of found) t.log(line);

  // Hard failures: undocumented statuses, calls that did not end, broken per-frame answers, INTERNAL (a
  // client's bytes must never reach a server bug; killed decoders, the documented INTERNAL, are not fuzzed
  // here), OK answers to invalid values, a server that is not back to normal.
  const broken = outcomes.filter((o) => o.verdict !== 'ok');
  t.deepEqual(
    broken.map((o) => `${o.fuzzCase.index}: ${o.verdict} ${o.note}`),
    [],
    'calls with an undocumented status, INTERNAL, no end, an accepted invalid value, or results that break the per-frame contract (see the log)',
  );
  t.deepEqual(after.problems, []);
});
