// Location-aware placement with real processes: one PD (replica checker on,
// --location-labels zone) and four store-main --pd processes labelled zone=a, a, b, c.
// Range 1 starts on stores 1-3 (zones a, a, b) and is split into 4 ranges: with no
// operator asked for by hand, every range ends with one replica per zone (store 4 in
// zone c takes one of the two in zone a), moved by replica-checker; the data reads back.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RangeKvClient } from '@rangekv/client';
import { E2eCluster, eventually } from './cluster.js';
import { splitWhenFree } from './load.js';

const ZONE: Record<number, string> = { 1: 'a', 2: 'a', 3: 'b', 4: 'c' };

test('replicas spread over zones: a range with two replicas in one zone gets one moved to the zone it lacks', async () => {
  const c = await E2eCluster.start({
    pdNodes: 1, stores: 4, initialStores: 3, replicaChecker: true,
    pdArgs: ['--location-labels', 'zone'],
    storeArgsFor: (id) => ['--labels', `zone=${ZONE[id]!},host=h${id}`],
  });
  const kv = await RangeKvClient.connect({ pd: c.pdAddresses(), timeoutMs: 30_000 });
  try {
    await eventually('the cluster serves a write', async () => kv.put('probe', '1').then(() => true, () => false));
    for (const k of ['g', 'n', 't']) {
      await splitWhenFree(kv, k);
      await kv.put(`${k}-key`, k);
    }
    const stores = await kv.listStores();
    assert.deepEqual(stores.map((s) => s.labels), [1, 2, 3, 4].map((id) => ({ host: `h${id}`, zone: ZONE[id] })));
    let last = '';
    await eventually('every range has one replica per zone', async () => {
      const rs = await kv.listRanges();
      last = JSON.stringify(rs.map((r) => r.replicas.map((x) => ZONE[x.storeId])));
      return rs.length === 4 && rs.every((r) => r.replicas.length === 3 && new Set(r.replicas.map((x) => ZONE[x.storeId])).size === 3);
    }, 120_000).catch((e: unknown) => {
      throw new Error(`${e instanceof Error ? e.message : String(e)}; zones ${last}`);
    });
    const moves = (await kv.listOperators()).filter((o) => o.kind === 'move-replica');
    assert.ok(moves.length >= 4 && moves.every((o) => o.createdBy === 'replica-checker' && o.toStore === 4), JSON.stringify(moves.map((o) => [o.fromStore, o.toStore, o.createdBy])));
    for (const k of ['g', 'n', 't']) assert.equal((await kv.get(`${k}-key`))?.toString(), k);
  } finally {
    kv.close();
    await c.close();
  }
});
