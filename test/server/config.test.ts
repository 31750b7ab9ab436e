import test from 'ava';
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { DEFAULT_MODEL_DIR, parseServerConfig } from '../../server/src/config.js';
import { tempDir } from '../helpers/clips.js';

const execFileAsync = promisify(execFile);
const ROOT = fileURLToPath(new URL('../..', import.meta.url));

test('defaults: the shipped model, port 50051, info logs', (t) => {
  const config = parseServerConfig([], {});
  t.is(config.modelDir, DEFAULT_MODEL_DIR);
  t.is(config.address, '0.0.0.0:50051');
  t.is(config.logLevel, 'info');
  t.is(config.maxBatch, 4);
  t.deepEqual(config.allowUrlSchemes, []);
});

test('flags win over FUSIONSEG_* variables', (t) => {
  const env = { FUSIONSEG_MAX_BATCH: '2', FUSIONSEG_LOG_LEVEL: 'debug', FUSIONSEG_MEDIA_ROOT: '/media' };
  const config = parseServerConfig(['--max-batch', '8', '--allow-url-schemes', 'rtsp,HTTPS'], env);
  t.is(config.maxBatch, 8);
  t.is(config.logLevel, 'debug');
  t.is(config.mediaRoot, '/media');
  t.deepEqual(config.allowUrlSchemes, ['rtsp', 'https']);
});

test('bad values name the flag and its variable', (t) => {
  t.throws(() => parseServerConfig(['--max-queue', 'lots'], {}), {
    instanceOf: TypeError,
    message: '--max-queue (FUSIONSEG_MAX_QUEUE) must be an integer from 1 to 1000000, got "lots"',
  });
  t.throws(() => parseServerConfig([], { FUSIONSEG_LOG_LEVEL: 'loud' }), {
    message: /--log-level \(FUSIONSEG_LOG_LEVEL\) must be one of/,
  });
  t.throws(() => parseServerConfig(['--allow-url-schemes', 'file'], {}), {
    message: /"file" is not one of http, https/,
  });
  t.throws(() => parseServerConfig(['--tls-cert', 'a.pem'], {}), { message: /--tls-cert and --tls-key/ });
  t.throws(() => parseServerConfig(['--no-such-flag'], {}));
});

test('one precedence: flag, then variable, then config file, then default', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'config.json');
  await writeFile(
    file,
    JSON.stringify({
      maxBatch: 2,
      maxQueue: 99,
      logLevel: 'warn',
      allowUrlSchemes: ['https'],
      metricsPort: 9464,
      drainTimeoutS: 5,
    }),
  );
  const config = parseServerConfig(['--config', file, '--max-batch', '8'], {
    FUSIONSEG_MAX_QUEUE: '7',
    FUSIONSEG_LOG_LEVEL: 'debug',
  });
  t.is(config.maxBatch, 8); // flag over file
  t.is(config.maxQueue, 7); // variable over file
  t.is(config.logLevel, 'debug');
  t.deepEqual(config.allowUrlSchemes, ['https']); // file over default
  t.is(config.metricsPort, 9464);
  t.is(config.drainTimeoutMs, 5000);
  t.is(config.maxDelayMs, 5); // default
  t.is(config.configFile, file);
  // FUSIONSEG_CONFIG names the file too.
  t.is(parseServerConfig([], { FUSIONSEG_CONFIG: file }).maxBatch, 2);
});

test('config file mistakes name the file and the key', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'config.json');
  await writeFile(file, JSON.stringify({ maxBatch: 0 }));
  t.throws(() => parseServerConfig(['--config', file], {}), {
    message: `--max-batch (FUSIONSEG_MAX_BATCH, "maxBatch" in ${file}) must be an integer from 1 to 256, got "0"`,
  });
  await writeFile(file, JSON.stringify({ maxBatchSize: 4 }));
  t.throws(() => parseServerConfig(['--config', file], {}), {
    message: /unknown key "maxBatchSize" \(known keys: model, address/,
  });
  await writeFile(file, JSON.stringify({ devices: { a: 1 } }));
  t.throws(() => parseServerConfig(['--config', file], {}), {
    message: /"devices" must be a string, number, boolean or list/,
  });
  await writeFile(file, '{ not json');
  t.throws(() => parseServerConfig(['--config', file], {}), { message: /--config \(FUSIONSEG_CONFIG\): cannot read/ });
  t.throws(() => parseServerConfig(['--config', join(dir, 'missing.json')], {}), {
    message: /cannot read .*missing\.json/,
  });
  t.throws(() => parseServerConfig(['--log-format', 'xml'], {}), {
    message: /--log-format \(FUSIONSEG_LOG_FORMAT\) must be one of json, pretty/,
  });
  t.throws(() => parseServerConfig(['--metrics-port', '70000'], {}), { message: /--metrics-port .* from 0 to 65535/ });
});

test('fusionseg serve --print-config prints the effective configuration and exits', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'config.json');
  await writeFile(file, JSON.stringify({ maxBatch: 2 }));
  const { stdout } = await execFileAsync(
    process.execPath,
    ['--import', 'tsx', 'server/src/main.ts', '--config', file, '--print-config'],
    {
      cwd: ROOT,
      env: { ...process.env, FUSIONSEG_MAX_QUEUE: '11' },
    },
  );
  const printed = JSON.parse(stdout) as Record<string, unknown>;
  t.like(printed, { maxBatch: 2, maxQueue: 11, configFile: file, metricsPort: null, logFormat: 'json' });
  t.is(printed.modelDir, DEFAULT_MODEL_DIR);
});

test('--log-format pretty writes readable lines, not JSON', async (t) => {
  const dir = await tempDir(t);
  const error = await t.throwsAsync<Error & { stdout: string; stderr: string }>(
    execFileAsync(
      process.execPath,
      [
        '--import',
        'tsx',
        'server/src/main.ts',
        '--log-format',
        'pretty',
        '--address',
        '127.0.0.1:0',
        '--model',
        join(dir, 'none'),
      ],
      { cwd: ROOT, env: { ...process.env, NO_COLOR: '1' } },
    ),
  );
  const lines = (error?.stdout ?? '').trim().split('\n');
  t.true(lines.length >= 2);
  t.regex(lines[0]!, /INFO.*using ffmpeg|WARN.*ffmpeg is an old build/); // which ffmpeg decodes client media
  t.true(lines.some((line) => /INFO.*listening on port \d+; loading the model/.test(line)));
  t.false(lines.some((line) => line.startsWith('{')));
  t.regex(error?.stderr ?? '', /model/); // and the start-up error itself
});
