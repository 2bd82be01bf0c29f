// Adding a store with real processes: one PD (leader balance, replica checker and replica
// balance on, short warm-ups) and three store-main --pd processes; range 1 is split into 12
// ranges while a writer runs. A fourth store joins empty: with no operator asked for by
// hand, replicas and leaders spread onto it (replicas per store within the tolerance of
// the mean, 9; store 4 leads ranges too), moved by balance-replica and balance-leader; every
// acknowledged write reads back. The deadline is generous (shared machine); no duration is
// asserted.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RangeKvClient } from '@rangekv/client';
import { E2eCluster, eventually } from './cluster.js';
import { splitWhenFree, Writer } from './load.js';

const RANGES = 12;
const SPREAD_DEADLINE_MS = 180_000;
const key = (i: number): string => `k${String(i).padStart(4, '0')}`;

test('a fourth store joins: replicas and leaders spread onto it, moved by the schedulers only; no acknowledged write is lost', async () => {
  const c = await E2eCluster.start({
    pdNodes: 1, stores: 3, initialStores: 3, leaderBalance: true, replicaChecker: true, replicaBalance: true,
    pdArgs: ['--leader-balance-warmup-ms', '2000', '--leader-balance-interval-ms', '200'],
  });
  const kv = await RangeKvClient.connect({ pd: c.pdAddresses(), timeoutMs: 30_000 });
  let writer: Writer | undefined;
  try {
    await eventually('the cluster serves a write', async () => kv.put('probe', '1').then(() => true, () => false));
    for (let i = 1; i < RANGES; i++) await splitWhenFree(kv, key(i * 100));
    const w = (writer = new Writer(kv, (i) => key((i * 37) % (RANGES * 100))));
    await eventually('writes flow', () => w.writes > 50);
    await c.addStore();
    let last = '';
    await eventually('replicas and leaders spread over four stores', async () => {
      const rs = await kv.listRanges();
      const replicas = [1, 2, 3, 4].map((s) => rs.filter((r) => r.replicas.some((x) => x.storeId === s)).length);
      const leaders = [1, 2, 3, 4].map((s) => rs.filter((r) => r.leaderStoreId === s).length);
      last = `replicas ${replicas.join(',')} leaders ${leaders.join(',')}`;
      // mean 9 replicas: ±10 % is 9 in whole replicas (8..10 allowed here: a move needs a gap of 2); leaders mean 3: within [2, 4].
      return rs.length === RANGES && rs.every((r) => r.replicas.length === 3) &&
        replicas.every((n) => n >= 8 && n <= 10) && leaders.every((n) => n >= 2 && n <= 4);
    }, SPREAD_DEADLINE_MS).catch((e: unknown) => {
      throw new Error(`${e instanceof Error ? e.message : String(e)}; ${last}`);
    });
    const ops = await kv.listOperators();
    const moves = ops.filter((o) => o.kind === 'move-replica');
    assert.ok(moves.length >= 8, `moves: ${moves.length}`);
    assert.ok(moves.every((o) => o.createdBy === 'balance-replica'), JSON.stringify(moves.map((o) => o.createdBy)));
    await w.stop();
    await w.verify();
  } finally {
    await writer?.stop().catch(() => undefined);
    kv.close();
    await c.close();
  }
});
