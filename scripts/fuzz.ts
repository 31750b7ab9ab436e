/**
 * `npm run fuzz -- --cases N [--seed S] [--concurrency C] [--model DIR] [--only I,J] [--verbose]`: the
 * seeded fuzz of the streaming calls (test/fuzz/fuzz-cases.ts) against a server started in-process on
 * 127.0.0.1:0 (the generated test model unless `--model`). Prints a status histogram, the findings with
 * what reproduces each (`--seed S --only I`), and the server's state afterwards. `--isolate` runs one case
 * at a time and checks after each that no stream or ffmpeg is left behind (to find which case leaks). Exit code 1 on an
 * undocumented status, a call that did not end, a broken per-frame answer or a server not back to its
 * baseline; 0 otherwise (INTERNAL statuses are listed as findings either way).
 */
import { parseArgs } from 'node:util';
import { DEFAULT_MODEL_DIR } from '../server/src/config.js';
import {
  checkServerAfter,
  describeAfter,
  findings,
  generateCase,
  histogram,
  leakCheck,
  makeFixtures,
  runCases,
  startFuzzServer,
  statusName,
  takeBaseline,
} from '../test/fuzz/fuzz-cases.js';

const { values } = parseArgs({
  options: {
    cases: { type: 'string', default: '300' },
    seed: { type: 'string' },
    concurrency: { type: 'string', default: '4' },
    model: { type: 'string' },
    only: { type: 'string' },
    verbose: { type: 'boolean', default: false },
    isolate: { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
});
if (values.help) {
  console.log('npm run fuzz -- --cases N [--seed S] [--concurrency C] [--model DIR|default] [--only I,J] [--verbose]');
  process.exit(0);
}
const positiveInt = (text: string, name: string) => {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0) throw new Error(`--${name} must be a whole number, got "${text}"`);
  return n;
};
const cases = positiveInt(values.cases, 'cases');
const seed = values.seed === undefined ? Date.now() % 1_000_000 : positiveInt(values.seed, 'seed');
const concurrency = values.isolate ? 1 : Math.max(1, positiveInt(values.concurrency, 'concurrency'));
const modelDir = values.model === 'default' ? DEFAULT_MODEL_DIR : values.model;
const indexes =
  values.only === undefined
    ? Array.from({ length: cases }, (_, i) => i)
    : values.only.split(',').map((s) => positiveInt(s.trim(), 'only'));

const fixtures = await makeFixtures();
let code = 1;
try {
  const server = await startFuzzServer(fixtures, modelDir);
  try {
    const baseline = await takeBaseline(server, fixtures);
    console.log(
      `fuzz: seed ${seed}, ${indexes.length} cases, ${concurrency} at a time, server ${server.address} ` +
        `(${modelDir ?? 'generated test model'}); baseline fds ${baseline.fds}, ffmpeg ${baseline.ffmpeg}`,
    );
    if (values.verbose) {
      for (const index of indexes) console.log(`case ${index}: ${generateCase(seed, index, fixtures).description}`);
    }
    const started = Date.now();
    let done = 0;
    const outcomes = await runCases(
      server.client,
      fixtures,
      seed,
      indexes,
      concurrency,
      (outcome) => {
        done++;
        if (values.verbose) {
          console.log(
            `case ${outcome.fuzzCase.index}: ${statusName(outcome.code)} "${outcome.details.slice(0, 200)}" ` +
              `${outcome.results} results, ${outcome.ms} ms [${outcome.verdict}]`,
          );
        } else if (done % 50 === 0) {
          console.log(`fuzz: ${done}/${indexes.length} cases (${((Date.now() - started) / 1000).toFixed(0)} s)`);
        }
      },
      values.isolate ? leakCheck(server, baseline) : undefined,
    );
    const after = await checkServerAfter(server, fixtures, baseline);
    console.log(`fuzz: ${outcomes.length} cases in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    console.log(histogram(outcomes));
    console.log(describeAfter(after));
    const found = findings(outcomes);
    console.log(found.length === 0 ? 'findings: none' : `findings (${found.length}):`);
    for (const line of found) console.log(`  ${line}`);
    for (const problem of after.problems) console.log(`  [after] ${problem}`);
    const failing = outcomes.filter(
      (o) => o.verdict === 'undocumented' || o.verdict === 'hang' || o.verdict === 'contract' || o.verdict === 'leak',
    );
    code = failing.length === 0 && after.problems.length === 0 ? 0 : 1;
    console.log(
      `fuzz: ${code === 0 ? 'PASS' : 'FAIL'} (${failing.length} undocumented/hang/contract, ` +
        `${outcomes.filter((o) => o.verdict === 'internal').length} INTERNAL, ` +
        `${outcomes.filter((o) => o.verdict === 'accepted-invalid').length} accepted-invalid, ` +
        `${after.problems.length} problems after); reproduce one case: npm run fuzz -- --seed ${seed} --only I --verbose`,
    );
  } finally {
    await server.stop();
  }
} finally {
  await fixtures.remove();
}
process.exit(code);
