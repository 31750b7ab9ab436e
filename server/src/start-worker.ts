import { Worker, type WorkerOptions } from 'node:worker_threads';

/**
 * Starts a worker thread from a module next to the caller, given without extension
 * (`new URL('./session-worker', import.meta.url)`). From dist/ that is the compiled `.js`. Under tsx
 * (tests, development) it is the `.ts` source: Node 20 does not apply `--import` loaders to a worker's
 * entry module, so a tiny bootstrap registers tsx inside the worker first and then imports the source.
 */
export function startWorker(moduleUrl: URL, callerUrl: string, options: WorkerOptions = {}): Worker {
  const fromSource = callerUrl.endsWith('.ts');
  const entry = new URL(`${moduleUrl.href}${fromSource ? '.ts' : '.js'}`);
  if (!fromSource) return new Worker(entry, options);
  const tsxApi = import.meta.resolve('tsx/esm/api');
  const bootstrap =
    `import(${JSON.stringify(tsxApi)})` +
    `.then(({ register }) => { register(); return import(${JSON.stringify(entry.href)}); })`;
  return new Worker(bootstrap, { ...options, eval: true });
}
