import test from 'ava';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Status } from '../../server/src/errors.js';

const execFileAsync = promisify(execFile);
const script = fileURLToPath(new URL('./fixtures/spawn-until-failure.ts', import.meta.url));

test('out of fds (ulimit -n 64), a decoder that cannot spawn fails alone and the process lives on', async (t) => {
  const { stdout } = await execFileAsync('bash', ['-c', 'ulimit -n 64; exec node --import tsx "$0"', script], {
    cwd: fileURLToPath(new URL('../..', import.meta.url)),
    timeout: 60_000,
  });
  const report = JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}') as {
    started: number;
    failure?: { kind: string; code: number; details: string };
  };
  t.truthy(report.failure, 'some spawn failed under the fd limit');
  t.is(report.failure?.kind, 'spawn-failed');
  t.is(report.failure?.code, Status.RESOURCE_EXHAUSTED);
  t.regex(report.failure?.details ?? '', /out of resources to start a decoder \((EMFILE|ENFILE|EAGAIN)\)/);
  t.true(report.started > 1 && report.started < 200);
});
