// PD's replica checker with real processes: one PD (replica checker on, a store is dead
// after 4 s of silence) and four store-main --pd processes; range 1 starts on stores 1-3
// and is split into 6 ranges. A writer runs throughout. Store 1 is killed (-9) and stays
// down: every range ends with 3 voters on live stores, its new replica on store 4, moved
// by operators the replica checker created; every acknowledged write reads back. Store 1
// then restarts: its six stale replicas (removed while it was down, they never learn it)
// find no leader, are checked with PD by replica GC and destroyed. No duration is asserted.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RangeKvClient } from '@rangekv/client';
import { ReplicaRole } from '@rangekv/proto';
import { E2eCluster, eventually } from './cluster.js';
import { Writer } from './load.js';

const RANGES = 6;
const REPAIR_DEADLINE_MS = 120_000;
const key = (i: number): string => `k${String(i).padStart(4, '0')}`;

test('a store dead past maxStoreDownTimeMs: every range gets its third voter back on a live store; no acknowledged write is lost', async () => {
  const c = await E2eCluster.start({
    pdNodes: 1, stores: 4, initialStores: 3, replicaChecker: true,
    pdArgs: ['--store-down-after-ms', '2000', '--max-store-down-time-ms', '4000'],
    storeArgs: ['--replica-gc-interval-ms', '500'],
  });
  const kv = await RangeKvClient.connect({ pd: c.pdAddresses(), timeoutMs: 30_000 });
  let writer: Writer | undefined;
  try {
    await eventually('the cluster serves a write', async () => kv.put('probe', '1').then(() => true, () => false));
    for (let i = 1; i < RANGES; i++) {
      const op = await kv.split(key(i * 100), { timeoutMs: 30_000 });
      assert.equal(op.status, 'succeeded', op.reason);
    }
    const w = (writer = new Writer(kv, (i) => key((i * 37) % (RANGES * 100))));
    await eventually('writes flow', () => w.writes > 50);
    await c.killStore(1);
    const before = w.writes;
    const voterStores = (r: { replicas: Array<{ storeId: number; role: ReplicaRole }> }): number[] =>
      r.replicas.filter((x) => x.role === ReplicaRole.Voter).map((x) => x.storeId).sort();
    let last = '';
    await eventually('every range has 3 voters on stores 2, 3 and 4', async () => {
      const rs = await kv.listRanges();
      last = JSON.stringify(rs.map((r) => [r.rangeId, r.replicas.map((x) => `${x.storeId}:${x.role}`)]));
      return rs.length === RANGES && rs.every((r) => r.replicas.length === 3 && voterStores(r).join() === '2,3,4');
    }, REPAIR_DEADLINE_MS).catch((e: unknown) => {
      throw new Error(`${e instanceof Error ? e.message : String(e)}; ranges ${last}`);
    });
    await eventually('writes go on after the repair', () => w.writes > before + 50);
    let ops: Awaited<ReturnType<RangeKvClient['listOperators']>> = [];
    await eventually('the replica checker\'s moves have all succeeded', async () => {
      ops = (await kv.listOperators()).filter((o) => o.createdBy === 'replica-checker');
      return ops.every((o) => o.status !== 'running');
    });
    assert.equal(ops.filter((o) => o.kind === 'move-replica' && o.fromStore === 1 && o.toStore === 4 && o.status === 'succeeded').length, RANGES,
      JSON.stringify(ops.map((o) => [o.kind, o.rangeId, o.fromStore, o.toStore, o.status, o.reason])));
    // The dead store comes back: the ranges keep their members, its stale replicas go, and everything still serves.
    await c.restartStore(1);
    let held = -1;
    await eventually('store 1 destroys its stale replicas', async () => {
      held = (await kv.listStores()).find((s) => s.id === 1)?.ranges ?? -1;
      return held === 0;
    }).catch((e: unknown) => {
      throw new Error(`${e instanceof Error ? e.message : String(e)}; store 1 reports ${held} ranges`);
    });
    await w.stop();
    await w.verify();
    const rs = await kv.listRanges();
    assert.ok(rs.every((r) => voterStores(r).join() === '2,3,4'), JSON.stringify(rs.map((r) => r.replicas)));
  } finally {
    await writer?.stop().catch(() => undefined);
    kv.close();
    await c.close();
  }
});
