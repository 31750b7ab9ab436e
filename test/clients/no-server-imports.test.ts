/**
 * The client library and the shared module load no server code. Statically: no import in clients/src or
 * wire/src resolves into server/, apart from the one dynamic import() of the `serve` command. At run
 * time: `fusionseg info`, `stream` and `process` (the real command, in a child process) resolve no module
 * of server/ nor any of the server's heavy dependencies, while `fusionseg serve --help` does (so the
 * recording is known to see them).
 */
import test, { type ExecutionContext } from 'ava';
import { spawn } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { makeTestClip, tempDir } from '../helpers/clips.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const cli = join(root, 'bin/fusionseg.mjs');
const recorder = fileURLToPath(new URL('./fixtures/record-modules.mjs', import.meta.url));

/** The one import into server/ the client side may have: `fusionseg serve` loading the server lazily. */
const ALLOWED = [{ file: 'clients/src/cli.ts', kind: 'dynamic', target: 'server/src/run-server.js' }];

interface ImportSite {
  readonly file: string;
  readonly kind: 'static' | 'dynamic' | 'require';
  readonly specifier: string | undefined;
}

async function sourceFiles(dir: string): Promise<string[]> {
  const entries = await readdir(join(root, dir), { recursive: true, withFileTypes: true });
  return entries
    .filter((entry) => entry.isFile() && /\.(ts|mts|cts|js|mjs)$/.test(entry.name))
    .map((entry) => relative(root, join(entry.parentPath, entry.name)).split(sep).join('/'));
}

/** Every import, export-from, import() and require() of a file (a non-literal specifier is undefined). */
function importSites(file: string, text: string): ImportSite[] {
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const sites: ImportSite[] = [];
  const literal = (node: ts.Node | undefined) =>
    node !== undefined && ts.isStringLiteralLike(node) ? node.text : undefined;
  const visit = (node: ts.Node) => {
    if (ts.isImportDeclaration(node) || (ts.isExportDeclaration(node) && node.moduleSpecifier !== undefined)) {
      sites.push({ file, kind: 'static', specifier: literal(node.moduleSpecifier) });
    } else if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference)) {
      sites.push({ file, kind: 'require', specifier: literal(node.moduleReference.expression) });
    } else if (ts.isImportTypeNode(node)) {
      const argument = node.argument;
      sites.push({
        file,
        kind: 'static',
        specifier: ts.isLiteralTypeNode(argument) ? literal(argument.literal) : undefined,
      });
    } else if (ts.isCallExpression(node)) {
      if (node.expression.kind === ts.SyntaxKind.ImportKeyword) {
        sites.push({ file, kind: 'dynamic', specifier: literal(node.arguments[0]) });
      } else if (ts.isIdentifier(node.expression) && node.expression.text === 'require') {
        sites.push({ file, kind: 'require', specifier: literal(node.arguments[0]) });
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return sites;
}

/** Where a specifier leads, relative to the repository root ('' for packages and node: builtins). */
function target(file: string, specifier: string): string {
  if (!specifier.startsWith('.') && !specifier.startsWith('/')) return '';
  return relative(root, resolve(dirname(join(root, file)), specifier))
    .split(sep)
    .join('/');
}

test('no import in clients/src or wire/src leads into server/, apart from the lazy one of `fusionseg serve`', async (t) => {
  const files = [...(await sourceFiles('clients/src')), ...(await sourceFiles('wire/src'))];
  t.true(files.includes('clients/src/cli.ts') && files.includes('wire/src/map-codecs.ts'));
  const intoServer: string[] = [];
  const allowedSeen: string[] = [];
  for (const file of files) {
    for (const site of importSites(file, await readFile(join(root, file), 'utf8'))) {
      if (site.specifier === undefined) {
        intoServer.push(`${file}: a ${site.kind} import whose specifier is not a string literal (cannot be checked)`);
        continue;
      }
      const to = target(file, site.specifier);
      const isServer = to === 'server' || to.startsWith('server/') || /(^|\/)server\/src\//.test(site.specifier);
      if (!isServer) continue;
      const allowed = ALLOWED.some((a) => a.file === file && a.kind === site.kind && a.target === to);
      if (allowed) allowedSeen.push(`${file} -> ${to}`);
      else intoServer.push(`${file}: ${site.kind} import of "${site.specifier}" (${to})`);
    }
  }
  t.deepEqual(intoServer, [], 'move what both sides need to wire/src/');
  t.deepEqual(allowedSeen, ['clients/src/cli.ts -> server/src/run-server.js'], 'serve loads the server lazily');
});

test('the scan sees static, type-only, re-exported, dynamic and required imports', (t) => {
  const sites = importSites(
    'clients/src/x.ts',
    [
      `import { a } from '../../server/src/a.js';`,
      `import type { B } from '../../server/src/b.js';`,
      `export * from '../../server/src/c.js';`,
      `const d = await import('../../server/src/d.js');`,
      `const e = require('../../server/src/e.js');`,
      `type F = import('../../server/src/f.js').F;`,
      `const g = await import(name);`,
    ].join('\n'),
  );
  t.deepEqual(
    sites.map((s) => [s.kind, s.specifier === undefined ? undefined : target(s.file, s.specifier)]),
    [
      ['static', 'server/src/a.js'],
      ['static', 'server/src/b.js'],
      ['static', 'server/src/c.js'],
      ['dynamic', 'server/src/d.js'],
      ['require', 'server/src/e.js'],
      ['static', 'server/src/f.js'],
      ['dynamic', undefined],
    ],
  );
});

/** Runs `fusionseg` with the module recorder; returns its exit code, stderr and the modules it resolved. */
async function recordModules(t: ExecutionContext, args: readonly string[]) {
  const log = join(await tempDir(t), 'modules.log');
  const { code, stderr } = await new Promise<{ code: number | null; stderr: string }>((done) => {
    const child = spawn(process.execPath, ['--import', recorder, cli, ...args], {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, FUSIONSEG_MODULE_LOG: log, FUSIONSEG_TOKEN: '' },
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('exit', (code) => done({ code, stderr }));
  });
  const urls = (await readFile(log, 'utf8').catch(() => '')).split('\n').filter((line) => line !== '');
  const paths = urls
    .filter((url) => url.startsWith('file:'))
    .map((url) => relative(root, fileURLToPath(url)).split(sep).join('/'));
  return { code, stderr, paths };
}

const SERVER_ONLY =
  /^(server\/|node_modules\/(sharp|onnxruntime-node|prom-client|pino|@grpc\/reflection|grpc-health-check)\/)/;

test('fusionseg info, stream and process resolve no server module; serve --help does', async (t) => {
  const dir = await tempDir(t);
  const clip = await makeTestClip(dir, { width: 64, height: 48, frames: 2, rate: 2 });
  // No server listens on port 1: each command loads everything it needs, then fails UNAVAILABLE (14).
  for (const args of [
    ['info', '--server', '127.0.0.1:1'],
    ['stream', clip, '--server', '127.0.0.1:1', '--quiet', '--overlay', join(dir, 'o.mp4'), '--frames-dir', dir],
    ['process', clip, '--server', '127.0.0.1:1', '--quiet', '--overlay', join(dir, 'p.mp4'), '--frames-dir', dir],
  ]) {
    const run = await recordModules(t, args);
    t.is(run.code, 14, run.stderr);
    t.true(run.paths.includes('clients/src/cli.ts'), `${args[0]}: the recorder saw the client (${run.paths.length})`);
    t.true(
      run.paths.some((path) => path.startsWith('wire/src/')),
      `${args[0]}: the shared module is loaded`,
    );
    t.deepEqual(
      run.paths.filter((path) => SERVER_ONLY.test(path)),
      [],
      `fusionseg ${args[0]} loads no server code`,
    );
  }
  const serve = await recordModules(t, ['serve', '--help']);
  t.is(serve.code, 0, serve.stderr);
  t.true(serve.paths.includes('server/src/run-server.ts'), 'serve loads the server');
});
