import test from 'ava';
import { DEFAULT_MODEL_DIR, parseServerConfig } from '../../server/src/config.js';

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
