import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { InferenceSession } from 'onnxruntime-node';
import type { DeviceSpec } from './devices.js';

/** The command that installs onnxruntime-node's CUDA 12 provider on a GPU host. */
export const CUDA_INSTALL_COMMAND = 'ONNXRUNTIME_NODE_INSTALL=cuda12 npm rebuild onnxruntime-node';

const require = createRequire(import.meta.url);

/** The folder of onnxruntime-node's native binaries for this platform. */
function ortBinaryDir(): string {
  const packageDir = dirname(require.resolve('onnxruntime-node/package.json'));
  return join(packageDir, 'bin', 'napi-v6', process.platform, process.arch);
}

/**
 * Whether onnxruntime-node's CUDA execution provider is installed: its shared library sits next to the
 * binding (the project's .npmrc skips downloading it; see README, GPU hosts).
 */
export function cudaProviderInstalled(binaryDir = ortBinaryDir()): boolean {
  const library = process.platform === 'win32' ? 'onnxruntime_providers_cuda.dll' : 'libonnxruntime_providers_cuda.so';
  return existsSync(join(binaryDir, library));
}

/** A start-up error for a device list the host cannot serve. */
export class DeviceUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DeviceUnavailableError';
  }
}

/** Throws a DeviceUnavailableError, naming the device and the fix, when CUDA is asked for but missing. */
export function assertDevicesAvailable(devices: readonly DeviceSpec[], cudaAvailable: boolean): void {
  const cuda = devices.filter((device) => device.kind === 'cuda');
  if (cuda.length > 0 && !cudaAvailable) {
    throw new DeviceUnavailableError(
      `--devices asks for ${cuda.map((device) => device.name).join(', ')}, but onnxruntime-node's CUDA ` +
        `execution provider is not installed on this host. On a host with CUDA 12 GPUs run ` +
        `\`${CUDA_INSTALL_COMMAND}\`; elsewhere use --devices cpu,cpu.`,
    );
  }
}

/** ONNX Runtime session options for one device. */
export function sessionOptionsFor(device: DeviceSpec): InferenceSession.SessionOptions {
  const common: InferenceSession.SessionOptions = {
    graphOptimizationLevel: 'all',
    executionMode: 'sequential',
    interOpNumThreads: 1,
    logSeverityLevel: 3,
  };
  if (device.kind === 'cuda') {
    return {
      ...common,
      // CPU stays as the fallback for operators the CUDA provider lacks.
      executionProviders: [{ name: 'cuda', deviceId: device.deviceId }, 'cpu'],
      intraOpNumThreads: device.intraOpThreads,
    };
  }
  return { ...common, executionProviders: ['cpu'], intraOpNumThreads: device.intraOpThreads };
}
