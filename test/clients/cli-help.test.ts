import test from 'ava';
import { fusionseg } from '../helpers/cli.js';

for (const command of ['process', 'stream', 'info']) {
  test(`fusionseg ${command} --help (and -h) prints the command's usage and exits 0`, async (t) => {
    for (const flag of ['--help', '-h']) {
      const run = await fusionseg([command, flag]);
      t.is(run.code, 0, run.stderr);
      t.is(run.stderr, '');
      t.true(run.stdout.startsWith(`usage: fusionseg ${command} `), run.stdout);
      t.regex(run.stdout, /--server host:port/, 'with what the connection flags mean');
    }
    // --help wins over missing or invalid arguments (no server is contacted).
    const withArgs = await fusionseg([command, '--server', '127.0.0.1:1', '--help']);
    t.is(withArgs.code, 0, withArgs.stderr);
  });
}

test('fusionseg serve --help prints the server options and exits 0; fusionseg --help lists every command', async (t) => {
  const serve = await fusionseg(['serve', '--help']);
  t.is(serve.code, 0, serve.stderr);
  t.regex(serve.stdout, /^fusionseg serve \[options\]/);
  t.regex(serve.stdout, /--max-batch/);
  const help = await fusionseg(['--help']);
  t.is(help.code, 0, help.stderr);
  for (const command of ['serve', 'stream', 'process', 'info'])
    t.regex(help.stdout, new RegExp(`fusionseg ${command} `));
  t.regex(help.stdout, /Every command takes --help/);
});
