// Bootstraps the workspace on a fresh machine (Node.js 20 + npm only) and builds it.
// Used by `npm test`, `pnpm sim` and `pnpm bench` so each works as the first command.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

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

function pnpmCommand() {
  try {
    execFileSync('pnpm', ['--version'], { stdio: 'ignore' });
    return ['pnpm', []];
  } catch {
    // No pnpm on PATH: run a pinned one through npx (npm registry only).
    return ['npx', ['--yes', `pnpm@${PNPM_VERSION}`]];
  }
}

export function ensureBuilt() {
  const [cmd, prefix] = pnpmCommand();
  const installArgs = ['install', '--reporter=append-only'];
  if (process.env.CI) installArgs.push('--frozen-lockfile');
  if (!existsSync(join(repoRoot, 'node_modules', '.bin', 'tsc')) || process.env.CI) {
    run(cmd, [...prefix, ...installArgs]);
  }
  run(process.execPath, [join(repoRoot, 'node_modules', 'typescript', 'bin', 'tsc'), '-b']);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) ensureBuilt();
