// End to end with real processes: PD (1 and 3 nodes) and store-main --pd, driven through
// @rangekv/client. What the client acknowledged must be there afterwards, whatever
// moved, split or died in between.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { AmbiguousWriteError, RangeKvClient } from '@rangekv/client';
import { E2eCluster, eventually } from './cluster.js';

const key = (i: number): string => `k${String(i).padStart(4, '0')}`;

/** Closed-loop writers, each owning its keys (so the last acknowledged value is the value). */
function startWriters(kv: RangeKvClient, writers: number, keysPerWriter: number): { acked: ReadonlyMap<string, string>; stop: () => Promise<Map<string, string>> } {
  const acked = new Map<string, string>();
  let stopped = false;
  let failure: unknown = null;
  const loops = Array.from({ length: writers }, async (_, w) => {
    for (let n = 0; !stopped; n++) {
      const k = key((n % keysPerWriter) * writers + w);
      const v = `${w}-${n}`;
      try {
        // One writer per key: a put whose outcome is unknown is safely sent again.
        for (;;) {
          try {
            await kv.put(k, v, { timeoutMs: 30_000 });
            break;
          } catch (e) {
            if (!(e instanceof AmbiguousWriteError)) throw e;
          }
        }
        acked.set(k, v);
      } catch (e) {
        failure = e;
        return;
      }
    }
  });
  return {
    acked,
    stop: async () => {
      stopped = true;
      await Promise.all(loops);
      if (failure !== null) throw failure;
      return acked;
    },
  };
}

async function checkAll(kv: RangeKvClient, acked: Map<string, string>): Promise<void> {
  for (const [k, v] of acked) assert.equal((await kv.get(k))?.toString(), v, `key ${k}`);
}

describe('one PD, four stores', () => {
  test('moving replicas to a fourth store while writes continue loses no write; the new store serves them', async () => {
    const c = await E2eCluster.start({ pdNodes: 1, stores: 4, initialStores: 3 });
    const kv = await RangeKvClient.connect({ pd: c.pdAddresses(), timeoutMs: 30_000 });
    try {
      await eventually('the cluster serves a write', async () => kv.put('probe', '1').then(() => true, () => false));
      for (const at of [key(40), key(80), key(120)]) assert.equal((await kv.split(at)).status, 'succeeded');
      const writers = startWriters(kv, 8, 20);
      await eventually('the writers have acknowledged writes', () => writers.acked.size >= 8);
      const ranges = await kv.listRanges();
      assert.equal(ranges.length, 4);
      // Store 4 joined after the bootstrap: it holds nothing yet. Move one replica of every range there.
      for (const r of ranges) {
        const from = r.replicas.find((x) => x.storeId !== r.leaderStoreId)!.storeId;
        const op = await kv.moveReplica(r.rangeId, from, 4, { timeoutMs: 60_000 });
        assert.equal(op.status, 'succeeded', `move range ${r.rangeId}: ${op.reason}`);
      }
      const acked = await writers.stop();
      assert.ok(acked.size > 20, `writes went on (${acked.size} keys)`);
      await checkAll(kv, acked);
      const after = await kv.listRanges();
      for (const r of after) {
        assert.ok(r.replicas.some((x) => x.storeId === 4), `range ${r.rangeId} has a replica on store 4`);
        assert.equal(r.replicas.length, 3, `range ${r.rangeId} still has 3 replicas`);
      }
      // Store 4 can lead: transfer one range there and write through it.
      const r0 = after[0]!;
      assert.equal((await kv.transferLeader(r0.rangeId, 4)).status, 'succeeded');
      await kv.put('after-move', 'ok');
      assert.equal((await kv.get('after-move'))?.toString(), 'ok');
    } finally {
      kv.close();
      await c.close();
    }
  });
});

describe('three PD nodes', () => {
  test('the PD leader is killed: a new leader takes over, a running operator completes, the client goes on', async () => {
    const c = await E2eCluster.start({ pdNodes: 3, stores: 4, initialStores: 3 });
    const kv = await RangeKvClient.connect({ pd: c.pdAddresses(), timeoutMs: 30_000 });
    try {
      await eventually('the cluster serves a write', async () => kv.put('probe', '1').then(() => true, () => false));
      assert.equal((await kv.split(key(100))).status, 'succeeded');
      const writers = startWriters(kv, 4, 25);
      const [r] = await kv.listRanges({ limit: 1 });
      const from = r!.replicas.find((x) => x.storeId !== r!.leaderStoreId)!.storeId;
      const op = await kv.moveReplica(r!.rangeId, from, 4, { wait: false });
      const leader = await c.pdLeader();
      assert.ok(leader, 'a PD leader');
      leader.kill();
      await leader.exited;
      let final = op;
      await eventually('the move finishes under the new PD leader', async () => {
        final = await kv.getOperator(op.id).catch(() => final);
        return final.status !== 'running';
      }, 90_000);
      assert.equal(final.status, 'succeeded', final.reason);
      const newLeader = await c.pdLeader();
      assert.ok(newLeader && newLeader.id !== leader.id, 'another PD node leads');
      // New operators and routing work under the new PD leader.
      assert.equal((await kv.split(key(50))).status, 'succeeded');
      const acked = await writers.stop();
      await checkAll(kv, acked);
      const ranges = await kv.listRanges();
      assert.equal(ranges.length, 3);
      assert.ok(ranges.find((x) => x.rangeId === r!.rangeId)!.replicas.some((x) => x.storeId === 4));
    } finally {
      kv.close();
      await c.close();
    }
  });
});
