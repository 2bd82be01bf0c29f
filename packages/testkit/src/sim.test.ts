// The deterministic simulation as a test suite: a fixed set of seeds, each of which must
// stay safe under its fault schedule, recover after healing, and leave a linearizable
// client history. Seeds run on worker threads (one per core); each seed is one test.
//
// A failing seed prints the command that replays it with a full trace.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runSeedsInPool, type SeedSummary } from './sim/seed-pool.js';

const FIRST_SEED = 1;
const SEED_COUNT = 300;

interface Pending {
  promise: Promise<SeedSummary>;
  resolve: (s: SeedSummary) => void;
  reject: (e: unknown) => void;
}

const pending = new Map<number, Pending>();
const jobs = [];
for (let seed = FIRST_SEED; seed < FIRST_SEED + SEED_COUNT; seed++) {
  let resolve!: (s: SeedSummary) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<SeedSummary>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  pending.set(seed, { promise, resolve, reject });
  jobs.push({ seed });
}
const pool = runSeedsInPool(jobs, (s) => pending.get(s.seed)!.resolve(s));
pool.catch((e: unknown) => {
  for (const p of pending.values()) p.reject(e);
});

for (const [seed, p] of pending) {
  test(`seed ${seed}: safe under faults, live after healing, linearizable history`, async () => {
    const s = await p.promise;
    if (!s.ok) {
      const f = s.failure!;
      const [first, ...rest] = f.message.split('\n');
      assert.fail([
        `[${f.invariant}] in ${f.phase} phase at tick ${f.tick}: ${first}`,
        `replay: pnpm sim --seed ${seed} --trace`,
        ...rest,
      ].join('\n'));
    }
    assert.ok(s.opsCompleted > 0, 'clients completed operations');
    assert.notEqual(s.recoveryTicks, null, 'the cluster recovered after healing');
  });
}
