// Generates the TypeScript gRPC code in proto/generated/ from proto/ with buf and protoc-gen-ts_proto.
//   node scripts/gen-proto.mjs          lint the protos and (re)write proto/generated/
//   node scripts/gen-proto.mjs --check  generate into a temporary folder and fail if proto/generated/ differs
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const generatedDir = 'proto/generated';
const buf = join(root, 'node_modules', '.bin', 'buf');

function run(args) {
  execFileSync(buf, args, { cwd: root, stdio: 'inherit' });
}

function listFiles(dir) {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => relative(dir, join(entry.parentPath ?? entry.path, entry.name)))
    .sort();
}

run(['lint']);

if (process.argv.includes('--check')) {
  const scratch = mkdtempSync(join(tmpdir(), 'fusionseg-gen-'));
  try {
    run(['generate', '--output', scratch]);
    const fresh = join(scratch, generatedDir);
    const committed = join(root, generatedDir);
    const names = new Set([...listFiles(fresh), ...listFiles(committed)]);
    const stale = [...names].filter((name) => {
      const a = join(fresh, name);
      const b = join(committed, name);
      return !existsSync(a) || !existsSync(b) || !readFileSync(a).equals(readFileSync(b));
    });
    if (stale.length > 0) {
      console.error(`${generatedDir} is out of date with proto/ (run \`npm run gen\` and commit):`);
      for (const name of stale) console.error(`  ${join(generatedDir, name)}`);
      process.exit(1);
    }
    console.log(`${generatedDir} is up to date.`);
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
} else {
  rmSync(join(root, generatedDir), { recursive: true, force: true });
  run(['generate']);
  console.log(`Generated ${generatedDir}.`);
}
