// Helpers for the deploy tests that run the real `rangekv` command: start a server and wait
// for its ready line, run a one-shot command, stop everything (each server in its own
// process group, so the CLI and the main it runs go together), and make certificates
// with deploy/tls/make-certs.sh. `prefix` runs the command under another one
// (`ip netns exec NS`).
import { spawn, spawnSync, execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { createServer } from 'node:net';

export const deployDir = dirname(dirname(fileURLToPath(import.meta.url)));
export const repoRoot = dirname(deployDir);
export const CLI = join(repoRoot, 'tools', 'cli', 'dist', 'rangekv.js');
export const MAKE_CERTS = join(deployDir, 'tls', 'make-certs.sh');

export function hasOpenssl() {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Why the CLI tests cannot run here, or false. */
export function cliSkip() {
  if (!hasOpenssl()) return 'openssl not installed';
  if (!existsSync(CLI)) return 'not built (run npm test or pnpm build)';
  return false;
}

function command(prefix, args) {
  return prefix.length === 0 ? [process.execPath, [CLI, ...args]] : [prefix[0], [...prefix.slice(1), process.execPath, CLI, ...args]];
}

/** Starts `rangekv ARGS` (under `prefix`); resolves with { proc, ready, stderr } at its ready line. */
export function startServer(args, { prefix = [], readyMs = 30_000 } = {}) {
  const [cmd, argv] = command(prefix, args);
  const proc = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  const stderr = [];
  createInterface({ input: proc.stderr }).on('line', (l) => {
    stderr.push(l);
    if (stderr.length > 50) stderr.shift();
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`rangekv ${args[0]}: not ready in ${readyMs} ms:\n${stderr.join('\n')}`)), readyMs);
    createInterface({ input: proc.stdout }).on('line', (l) => {
      try {
        const e = JSON.parse(l);
        if (e.event === 'ready') {
          clearTimeout(timer);
          resolve({ proc, ready: e, stderr });
        }
      } catch { /* not an event */ }
    });
    proc.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`rangekv ${args[0]} exited ${code}:\n${stderr.join('\n')}`));
    });
  });
}

/** Kills each process's group (SIGKILL) and waits for the exits. */
export async function killAll(procs) {
  const exited = procs.map((p) => (p.exitCode === null && p.signalCode === null ? new Promise((r) => p.on('exit', r)) : null));
  for (const p of procs) {
    try {
      process.kill(-p.pid, 'SIGKILL');
    } catch { /* already gone */ }
  }
  await Promise.all(exited);
}

/** Runs `rangekv ARGS` (under `prefix`) to the end: { code, out, err }. */
export function runCli(args, { prefix = [], env = {}, timeoutMs = 60_000 } = {}) {
  const [cmd, argv] = command(prefix, args);
  const r = spawnSync(cmd, argv, { encoding: 'utf8', env: { ...process.env, ...env }, timeout: timeoutMs });
  return { code: r.status, out: (r.stdout ?? '').trim(), err: (r.stderr ?? '').trim() };
}

/** make-certs.sh with PKI_DIR=dir: makeCerts(dir, 'store', '1', '10.0.0.1'). */
export function makeCerts(dir, ...args) {
  return execFileSync('sh', [MAKE_CERTS, ...args], { env: { ...process.env, PKI_DIR: dir }, encoding: 'utf8' });
}

/** The --tls-* flags for certificate NAME (pd-1, store-2, admin-ops, ...) of `dir`. */
export function tlsFlags(dir, name) {
  return ['--tls-ca-file', join(dir, 'ca.pem'), '--tls-cert-file', join(dir, `${name}.pem`), '--tls-key-file', join(dir, `${name}.key`)];
}

/** A port nobody listens on now on 127.0.0.1 (for fixed-port flags such as the image's --http-port). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}
