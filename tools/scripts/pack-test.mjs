// `pnpm test:pack`: the published packages install and run outside the workspace.
//
// Builds (ensure-built.mjs), packs @rangekv/client, @rangekv/cli and every workspace
// package they depend on with `pnpm pack` (which rewrites `workspace:*` to the packed
// versions, as `pnpm publish` does), creates an empty project in a temp dir, `npm install`s
// the tarballs there (third-party dependencies come from the npm registry: this needs the
// network, so it is not part of `npm test`), then checks, from inside that project:
//   - every installed @rangekv package came from a tarball (not a registry), its manifest
//     has no `workspace:` range left, it ships no compiled tests and no compiled file whose
//     source is gone (tsc -b leaves those in dist/);
//   - `import { RangeKvClient } from '@rangekv/client'` works, and RangeKvClient.connect to an
//     unreachable PD fails with the client's own error (PdUnavailableError, a RangeKvError)
//     within a few seconds (no server needed);
//   - the types: the example of packages/client/README.md and a small TypeScript file
//     type-check against the installed packages (tsc, NodeNext, strict);
//   - every runtime dependency of the servers loads (@rangekv/store, @rangekv/pd: RocksDB's
//     native addon included);
//   - `node_modules/.bin/rangekv --help` (and `pd --help`, `store --help`) run and exit 0;
//     `rangekv kv get` against the unreachable PD exits 3 (endpoint unreachable).
// Prints each step; exits non-zero on the first failure; removes its temp dirs (--keep
// leaves them and prints where).
//
//   pnpm test:pack [--keep]
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { ensureBuilt, pnpmCommand, repoRoot } from './ensure-built.mjs';

/** The packages whose tarballs are tested; their workspace dependencies are packed with them. */
const ROOTS = ['@rangekv/client', '@rangekv/cli'];
const keep = process.argv.includes('--keep');

class StepError extends Error {}

function step(what) {
  console.log(`pack-test: ${what}`);
}

function fail(msg) {
  throw new StepError(msg);
}

/** The environment for child commands: without the npm_* variables a `pnpm test:pack` run sets. */
function cleanEnv() {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (/^npm_(config|package|lifecycle)_/.test(k) || k === 'npm_command' || k === 'npm_execpath' || k === 'npm_node_execpath') continue;
    env[k] = v;
  }
  return env;
}

/** Runs a command; returns {status, stdout, stderr}. `check`: fail unless it exits 0. */
function run(cmd, args, { cwd, check = true, timeoutMs = 300_000, quiet = false } = {}) {
  const r = spawnSync(cmd, args, { cwd, env: cleanEnv(), encoding: 'utf8', timeout: timeoutMs, shell: process.platform === 'win32' });
  if (r.error) fail(`${cmd} ${args.join(' ')}: ${r.error.message}`);
  if (check && r.status !== 0) {
    fail(`${cmd} ${args.join(' ')} (in ${cwd}) exited ${r.status ?? r.signal}:\n${r.stdout}${r.stderr}`);
  }
  if (!quiet && r.stderr.trim() && check) process.stderr.write(indent(r.stderr));
  return r;
}

function indent(text) {
  return text.trimEnd().split('\n').map((l) => `    ${l}`).join('\n') + '\n';
}

/** Workspace packages by name: { dir, pkg }. */
function workspacePackages() {
  const dirs = [join(repoRoot, 'bench'), join(repoRoot, 'tools', 'cli')];
  for (const name of readdirSync(join(repoRoot, 'packages')).sort()) dirs.push(join(repoRoot, 'packages', name));
  const out = new Map();
  for (const dir of dirs) {
    const file = join(dir, 'package.json');
    if (!existsSync(file)) continue;
    const pkg = JSON.parse(readFileSync(file, 'utf8'));
    out.set(pkg.name, { dir, pkg });
  }
  return out;
}

/** ROOTS and every workspace package they depend on at run time, dependencies first. */
function packClosure(ws) {
  const order = [];
  const seen = new Set();
  const visit = (name, from) => {
    if (seen.has(name)) return;
    seen.add(name);
    const entry = ws.get(name);
    if (!entry) fail(`${name} (a dependency of ${from}) is not a workspace package`);
    for (const [dep, range] of Object.entries(entry.pkg.dependencies ?? {})) {
      if (String(range).startsWith('workspace:')) visit(dep, name);
    }
    if (entry.pkg.private) fail(`${name} (${relative(repoRoot, entry.dir)}) is "private": it cannot be published, and ${from} needs it`);
    order.push(name);
  };
  for (const name of ROOTS) visit(name, 'this test');
  return order;
}

function tgzIn(dir) {
  return new Set(readdirSync(dir).filter((f) => f.endsWith('.tgz')));
}

/** A free TCP port on 127.0.0.1, closed again: connecting to it is refused. */
function closedPort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

function filesUnder(dir, out = []) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) filesUnder(p, out);
    else out.push(p);
  }
  return out;
}

/** The first ```js block after the marker comment of packages/client/README.md. */
function readmeExample() {
  const readme = readFileSync(join(repoRoot, 'packages', 'client', 'README.md'), 'utf8');
  const marker = readme.indexOf('<!-- example.mjs');
  if (marker < 0) fail('packages/client/README.md: no "<!-- example.mjs" marker before the example');
  const m = /```js\n([\s\S]*?)```/.exec(readme.slice(marker));
  if (!m) fail('packages/client/README.md: no ```js block after the example marker');
  return m[1];
}

const SMOKE_MJS = `// Written by tools/scripts/pack-test.mjs.
import * as client from '@rangekv/client';
import { PdUnavailableError, RangeKvClient, RangeKvError } from '@rangekv/client';

const pd = process.argv[2];
const expected = ['RangeKvClient', 'RangeKvError', 'PdUnavailableError', 'DeadlineExceededError', 'AmbiguousWriteError', 'ReplicaRole'];
const missing = expected.filter((name) => !(name in client));
if (missing.length > 0) throw new Error('@rangekv/client does not export ' + missing.join(', '));
if (typeof RangeKvClient.connect !== 'function') throw new Error('RangeKvClient.connect is not a function');

const started = Date.now();
let error;
try {
  const kv = await RangeKvClient.connect({ pd: [pd], timeoutMs: 1_500 });
  kv.close();
} catch (e) {
  error = e;
}
const ms = Date.now() - started;
if (error === undefined) throw new Error('RangeKvClient.connect to ' + pd + ' (nothing listening) succeeded');
if (!(error instanceof RangeKvError)) throw new Error('connect failed with something else than a RangeKvError: ' + (error?.stack ?? error));
if (!(error instanceof PdUnavailableError)) throw new Error('connect failed with ' + error.name + ', not PdUnavailableError: ' + error.message);
if (ms > 5_000) throw new Error('connect took ' + ms + ' ms to fail with a 1,500 ms deadline');
console.log('connect to ' + pd + ': ' + error.name + ' after ' + ms + ' ms (' + error.message + ')');

const proto = await import('@rangekv/proto');
if (client.replicaRoleName(proto.ReplicaRole.Voter) !== 'voter') throw new Error('@rangekv/proto: ReplicaRole.Voter is not named voter');
const testing = await import('@rangekv/client/testing');
console.log('@rangekv/proto and @rangekv/client/testing load (' + Object.keys(testing).join(', ') + ')');
`;

const SERVERS_MJS = `// Written by tools/scripts/pack-test.mjs: every runtime dependency of the servers loads.
const store = await import('@rangekv/store');
const pd = await import('@rangekv/pd');
await import('@rangekv/store/store-flags');
await import('@rangekv/pd/pd-flags');
console.log('@rangekv/store (' + Object.keys(store).length + ' exports) and @rangekv/pd (' + Object.keys(pd).length + ' exports) load');
`;

const CONSUMER_TS = `// Written by tools/scripts/pack-test.mjs: the published types, from a TypeScript user's side.
import { RangeKvClient, RangeKvError, type CasResult, type RangeKvClientOptions } from '@rangekv/client';

const options: RangeKvClientOptions = { pd: ['127.0.0.1:2379'], timeoutMs: 1_000 };
export async function roundTrip(): Promise<string | undefined> {
  const kv: RangeKvClient = await RangeKvClient.connect(options);
  try {
    await kv.put('k', new Uint8Array([1, 2, 3]));
    const cas: CasResult = await kv.compareAndSwap('k', { expected: null, newValue: 'v' });
    const value: Buffer | undefined = await kv.get('k');
    return cas.succeeded ? value?.toString('hex') : undefined;
  } catch (e) {
    if (e instanceof RangeKvError) return e.name;
    throw e;
  } finally {
    kv.close();
  }
}
`;

async function main() {
  const t0 = Date.now();
  step('building the workspace (ensure-built: install when needed, gen-proto, tsc -b)');
  ensureBuilt();

  const ws = workspacePackages();
  const names = packClosure(ws);
  const work = mkdtempSync(join(tmpdir(), 'rangekv-pack-test-'));
  const tarballs = join(work, 'tarballs');
  const project = join(work, 'project');
  // Ctrl-C: the running child gets it too; once it has exited, clean up here.
  const onSignal = (sig) => {
    if (!keep) rmSync(work, { recursive: true, force: true });
    console.error(`pack-test: interrupted (${sig})`);
    process.exit(130);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    // 1. pnpm pack, one package at a time (the tarball of each named from the new file).
    mkdirSync(tarballs);
    mkdirSync(project);
    const [pnpm, prefix] = pnpmCommand();
    step(`packing ${names.length} packages with ${[pnpm, ...prefix].join(' ')} pack: ${names.join(', ')}`);
    const packed = [];
    for (const name of names) {
      const before = tgzIn(tarballs);
      run(pnpm, [...prefix, 'pack', '--pack-destination', tarballs], { cwd: ws.get(name).dir, quiet: true });
      const added = [...tgzIn(tarballs)].filter((f) => !before.has(f));
      if (added.length !== 1) fail(`pnpm pack of ${name} wrote ${added.length} tarballs (${added.join(', ')})`);
      const size = statSync(join(tarballs, added[0])).size;
      console.log(`    ${added[0]}  ${(size / 1024).toFixed(0)} KiB`);
      packed.push(join(tarballs, added[0]));
    }

    // 2. An empty project, the tarballs installed by npm (third-party packages from the registry).
    writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'rangekv-pack-test', version: '1.0.0', private: true, type: 'module' }, null, 2) + '\n');
    step(`npm install of the ${packed.length} tarballs into an empty project (${project})`);
    const ti = Date.now();
    run('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error', ...packed], { cwd: project, timeoutMs: 600_000 });
    console.log(`    installed in ${((Date.now() - ti) / 1000).toFixed(1)} s`);

    // 3. What was installed: from the tarballs, no workspace ranges, no compiled tests.
    step('checking the installed @rangekv packages');
    const lock = JSON.parse(readFileSync(join(project, 'package-lock.json'), 'utf8'));
    for (const name of names) {
      const entry = lock.packages?.[`node_modules/${name}`];
      if (!entry) fail(`${name} is not installed at node_modules/${name} (package-lock.json)`);
      if (!String(entry.resolved ?? '').startsWith('file:')) fail(`${name} was resolved from ${entry.resolved}, not from its tarball`);
      const dir = join(project, 'node_modules', ...name.split('/'));
      const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
      const ranges = { ...manifest.dependencies, ...manifest.peerDependencies, ...manifest.optionalDependencies };
      const left = Object.entries(ranges).filter(([, r]) => String(r).startsWith('workspace:'));
      if (left.length > 0) fail(`${name}'s packed package.json still has ${left.map(([d, r]) => `${d}@${r}`).join(', ')}`);
      const tests = filesUnder(dir).filter((f) => /\.test\.(js|d\.ts|ts|js\.map|d\.ts\.map)$/.test(f));
      if (tests.length > 0) fail(`${name} ships tests: ${tests.slice(0, 3).map((f) => relative(dir, f)).join(', ')}…`);
      // tsc -b never deletes: a compiled file whose source is gone would be published too.
      const stale = filesUnder(join(dir, 'dist')).filter((f) => f.endsWith('.js'))
        .map((f) => relative(join(dir, 'dist'), f)).filter((f) => !existsSync(join(dir, 'src', f.replace(/\.js$/, '.ts'))));
      if (stale.length > 0) fail(`${name} ships dist files without a source (left over from an earlier build? delete ${relative(repoRoot, ws.get(name).dir)}/dist and rebuild): ${stale.join(', ')}`);
    }
    const nested = Object.keys(lock.packages ?? {}).filter((p) => /node_modules\/@rangekv\/.*node_modules\/@rangekv\//.test(p));
    if (nested.length > 0) fail(`a second copy of a @rangekv package was installed: ${nested.join(', ')}`);
    console.log(`    ${names.length} packages from their tarballs, dependencies at the packed versions, no tests, no compiled file without its source`);

    // 4. The client from plain ESM: exports, and connect to an unreachable PD.
    const pdAddress = `127.0.0.1:${await closedPort()}`;
    step(`import '@rangekv/client' from an ESM script; RangeKvClient.connect to ${pdAddress} (nothing listening)`);
    writeFileSync(join(project, 'smoke.mjs'), SMOKE_MJS);
    process.stdout.write(indent(run(process.execPath, ['smoke.mjs', pdAddress], { cwd: project, timeoutMs: 30_000 }).stdout));

    // 5. Types: the README's example and a TypeScript file, checked against the installed packages.
    step('type-checking packages/client/README.md\'s example (example.mjs) and a TypeScript user (consumer.ts) with tsc');
    writeFileSync(join(project, 'example.mjs'), readmeExample());
    writeFileSync(join(project, 'consumer.ts'), CONSUMER_TS);
    writeFileSync(join(project, 'tsconfig.json'), JSON.stringify({
      compilerOptions: {
        target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noEmit: true,
        allowJs: true, checkJs: true, skipLibCheck: true,
        types: ['node'], typeRoots: [join(repoRoot, 'node_modules', '@types')],
      },
      files: ['example.mjs', 'consumer.ts'],
    }, null, 2) + '\n');
    run(process.execPath, [join(repoRoot, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'], { cwd: project, timeoutMs: 120_000 });
    console.log('    no type errors');

    // 6. The servers' code loads (native RocksDB addon, piscina, prom-client, pino).
    step('importing @rangekv/store and @rangekv/pd');
    writeFileSync(join(project, 'servers.mjs'), SERVERS_MJS);
    process.stdout.write(indent(run(process.execPath, ['servers.mjs'], { cwd: project, timeoutMs: 60_000 }).stdout));

    // 7. The rangekv command.
    const bin = join(project, 'node_modules', '.bin', process.platform === 'win32' ? 'rangekv.cmd' : 'rangekv');
    if (!existsSync(bin)) fail('node_modules/.bin/rangekv was not installed');
    for (const args of [['--help'], ['pd', '--help'], ['store', '--help']]) {
      step(`node_modules/.bin/rangekv ${args.join(' ')}`);
      const r = run(bin, args, { cwd: project, timeoutMs: 30_000 });
      const first = r.stdout.split('\n').find((l) => l.trim() !== '') ?? '';
      if (!/usage/i.test(r.stdout)) fail(`rangekv ${args.join(' ')} printed no usage:\n${r.stdout}`);
      console.log(`    exit 0: ${first.trim()}`);
    }
    step(`node_modules/.bin/rangekv kv get k --pd ${pdAddress} --timeout 1s (expects exit 3: endpoint unreachable)`);
    const kv = run(bin, ['kv', 'get', 'k', '--pd', pdAddress, '--timeout', '1s'], { cwd: project, check: false, timeoutMs: 30_000 });
    if (kv.status !== 3) fail(`rangekv kv get exited ${kv.status ?? kv.signal}, not 3:\n${kv.stdout}${kv.stderr}`);
    console.log(`    exit 3: ${kv.stderr.trim().split('\n')[0]}`);

    console.log(`pack-test: OK (${names.length} tarballs installed and checked in ${((Date.now() - t0) / 1000).toFixed(1)} s)`);
  } finally {
    if (keep) console.log(`pack-test: left ${work} (--keep)`);
    else rmSync(work, { recursive: true, force: true });
  }
}

main().catch((e) => {
  if (e instanceof StepError) console.error(`pack-test: FAILED: ${e.message}`);
  else console.error(`pack-test: FAILED: ${e?.stack ?? e}`);
  process.exit(1);
});
