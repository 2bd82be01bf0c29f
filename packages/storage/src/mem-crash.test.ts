// crash.test.ts's expectations for the in-memory engine, with power loss instead of SIGKILL:
// the same workload (crash-workload.ts) runs on a MemDisk with seeded fsync times, the disk
// crashes at a seeded simulated moment keeping a seeded prefix of its unsynced writes, and
// a new engine opened on it must hold every acknowledged write, logs without gaps and hard
// states that match the logs - exactly what crash.test.ts asks of RocksDB after a kill.
//
// RANGEKV_MEM_CRASH_ITERATIONS (default 48) crash points, seeds from RANGEKV_CRASH_SEED (default 1).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Prng } from '@rangekv/raft';
import { StorageEngine } from './engine.js';
import { MemDisk, type CrashReport } from './mem-disk.js';
import { WORKLOAD_LIMITS, checkStore, runWorkload } from './testing/crash-workload.js';
import { VirtualClock } from './testing/virtual-clock.js';

const ITERATIONS = Number(process.env['RANGEKV_MEM_CRASH_ITERATIONS'] ?? 48);
const BASE_SEED = Number(process.env['RANGEKV_CRASH_SEED'] ?? 1);
const GROUPS = 40;

const totals = { acks: 0, lostWrites: 0, keptWrites: 0 };

for (let i = 0; i < ITERATIONS; i++) {
  const seed = BASE_SEED + i;
  test(`seed ${seed}: after a power loss every acknowledged write is durable, logs have no gaps, hard states match logs [memory]`, async () => {
    const prng = new Prng(seed * 7919 + 17);
    const crashAtMs = 20 + prng.int(200);
    const keepUnsynced = [0, 0, 1, 2, 5, Infinity][prng.int(6)]!;
    const fsyncs = new Prng(seed * 31 + 5);
    const disk = new MemDisk();
    const clock = new VirtualClock();
    const opts = { clock, limits: WORKLOAD_LIMITS, syncDelay: () => 1 + fsyncs.int(3) };
    const engine = await StorageEngine.openOnDisk(disk, opts);
    const acks = new Map<number, number>();
    const crashed = new Promise<CrashReport>((resolve) => clock.setTimer(crashAtMs, () => resolve(disk.crash({ keepUnsynced }))));
    // The workload is the process that dies: its turns go through the disk-bound clock.
    void runWorkload(engine, {
      seed, groups: GROUPS, maxCycles: Number.MAX_SAFE_INTEGER, nextTurn: disk.bindClock(clock).nextTurn,
      onAck: (members) => {
        for (const [g, k] of members) {
          assert.equal(k, (acks.get(g) ?? 0) + 1, `group ${g}: acks out of order`);
          acks.set(g, k);
        }
      },
    });
    const report = await crashed;
    const acked = [...acks.values()].reduce((a, b) => a + b, 0);
    assert.ok(acked > 0, `nothing was acknowledged before the crash at ${crashAtMs} ms`);
    totals.acks += acked;
    totals.lostWrites += report.lostWrites;
    totals.keptWrites += report.keptWrites;
    const again = await StorageEngine.openOnDisk(disk, opts);
    try {
      checkStore(again, seed, GROUPS, acks);
    } finally {
      await again.close();
    }
  });
}

test('the crash points above lost unsynced writes and kept some (the test exercises both) [memory]', { skip: ITERATIONS < 6 }, () => {
  assert.ok(totals.lostWrites > 0, `no crash lost a write: ${JSON.stringify(totals)}`);
  assert.ok(totals.keptWrites > 0, `no crash kept an unsynced write: ${JSON.stringify(totals)}`);
});
