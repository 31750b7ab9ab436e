/** The machine a benchmark ran on, printed and stored with its results. */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism, cpus, hostname, release, totalmem, type } from 'node:os';
import { cudaProviderInstalled } from '../../server/src/engine/session-options.js';

export interface MachineInfo {
  readonly host: string;
  /** The CPU's model name and, where the OS tells, its widest vector instructions (e.g. "AMD EPYC (AVX2)"). */
  readonly cpu: string;
  readonly cores: number;
  readonly memoryGiB: number;
  readonly os: string;
  readonly node: string;
  readonly onnxruntime: string;
  /** Whether onnxruntime-node's CUDA provider is installed (GPU sessions possible). */
  readonly cudaProvider: boolean;
}

export function machineInfo(): MachineInfo {
  const require = createRequire(import.meta.url);
  const ort = require('onnxruntime-node/package.json') as { version: string };
  return {
    host: hostname(),
    cpu: describeCpu(cpus()[0]?.model.trim() ?? 'unknown', cpuFlags()),
    cores: availableParallelism(),
    memoryGiB: Math.round(totalmem() / 1024 ** 3),
    os: `${type()} ${release()}`,
    node: process.version,
    onnxruntime: ort.version,
    cudaProvider: cudaProviderInstalled(),
  };
}

/** The CPU feature flags the OS reports (Linux: /proc/cpuinfo), or undefined where it does not. */
function cpuFlags(): ReadonlySet<string> | undefined {
  try {
    const line = readFileSync('/proc/cpuinfo', 'utf8')
      .split('\n')
      .find((l) => /^(flags|Features)\s*:/.test(l));
    return line === undefined
      ? undefined
      : new Set(
          line
            .slice(line.indexOf(':') + 1)
            .trim()
            .split(/\s+/),
        );
  } catch {
    return undefined;
  }
}

/**
 * The model name with the widest x86 vector extension the CPU has. Two machines sold under one name (cloud
 * VMs often say only "AMD EPYC") can run the same convolutions at very different speeds, and the vector
 * width is the first thing that tells them apart, so the benchmarks' figures name it.
 */
export function describeCpu(model: string, flags: ReadonlySet<string> | undefined): string {
  if (flags === undefined) return model;
  const widest = flags.has('avx512f') ? 'AVX-512' : flags.has('avx2') ? 'AVX2' : flags.has('avx') ? 'AVX' : undefined;
  return widest === undefined ? model : `${model} (${widest})`;
}

/** The device list of `sessions` sessions: one per GPU with the CUDA provider, else CPU sessions sharing the cores. */
export function devicesFor(sessions: number, machine: MachineInfo): string {
  if (machine.cudaProvider) return Array.from({ length: sessions }, (_, i) => `cuda:${i}`).join(',');
  // One session gets every core; several split them (the CPU stand-in for one session per GPU).
  return sessions === 1 ? `cpu:${machine.cores}` : Array.from({ length: sessions }, () => 'cpu').join(',');
}

/**
 * Each replica's devices when `replicas` run on this machine: one session each, one GPU each with the CUDA
 * provider, else the cores split between them (at least one thread each), so that the replicas together
 * hold about the threads one service would (more would only oversubscribe the cores).
 */
export function replicaDevicesFor(replicas: number, machine: MachineInfo): string[] {
  const threads = Math.max(1, Math.floor(machine.cores / replicas));
  return Array.from({ length: replicas }, (_, i) => (machine.cudaProvider ? `cuda:${i}` : `cpu:${threads}`));
}
