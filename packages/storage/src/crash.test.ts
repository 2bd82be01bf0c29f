// Crash safety with real processes: a child writes through the log writer for many groups
// and is killed with SIGKILL at a seeded random moment. On reopen, every write it reported
// durable must be there: each group's log and hard state equal the workload's state after
// its last acknowledged step or a later one (requests in flight may have landed too), the
// log has no gap, and the hard state agrees with the log.
//
// RANGEKV_CRASH_ITERATIONS (default 12) kill points, seeds from RANGEKV_CRASH_SEED (default 1).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Prng } from '@rangekv/raft';
import { StorageEngine } from './engine.js';
import { checkStore } from './testing/crash-workload.js';
import { tempDir } from './testing/fixtures.js';

const ITERATIONS = Number(process.env['RANGEKV_CRASH_ITERATIONS'] ?? 12);
const BASE_SEED = Number(process.env['RANGEKV_CRASH_SEED'] ?? 1);
const GROUPS = 40;
const CHILD = fileURLToPath(new URL('./testing/crash-child.js', import.meta.url));

interface ChildRun {
  acks: Map<number, number>;
  ackLines: number;
  signal: NodeJS.Signals | null;
  code: number | null;
  stderr: string;
}

async function runAndKill(dir: string, seed: number): Promise<ChildRun> {
  const child = spawn(process.execPath, [CHILD, dir, String(seed), String(GROUPS), '1000000000'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => { out += s; });
  child.stderr.setEncoding('utf8').on('data', (s: string) => { stderr += s; });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const deadline = Date.now() + 30_000;
  while (!out.includes('ready\n')) {
    if (child.exitCode !== null || Date.now() > deadline) break;
    await new Promise((r) => setTimeout(r, 5));
  }
  const delayMs = 10 + new Prng(seed).int(400);
  await new Promise((r) => setTimeout(r, delayMs));
  child.kill('SIGKILL');
  const { code, signal } = await exited;
  await new Promise((r) => setImmediate(r)); // let the last stdout chunk through
  const acks = new Map<number, number>();
  let ackLines = 0;
  const lines = out.split('\n');
  lines.pop(); // an unterminated last line was cut by the kill
  for (const line of lines) {
    const m = /^a (\d+) (\d+)$/.exec(line);
    if (!m) continue;
    const g = Number(m[1]);
    const k = Number(m[2]);
    assert.equal(k, (acks.get(g) ?? 0) + 1, `group ${g}: acks out of order (${k} after ${acks.get(g) ?? 0})`);
    acks.set(g, k);
    ackLines++;
  }
  return { acks, ackLines, signal, code, stderr };
}

for (let i = 0; i < ITERATIONS; i++) {
  const seed = BASE_SEED + i;
  test(`seed ${seed}: after SIGKILL every acknowledged write is durable, logs have no gaps, hard states match logs`, async () => {
    const dir = tempDir('rangekv-crash-');
    try {
      const run = await runAndKill(dir.path, seed);
      assert.equal(run.signal, 'SIGKILL', `child ended by itself (code ${run.code}) before the kill: ${run.stderr}`);
      assert.ok(run.ackLines > 0 || run.stderr === '', run.stderr);
      const engine = await StorageEngine.open(dir.path);
      try {
        checkStore(engine, seed, GROUPS, run.acks);
      } finally {
        await engine.close();
      }
    } finally {
      dir.remove();
    }
  });
}
