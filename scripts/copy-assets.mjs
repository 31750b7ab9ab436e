// Copies the files the compiled code loads at run time next to it in dist/, keeping the source layout
// (the descriptor set reflection serves, the WASM fusion module), so that dist/ runs without the sources.
import { cpSync, existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const assets = [
  ['proto/generated/descriptor-set.binpb', 'dist/proto/generated/descriptor-set.binpb'],
  ['fusion-wasm/build', 'dist/fusion-wasm/build'],
];
for (const [from, to] of assets) {
  if (!existsSync(root + from)) {
    console.error(`copy-assets: ${from} is missing (run \`npm run build:wasm\` first)`);
    process.exit(1);
  }
  cpSync(root + from, root + to, { recursive: true });
}
