#!/usr/bin/env node
// The `fusionseg` command. In a development checkout (tsx installed) it runs the TypeScript sources, so it
// is never stale; in a production install (npm ci --omit=dev) it runs the compiled dist/.
let cli;
try {
  const { register } = await import('tsx/esm/api');
  register();
  cli = await import(new URL('../clients/src/cli.ts', import.meta.url).href);
} catch (error) {
  if (error?.code !== 'ERR_MODULE_NOT_FOUND' || !String(error.message).includes('tsx')) throw error;
  cli = await import(new URL('../dist/clients/src/cli.js', import.meta.url).href);
}
const code = await cli.main(process.argv.slice(2));
if (code >= 0) process.exitCode = code;
