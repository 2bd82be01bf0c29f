// 1,000 ranges left to PD, with real processes: one PD (all schedulers of a default PD but
// the split checker, short warm-ups) and three store-main --pd processes. Range 1 is split
// by PD split operators into 1,000 ranges while two writers run; every new range starts
// led where its parent was. With no transfer asked for by hand, the leaders end within
// ±10% of the mean on every store, moved by balance-leader; every acknowledged write
// reads back. The deadline is generous (shared machine); no duration is asserted.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RangeKvClient } from '@rangekv/client';
import { E2eCluster, eventually } from './cluster.js';
import { splitWhenFree, Writer } from './load.js';

const RANGES = 1_000;
const STORES = [1, 2, 3];
const SPLITS_IN_FLIGHT = 8;
const key = (i: number): string => `k${String(i).padStart(6, '0')}`;

/** Splits at keys[lo..hi) by halves, `SPLITS_IN_FLIGHT` at a time on distinct ranges (PD runs one operator per range). */
async function splitAll(kv: RangeKvClient, keys: readonly string[]): Promise<void> {
  const queue: Array<[number, number]> = [[0, keys.length]];
  await new Promise<void>((resolve, reject) => {
    let running = 0;
    const pump = (): void => {
      while (running < SPLITS_IN_FLIGHT && queue.length > 0) {
        const [lo, hi] = queue.shift()!;
        const mid = (lo + hi) >> 1;
        running++;
        splitWhenFree(kv, keys[mid]!, 60_000).then(() => {
          running--;
          if (mid > lo) queue.push([lo, mid]);
          if (hi > mid + 1) queue.push([mid + 1, hi]);
          pump();
        }, reject);
      }
      if (running === 0 && queue.length === 0) resolve();
    };
    pump();
  });
}

test('1,000 ranges split while clients write: leaders end within ±10% of the mean on every store, by PD alone', async () => {
  const c = await E2eCluster.start({
    pdNodes: 1, stores: 3, initialStores: 3, leaderBalance: true, replicaChecker: true, replicaBalance: true, hotBalance: true,
    pdArgs: ['--leader-balance-warmup-ms', '2000'],
  });
  const kv = await RangeKvClient.connect({ pd: c.pdAddresses(), timeoutMs: 60_000 });
  const writers: Writer[] = [];
  try {
    await eventually('the cluster serves a write', async () => kv.put('probe', '1').then(() => true, () => false));
    // Writer w owns keys w, w + 2, ...: one writer per key, so the last ack is the value.
    for (const w of [0, 1]) writers.push(new Writer(kv, (i) => key(((i * 7919) % (RANGES / 2)) * 2 + w), `${w}-`));
    await splitAll(kv, Array.from({ length: RANGES - 1 }, (_, i) => key(i + 1)));
    const mean = RANGES / STORES.length;
    let last: number[] = [];
    await eventually('leaders within ±10% of the mean', async () => {
      const rs = await kv.listRanges();
      last = STORES.map((s) => rs.filter((r) => r.leaderStoreId === s).length);
      return rs.length === RANGES && last.every((n) => Math.abs(n - mean) <= mean * 0.1);
    }, 300_000).catch((e: unknown) => {
      throw new Error(`${e instanceof Error ? e.message : String(e)}; leaders per store ${JSON.stringify(last)}`);
    });
    for (const w of writers) await w.stop();
    const acked = writers.reduce((n, w) => n + w.acked.size, 0);
    assert.ok(acked > 100, `writers made progress (${acked} keys)`);
    for (const w of writers) await w.verify();
    const byHand = (await kv.listOperators()).filter((o) => o.kind === 'transfer-leader' && o.createdBy === 'admin');
    assert.equal(byHand.length, 0);
  } finally {
    for (const w of writers) await w.stop().catch(() => undefined);
    kv.close();
    await c.close();
  }
});
