import { Worker, type WorkerOptions } from 'node:worker_threads';

/**
 * The entry module of a worker that lives next to the caller, given without extension
 * (`new URL('./session-worker', import.meta.url)`): from dist/ that is the compiled `.js`, under tsx
 * (tests, development) the `.ts` source.
 */
export function workerEntry(moduleUrl: URL, callerUrl: string): URL {
  return new URL(`${moduleUrl.href}${callerUrl.endsWith('.ts') ? '.ts' : '.js'}`);
}

/**
 * Starts a worker thread whose entry module is `entry` (a full URL with its extension, as `workerEntry`
 * gives). A `.ts` entry runs through tsx: Node 20 does not apply `--import` loaders to a worker's entry
 * module, so a tiny bootstrap registers tsx inside the worker first and then imports the source (tsx must
 * be installed, as it is for tests and development).
 */
export function startWorkerAt(entry: URL, options: WorkerOptions = {}): Worker {
  if (!entry.pathname.endsWith('.ts')) return new Worker(entry, options);
  const tsxApi = import.meta.resolve('tsx/esm/api');
  const bootstrap =
    `import(${JSON.stringify(tsxApi)})` +
    `.then(({ register }) => { register(); return import(${JSON.stringify(entry.href)}); })`;
  return new Worker(bootstrap, { ...options, eval: true });
}

/** Starts a worker thread from a module next to the caller, given without extension (see `workerEntry`). */
export function startWorker(moduleUrl: URL, callerUrl: string, options: WorkerOptions = {}): Worker {
  return startWorkerAt(workerEntry(moduleUrl, callerUrl), options);
}
