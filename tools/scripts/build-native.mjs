// Builds the workspace's one native addon, @rangekv/runtime's malloc-trim (glibc's
// malloc_trim for the store; packages/runtime/src/malloc-trim.ts), with the system C
// compiler and Node's own headers: no node-gyp, no download. Run by ensure-built.mjs
// (npm test, npm run dev) and `npm run build`. Optional: where it cannot be built (no
// compiler, no headers, not Linux) it says so in one line and the store runs without it.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const NATIVE_SOURCE = join(repoRoot, 'packages', 'runtime', 'native', 'malloc-trim.c');
export const NATIVE_OUTPUT = join(repoRoot, 'packages', 'runtime', 'dist', 'native', 'malloc-trim.node');

/** A directory holding node_api.h: $npm_config_nodedir, beside this node, or the system's. */
function nodeHeaders() {
  const candidates = [
    process.env.npm_config_nodedir && join(process.env.npm_config_nodedir, 'include', 'node'),
    join(dirname(process.execPath), '..', 'include', 'node'),
    '/usr/include/node',
    '/usr/local/include/node',
  ].filter(Boolean);
  return candidates.find((d) => existsSync(join(d, 'node_api.h'))) ?? null;
}

/** Builds the addon if its source is newer than the built file; returns what happened. */
export function buildNative() {
  if (process.platform !== 'linux') return 'skipped: malloc_trim is glibc (Linux) only';
  if (existsSync(NATIVE_OUTPUT) && statSync(NATIVE_OUTPUT).mtimeMs >= statSync(NATIVE_SOURCE).mtimeMs) return 'up to date';
  const headers = nodeHeaders();
  if (headers === null) return 'not built: no node_api.h found (set npm_config_nodedir to a Node.js install with include/node)';
  const cc = process.env.CC || 'cc';
  mkdirSync(dirname(NATIVE_OUTPUT), { recursive: true });
  const tmp = `${NATIVE_OUTPUT}.tmp-${process.pid}`;
  const r = spawnSync(cc, ['-O2', '-Wall', '-shared', '-fPIC', `-I${headers}`, NATIVE_SOURCE, '-o', tmp], { encoding: 'utf8' });
  if (r.error || r.status !== 0) {
    const why = r.error ? r.error.message : (r.stderr || '').trim().split('\n').slice(0, 3).join(' / ');
    return `not built: ${cc} failed (${why})`;
  }
  renameSync(tmp, NATIVE_OUTPUT);
  return 'built';
}

/** Prints one line unless there was nothing to do. */
export function buildNativeAndSay() {
  const what = buildNative();
  if (what !== 'up to date') console.log(`build-native: malloc-trim addon ${what}${what.startsWith('not built') ? '; stores will not give freed heap memory back to the kernel' : ''}`);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) buildNativeAndSay();
