/**
 * The `--devices` list: which inference sessions to run, one per entry.
 *
 * - `cuda:N` — a session on CUDA GPU N (`cuda` alone means `cuda:0`); the same GPU may appear twice.
 * - `cpu` — a CPU session; the machine's cores are split evenly between the CPU sessions.
 * - `cpu:T` — a CPU session with exactly T intra-op threads.
 *
 * Default: `cuda:0,cuda:1` where the CUDA provider is installed, `cpu,cpu` otherwise.
 */
export interface DeviceSpec {
  /** As written in the list, normalised: `cpu`, `cpu:4`, `cuda:1`. */
  readonly name: string;
  readonly kind: 'cpu' | 'cuda';
  /** The GPU ordinal (CUDA); 0 for CPU. */
  readonly deviceId: number;
  /** ONNX Runtime intra-op threads (CPU sessions; CUDA sessions use 1 for their CPU fallback ops). */
  readonly intraOpThreads: number;
}

export interface DeviceEnvironment {
  readonly cpuCount: number;
  readonly cudaAvailable: boolean;
}

export const DEFAULT_CUDA_DEVICES = 'cuda:0,cuda:1';
export const DEFAULT_CPU_DEVICES = 'cpu,cpu';

export function defaultDeviceList(environment: DeviceEnvironment): string {
  return environment.cudaAvailable ? DEFAULT_CUDA_DEVICES : DEFAULT_CPU_DEVICES;
}

const entryPattern = /^(cpu|cuda)(?::(\d+))?$/;

/** Parses a device list; throws a TypeError naming `--devices` and the bad entry. */
export function parseDevices(list: string, environment: DeviceEnvironment): DeviceSpec[] {
  const entries = list
    .split(',')
    .map((entry) => entry.trim().toLowerCase())
    .filter((entry) => entry !== '');
  if (entries.length === 0) throw new TypeError('--devices is empty: give e.g. "cpu", "cpu,cpu" or "cuda:0,cuda:1"');
  const parsed = entries.map((entry) => {
    const match = entryPattern.exec(entry);
    if (match === null) {
      throw new TypeError(`--devices: "${entry}" is not a device (use cpu, cpu:THREADS or cuda:GPU)`);
    }
    return { kind: match[1] as 'cpu' | 'cuda', number: match[2] === undefined ? undefined : Number(match[2]) };
  });
  const implicitCpu = parsed.filter((entry) => entry.kind === 'cpu' && entry.number === undefined).length;
  const sharedThreads = Math.max(1, Math.floor(environment.cpuCount / Math.max(1, implicitCpu)));
  return parsed.map(({ kind, number }) => {
    if (kind === 'cuda') {
      const deviceId = number ?? 0;
      return { name: `cuda:${deviceId}`, kind, deviceId, intraOpThreads: 1 };
    }
    if (number === 0) throw new TypeError('--devices: "cpu:0" asks for zero threads; use cpu:1 or more');
    const intraOpThreads = number ?? sharedThreads;
    return { name: number === undefined ? 'cpu' : `cpu:${number}`, kind, deviceId: 0, intraOpThreads };
  });
}
