import test from 'ava';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { defaultDeviceList, parseDevices } from '../../server/src/engine/devices.js';
import { Engine } from '../../server/src/engine/engine.js';
import {
  assertDevicesAvailable,
  cudaProviderInstalled,
  DeviceUnavailableError,
  sessionOptionsFor,
} from '../../server/src/engine/session-options.js';
import { tempDir } from '../helpers/clips.js';
import { writeTestModel } from '../helpers/onnx-models.js';

const cpuHost = { cpuCount: 8, cudaAvailable: false };
const gpuHost = { cpuCount: 8, cudaAvailable: true };

test('the default is two CUDA sessions where CUDA exists, two CPU sessions elsewhere', (t) => {
  t.is(defaultDeviceList(gpuHost), 'cuda:0,cuda:1');
  t.is(defaultDeviceList(cpuHost), 'cpu,cpu');
  t.deepEqual(
    parseDevices(defaultDeviceList(gpuHost), gpuHost).map((d) => [d.kind, d.deviceId]),
    [
      ['cuda', 0],
      ['cuda', 1],
    ],
  );
});

test('CPU sessions split the cores; cpu:T pins the thread count', (t) => {
  t.deepEqual(
    parseDevices('cpu,cpu', cpuHost).map((d) => d.intraOpThreads),
    [4, 4],
  );
  t.deepEqual(
    parseDevices('cpu', cpuHost).map((d) => d.intraOpThreads),
    [8],
  );
  t.deepEqual(parseDevices('cpu:2', cpuHost), [{ name: 'cpu:2', kind: 'cpu', deviceId: 0, intraOpThreads: 2 }]);
  t.deepEqual(
    parseDevices('cpu, cpu', { cpuCount: 1, cudaAvailable: false }).map((d) => d.intraOpThreads),
    [1, 1],
  );
});

test('the same GPU may run two sessions', (t) => {
  t.deepEqual(
    parseDevices('cuda:0,cuda:0', gpuHost).map((d) => d.name),
    ['cuda:0', 'cuda:0'],
  );
  t.is(parseDevices('CUDA', gpuHost)[0]?.name, 'cuda:0');
});

test('bad device lists are TypeErrors naming --devices and the entry', (t) => {
  t.throws(() => parseDevices('', cpuHost), { instanceOf: TypeError, message: /--devices is empty/ });
  t.throws(() => parseDevices('cpu,gpu:1', cpuHost), { instanceOf: TypeError, message: /--devices: "gpu:1"/ });
  t.throws(() => parseDevices('cpu:0', cpuHost), { instanceOf: TypeError, message: /"cpu:0"/ });
});

test('CUDA session options name the CUDA provider with the device id, CPU as fallback', (t) => {
  const [, second] = parseDevices('cuda:0,cuda:1', gpuHost);
  const options = sessionOptionsFor(second!);
  t.deepEqual(options.executionProviders, [{ name: 'cuda', deviceId: 1 }, 'cpu']);
  t.is(options.graphOptimizationLevel, 'all');
  const cpu = sessionOptionsFor(parseDevices('cpu:3', cpuHost)[0]!);
  t.deepEqual(cpu.executionProviders, ['cpu']);
  t.is(cpu.intraOpNumThreads, 3);
});

test('the CUDA provider counts as installed only when its library is present', async (t) => {
  const dir = await tempDir(t);
  t.false(cudaProviderInstalled(dir));
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'libonnxruntime_providers_cuda.so'), '');
  t.true(cudaProviderInstalled(dir));
});

test('asking for CUDA without the provider is a clear error with the install command', (t) => {
  const devices = parseDevices('cpu,cuda:1', gpuHost);
  const error = t.throws(() => assertDevicesAvailable(devices, false), { instanceOf: DeviceUnavailableError });
  t.regex(error.message, /cuda:1/);
  t.regex(error.message, /ONNXRUNTIME_NODE_INSTALL=cuda12 npm rebuild onnxruntime-node/);
  t.notThrows(() => assertDevicesAvailable(devices, true));
});

test('this host has no CUDA provider, so an engine on cuda:0 refuses to start', async (t) => {
  t.false(cudaProviderInstalled(), 'this test expects a host installed with the .npmrc default');
  const model = await writeTestModel(join(await tempDir(t), 'model'));
  await t.throwsAsync(Engine.start({ modelDir: model, devices: 'cuda:0' }), {
    instanceOf: DeviceUnavailableError,
    message: /cuda:0/,
  });
});
