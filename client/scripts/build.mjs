// @ts-check
// Builds @instantchat/client: dist/index.js (ES module), dist/index.d.ts (one self-contained declaration file) and
// dist/instantchat-client.js (browser bundle, socket.io-client inside, global `InstantChat`). Run by the root
// `npm run build`; takes a few seconds (the declarations need a type-checked program).
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { rollup } from 'rollup';
import { dts } from 'rollup-plugin-dts';
import ts from 'typescript';
import { protocolDeclarations } from './protocol-declarations.mjs';

const clientDir = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const repoDir = resolve(clientDir, '..');
const srcDir = join(clientDir, 'src');
const distDir = join(clientDir, 'dist');
const pkg = JSON.parse(readFileSync(join(clientDir, 'package.json'), 'utf8'));

rmSync(distDir, { recursive: true, force: true });
mkdirSync(distDir, { recursive: true });

// ---- JavaScript --------------------------------------------------------------------------------------------------
const banner = `/* ${pkg.name} ${pkg.version} */`;
await build({
  entryPoints: [join(srcDir, 'index.ts')],
  outfile: join(distDir, 'index.js'),
  bundle: true,
  format: 'esm',
  platform: 'neutral',
  target: 'es2022',
  // Its dependency, resolved by the application (or its bundler), which may share it.
  external: ['socket.io-client'],
  sourcemap: true,
  banner: { js: banner },
  logLevel: 'warning',
});
await build({
  entryPoints: [join(srcDir, 'browser.ts')],
  outfile: join(distDir, 'instantchat-client.js'),
  bundle: true,
  format: 'iife',
  globalName: 'InstantChat',
  platform: 'browser',
  target: ['es2022', 'chrome110', 'firefox110', 'safari16'],
  minify: true,
  legalComments: 'none',
  banner: { js: `${banner} /* with socket.io-client ${socketIoClientVersion()} */` },
  logLevel: 'warning',
});

// ---- Declarations ------------------------------------------------------------------------------------------------
const work = mkdtempSync(join(tmpdir(), 'instantchat-client-types-'));
try {
  const program = ts.createProgram([join(srcDir, 'index.ts')], {
    ...compilerOptions(),
    declaration: true,
    emitDeclarationOnly: true,
    noEmit: false,
    sourceMap: false,
    declarationMap: false,
    rootDir: repoDir,
    outDir: work,
  });
  const problems = ts.getPreEmitDiagnostics(program);
  if (problems.length > 0) fail('type errors', problems);
  const emitted = program.emit();
  if (emitted.emitSkipped || emitted.diagnostics.length > 0) fail('declaration emit failed', emitted.diagnostics);

  // The protocol's types, printed whole: the published declarations must not lead back into the server.
  const typesDir = join(work, relative(repoDir, srcDir));
  writeFileSync(join(typesDir, 'protocol.d.ts'), protocolDeclarations(program, join(srcDir, 'protocol.ts')));

  const bundle = await rollup({ input: join(typesDir, 'index.d.ts'), plugins: [dts()], external: () => false });
  await bundle.write({ file: join(distDir, 'index.d.ts'), format: 'es', banner });
  await bundle.close();
} finally {
  rmSync(work, { recursive: true, force: true });
}
checkSelfContained(join(distDir, 'index.d.ts'));

/** The published declarations import nothing and type-check on their own. */
function checkSelfContained(file) {
  const text = readFileSync(file, 'utf8');
  const imports = [...text.matchAll(/^\s*(?:import|export)\b[^;]*\bfrom\s+['"]([^'"]+)['"]/gm)].map((m) => m[1]);
  const dynamic = [...text.matchAll(/import\(\s*['"]([^'"]+)['"]\s*\)/g)].map((m) => m[1]);
  if (imports.length + dynamic.length > 0) {
    throw new Error(`${file} must not import anything, but imports ${[...imports, ...dynamic].join(', ')}`);
  }
  const program = ts.createProgram([file], { strict: true, noEmit: true, types: [], lib: ['lib.es2022.d.ts', 'lib.dom.d.ts'] });
  const problems = ts.getPreEmitDiagnostics(program);
  if (problems.length > 0) fail(`${file} does not type-check on its own`, problems);
}

function compilerOptions() {
  const configFile = join(repoDir, 'tsconfig.json');
  const { config, error } = ts.readConfigFile(configFile, ts.sys.readFile);
  if (error !== undefined) fail('cannot read tsconfig.json', [error]);
  return ts.parseJsonConfigFileContent(config, ts.sys, repoDir).options;
}

function socketIoClientVersion() {
  const require = ts.sys.resolvePath(join(repoDir, 'node_modules/socket.io-client/package.json'));
  return JSON.parse(readFileSync(require, 'utf8')).version;
}

/** @param {string} what @param {readonly ts.Diagnostic[]} diagnostics @returns {never} */
function fail(what, diagnostics) {
  const host = { getCanonicalFileName: (f) => f, getCurrentDirectory: () => repoDir, getNewLine: () => '\n' };
  throw new Error(`${what}:\n${ts.formatDiagnostics(diagnostics, host)}`);
}
