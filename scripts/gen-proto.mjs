// Generates proto/generated/ from proto/ with buf: the TypeScript gRPC code (protoc-gen-ts_proto) and the
// binary FileDescriptorSet that server reflection serves (descriptor-set.binpb, with its README).
//   node scripts/gen-proto.mjs          lint the protos and (re)write proto/generated/
//   node scripts/gen-proto.mjs --check  generate into a temporary folder and fail if proto/generated/ differs
import { fromBinary, toBinary, create } from '@bufbuild/protobuf';
import { FileDescriptorSetSchema } from '@bufbuild/protobuf/wkt';
import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, mkdirSync, readdirSync, readFileSync, rmSync, existsSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const generatedDir = 'proto/generated';
const descriptorSetName = 'descriptor-set.binpb';
const buf = join(root, 'node_modules', '.bin', 'buf');
const require = createRequire(import.meta.url);

/**
 * The standard services' .proto files the server also serves, by the file names gRPC gives them upstream:
 * grpc-health-check ships health.proto as health/v1/health.proto, gRPC itself names it grpc/health/v1/.
 */
const standardProtos = [
  ['grpc/health/v1/health.proto', require('grpc-health-check').protoPath],
  ...['v1', 'v1alpha'].map((version) => [
    `grpc/reflection/${version}/reflection.proto`,
    join(
      dirname(require.resolve('@grpc/reflection')),
      '..',
      'proto',
      'grpc',
      'reflection',
      version,
      'reflection.proto',
    ),
  ]),
];

const readme = `# Generated code: do not edit

Everything in this folder is written by \`npm run gen\` (scripts/gen-proto.mjs) from \`proto/\` and checked by
\`npm run gen:check\`; change the .proto files and regenerate instead.

- \`fusionseg/v1/*.pb.ts\`: TypeScript messages and gRPC service definitions (buf + protoc-gen-ts_proto).
- \`${descriptorSetName}\`: a binary \`google.protobuf.FileDescriptorSet\` (\`buf build --as-file-descriptor-set\`,
  with source info, so comments included) of \`fusionseg/v1/segmentation.proto\` and of the standard services
  the server runs: \`grpc/health/v1/health.proto\` and \`grpc/reflection/{v1,v1alpha}/reflection.proto\`.
  Server reflection (server/src/grpc/reflection.ts) serves these descriptors as they are, so reflection
  clients see the .proto's own file names, field names and proto3 \`optional\`.
`;

function run(args, cwd = root) {
  execFileSync(buf, args, { cwd, stdio: 'inherit' });
}

function listFiles(dir) {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => relative(dir, join(entry.parentPath ?? entry.path, entry.name)))
    .sort();
}

/** Writes the descriptor set and the README into `outDir` (a proto/generated folder). */
function writeDescriptorSet(outDir) {
  const scratch = mkdtempSync(join(tmpdir(), 'fusionseg-descriptors-'));
  try {
    const apiSet = join(scratch, 'api.binpb');
    run(['build', '--as-file-descriptor-set', '-o', apiSet]);
    // The standard protos in a module of their own, laid out under their upstream names.
    const standardRoot = join(scratch, 'standard');
    for (const [name, source] of standardProtos) {
      mkdirSync(dirname(join(standardRoot, name)), { recursive: true });
      cpSync(source, join(standardRoot, name));
    }
    const standardSet = join(scratch, 'standard.binpb');
    run(['build', standardRoot, '--as-file-descriptor-set', '-o', standardSet], scratch);

    const files = [apiSet, standardSet].flatMap((path) => fromBinary(FileDescriptorSetSchema, readFileSync(path)).file);
    const names = files.map((file) => file.name);
    const duplicate = names.find((name, i) => names.indexOf(name) !== i);
    if (duplicate !== undefined) throw new Error(`${duplicate} is in the descriptor set twice`);
    mkdirSync(outDir, { recursive: true });
    writeFileSync(
      join(outDir, descriptorSetName),
      toBinary(FileDescriptorSetSchema, create(FileDescriptorSetSchema, { file: files })),
    );
    writeFileSync(join(outDir, 'README.md'), readme);
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

run(['lint']);

if (process.argv.includes('--check')) {
  const scratch = mkdtempSync(join(tmpdir(), 'fusionseg-gen-'));
  try {
    run(['generate', '--output', scratch]);
    const fresh = join(scratch, generatedDir);
    writeDescriptorSet(fresh);
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
  writeDescriptorSet(join(root, generatedDir));
  console.log(`Generated ${generatedDir}.`);
}
