// The whole-store simulation in the default suite: a fixed set of seeds (each one test),
// every one of which must keep the invariants under its faults, recover after healing and
// leave a linearizable client history; and one seed run twice gives the same run.
//
// A failing seed prints the command that replays it with a trace.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runStoreSeed } from './store-sim/run-store-seed.js';
import { runStoreSeedsInPool, type StoreSeedSummary } from './store-sim/seed-pool.js';

const FIRST_SEED = 1;
const SEED_COUNT = 240;
/**
 * Seeds that once failed, run on top of the fixed range, with what they found:
 * 171 (in the range): a split wrote the right range's state while the replaced
 * uninitialized replica's Readies were still in the log writer (its hard state
 * overwrote the new one); 50008: a liveness write after healing answered ambiguous by a
 * deposed leader was counted as lost (the runner now asks again, as a client would);
 * 4060: a leader's heartbeat reached a removed replica while its log was being deleted and
 * created a replica on that log, which the delete then pulled away (the host stopped on a
 * fatal error; store-sim/destroy-race.test.ts pins the race down); 2236 and 2632: a merge
 * rolled back while its coordinator was cut off, then its left range was merged into its
 * own left neighbour before the watchdog unfroze the right range, which stayed frozen for
 * good (the merged range now inherits the outcomes, and the watchdog reads a rollback
 * there); 1035: the same after L had split first, and the simulated client then had no
 * cached range for the split-off half's keys once the merged range's descriptor evicted
 * the stale ones (it now asks a store which range holds the key, as the real client asks
 * PD); 139 (in the range): the log compactor truncated entries raft had not applied yet,
 * during a merge's long apply; 4326: a stale leader's heartbeat recreated a removed replica
 * with an empty log, whose vote elected that leader under its old membership: acknowledged
 * writes lost (the host now keeps tombstones of destroyed replicas).
 */
const REGRESSION_SEEDS = [50008, 4060, 2236, 2632, 1035, 4326];

const waiting = new Map<number, { promise: Promise<StoreSeedSummary>; resolve: (s: StoreSeedSummary) => void; reject: (e: unknown) => void }>();
const jobs = [];
const seeds = [...Array.from({ length: SEED_COUNT }, (_, i) => FIRST_SEED + i), ...REGRESSION_SEEDS];
for (const seed of seeds) {
  let resolve!: (s: StoreSeedSummary) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<StoreSeedSummary>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  waiting.set(seed, { promise, resolve, reject });
  jobs.push({ seed });
}
const pool = runStoreSeedsInPool(jobs, (s) => waiting.get(s.seed)!.resolve(s));
pool.catch((e: unknown) => {
  for (const w of waiting.values()) w.reject(e);
});

test('one seed is one run: the same seed gives the same trace and the same result', async () => {
  const run = async (): Promise<{ lines: string[]; r: unknown }> => {
    const lines: string[] = [];
    const r = await runStoreSeed({ seed: 4242, safetyMs: 3_000, trace: (l) => lines.push(l) });
    return { lines, r };
  };
  const a = await run();
  const b = await run();
  assert.ok(a.lines.length > 10, 'the run did something');
  assert.deepEqual(b.lines, a.lines);
  assert.deepEqual(b.r, a.r);
});

for (const [seed, w] of waiting) {
  test(`store seed ${seed}: invariants hold under faults, every range writable after healing, linearizable history`, async () => {
    const s = await w.promise;
    assert.ok(s.ok, `seed ${seed} failed: ${s.failure ?? ''}\n  replay: pnpm sim:store --seed ${seed} --trace`);
  });
}
