import test from 'ava';
import { status } from '@grpc/grpc-js';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FusionsegClient, FusionsegError } from '../../clients/src/client.js';
import { startService } from '../../server/src/service.js';
import { tempDir } from '../helpers/clips.js';
import { writeTestModel } from '../helpers/onnx-models.js';

const fixtures = fileURLToPath(new URL('../fixtures/tls/', import.meta.url));

test('with --tls-cert and --tls-key the server speaks TLS; plaintext clients are refused', async (t) => {
  const modelDir = await writeTestModel(join(await tempDir(t), 'model'));
  const service = await startService({
    modelDir,
    address: '127.0.0.1:0',
    devices: 'cpu:1',
    fusionWorkers: 1,
    tlsCert: join(fixtures, 'server.crt'),
    tlsKey: join(fixtures, 'server.key'),
  });
  t.teardown(() => service.stop());
  const ca = new Uint8Array(await readFile(join(fixtures, 'server.crt')));
  const secure = new FusionsegClient(`localhost:${service.port}`, { tls: true, ca });
  t.teardown(() => secure.close());
  t.is((await secure.getModelInfo({ deadlineMs: 10_000 })).name, 'unified-test');
  const plain = new FusionsegClient(`127.0.0.1:${service.port}`);
  t.teardown(() => plain.close());
  const error = await t.throwsAsync(plain.getModelInfo({ deadlineMs: 3000 }), { instanceOf: FusionsegError });
  t.true(
    [status.UNAVAILABLE, status.DEADLINE_EXCEEDED].includes(error.code),
    `UNAVAILABLE or DEADLINE_EXCEEDED, got ${error.code}`,
  );
});
