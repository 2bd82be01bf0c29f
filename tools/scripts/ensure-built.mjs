// Bootstraps the workspace on a fresh machine (Node.js 20 + npm only) and builds it.
// Used by `npm test`, `pnpm sim` and `pnpm bench` so each works as the first command.
// Order: install (when needed), generate the protobuf bindings (gen-proto.mjs), tsc -b,
// the native addon (build-native.mjs; optional: a machine without a C compiler goes on).
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { buildNativeAndSay } from './build-native.mjs';
import { genProto } from './gen-proto.mjs';

export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const PNPM_VERSION = '12.21.0';

function run(cmd, args) {
  const r = spawnSync(cmd, args, { cwd: repoRoot, stdio: 'inherit', env: process.env });
  if (r.error) throw r.error;
  if (r.status !== 0) {
    console.error(`command failed (exit ${r.status}): ${cmd} ${args.join(' ')}`);
    process.exit(r.status ?? 1);
  }
}

export function pnpmCommand() {
  try {
    execFileSync('pnpm', ['--version'], { stdio: 'ignore' });
    return ['pnpm', []];
  } catch {
    // No pnpm on PATH: run a pinned one through npx (npm registry only).
    return ['npx', ['--yes', `pnpm@${PNPM_VERSION}`]];
  }
}

// Workspace folders, as listed in pnpm-workspace.yaml.
function workspaceDirs() {
  const pkgs = join(repoRoot, 'packages');
  const dirs = [repoRoot, join(repoRoot, 'bench'), join(repoRoot, 'tools', 'cli')];
  if (existsSync(pkgs)) for (const name of readdirSync(pkgs).sort()) dirs.push(join(pkgs, name));
  return dirs.filter((d) => existsSync(join(d, 'package.json')));
}

// True when some workspace package declares a dependency that is not installed (a fresh
// clone, or a dependency added since the last install).
function installIsStale() {
  if (!existsSync(join(repoRoot, 'node_modules', '.bin', 'tsc'))) return true;
  for (const dir of workspaceDirs()) {
    const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
    const names = Object.keys({ ...pkg.dependencies, ...pkg.devDependencies });
    if (names.some((name) => !existsSync(join(dir, 'node_modules', name, 'package.json')))) return true;
  }
  return false;
}

export function ensureBuilt() {
  const [cmd, prefix] = pnpmCommand();
  const installArgs = ['install', '--reporter=append-only'];
  if (process.env.CI) installArgs.push('--frozen-lockfile');
  if (process.env.CI || installIsStale()) {
    run(cmd, [...prefix, ...installArgs]);
  }
  if (genProto()) console.log('gen-proto: regenerated packages/proto/generated');
  run(process.execPath, [join(repoRoot, 'node_modules', 'typescript', 'bin', 'tsc'), '-b']);
  buildNativeAndSay();
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) ensureBuilt();
