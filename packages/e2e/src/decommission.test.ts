// Decommissioning a store with real processes: one PD (replica checker and leader balance
// on) and four store-main --pd processes; range 1 starts on stores 1-3 and is split into
// 6 ranges, and store 1 leads some. A writer runs throughout. `DecommissionStore(1)`: the
// store shows offline, every replica and leader moves off it (to store 4 and the others),
// and it ends tombstone holding no replica; PD then refuses it (its heartbeats, operators
// towards it, a second decommission). Every acknowledged write reads back. No duration is
// asserted.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RangeKvClient } from '@rangekv/client';
import { E2eCluster, eventually } from './cluster.js';
import { splitWhenFree, Writer } from './load.js';

const RANGES = 6;
const DEADLINE_MS = 120_000;
const key = (i: number): string => `k${String(i).padStart(4, '0')}`;

test('decommission under load: the store ends tombstone with no replica; no acknowledged write is lost; PD refuses it afterwards', async () => {
  const c = await E2eCluster.start({
    pdNodes: 1, stores: 4, initialStores: 3, replicaChecker: true, leaderBalance: true,
    pdArgs: ['--leader-balance-warmup-ms', '1000'],
  });
  const kv = await RangeKvClient.connect({ pd: c.pdAddresses(), timeoutMs: 30_000 });
  let writer: Writer | undefined;
  try {
    await eventually('the cluster serves a write', async () => kv.put('probe', '1').then(() => true, () => false));
    for (let i = 1; i < RANGES; i++) await splitWhenFree(kv, key(i * 100));
    await eventually('store 1 leads a range', async () => (await kv.listRanges()).some((r) => r.leaderStoreId === 1));
    const w = (writer = new Writer(kv, (i) => key((i * 37) % (RANGES * 100))));
    await eventually('writes flow', () => w.writes > 50);
    assert.equal((await kv.decommissionStore(1)).state, 'offline');
    let last = '';
    await eventually('store 1 is tombstone and no range has a replica on it', async () => {
      const [stores, rs] = await Promise.all([kv.listStores(), kv.listRanges()]);
      const s1 = stores.find((s) => s.id === 1)!;
      last = `store 1 ${s1.state}; ranges ${JSON.stringify(rs.map((r) => [r.rangeId, r.replicas.map((x) => x.storeId)]))}`;
      return s1.state === 'tombstone' && rs.length === RANGES &&
        rs.every((r) => r.replicas.length === 3 && r.replicas.every((x) => x.storeId !== 1) && r.leaderStoreId !== 1);
    }, DEADLINE_MS).catch((e: unknown) => {
      throw new Error(`${e instanceof Error ? e.message : String(e)}; ${last}`);
    });
    const before = w.writes;
    await eventually('writes go on', () => w.writes > before + 50);
    await w.stop();
    await w.verify();
    // A tombstone stays one: no second decommission, no cancel, no replica or leader towards it.
    await assert.rejects(kv.decommissionStore(1), /tombstone/);
    await assert.rejects(kv.decommissionStore(1, { cancel: true }), /tombstone/);
    const r1 = (await kv.listRanges())[0]!;
    await assert.rejects(kv.addReplica(r1.rangeId, 1), /tombstone/);
  } finally {
    await writer?.stop().catch(() => undefined);
    kv.close();
    await c.close();
  }
});
