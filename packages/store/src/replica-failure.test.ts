// A committed entry that cannot be applied fails only its replica (EntryApplyError): the
// store stays up and serves its other ranges, the failed range answers RangeNotFound, and
// a restart meets the same entry and fails the replica again instead of crashing.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { metapb } from '@rangekv/proto';
import { StoreCluster } from './testing/store-cluster.js';

const b = (s: string): Buffer => Buffer.from(s);
const EPOCH = { confVer: 1, version: 1 };

function hdr(rangeId: number): metapb.RequestHeader.$Properties {
  return { rangeId, epoch: EPOCH, readConsistency: metapb.ReadConsistency.LINEARIZABLE };
}

test('an entry that does not decode fails its range on every replica; the stores serve their other ranges, also after a restart', async () => {
  const c = await StoreCluster.start({ ranges: 2 });
  try {
    const leader = await c.waitForLeader(2);
    assert.equal((await leader.kv.put({ header: hdr(2), key: b('r2-before'), value: b('1') })).rangeError, undefined);
    const l1 = await c.waitForLeader(1);
    // Bytes no encoder of this store writes (KV command type 0x63): proposed straight into raft.
    const res = l1.scheduler.propose(1, new Uint8Array([0x01, 0x63, 0x00]), () => {});
    assert.ok(res.ok);
    // Every replica that learns the entry is committed fails when it applies it (a follower
    // left alone may never learn it: the range has no leader left to tell it).
    await c.waitFor('range 1 failed on the leader store', () => l1.failedRanges.has(1));
    assert.match(l1.failedRanges.get(1)!, /committed entry \d+ cannot be applied/);
    assert.equal(l1.status().find((r) => r.rangeId === 1)?.failed, l1.failedRanges.get(1));
    for (const s of c.servers.values()) {
      assert.equal(s.fatal, null, `store ${s.storeId} is still up`);
      assert.equal(s.health().status, 'serving');
    }
    const refused = await l1.kv.get({ header: hdr(1), key: b('a') });
    assert.ok(refused.rangeError?.rangeNotFound, 'the failed range is not served');
    const l2 = await c.waitForLeader(2);
    assert.equal((await l2.kv.put({ header: hdr(2), key: b('r2-after'), value: b('2') })).rangeError, undefined);
    assert.match(await l1.metrics.text(), /rangekv_failed_replicas 1/);

    // A restart replays the entry: the replica fails again, the store serves range 2.
    const victim = l1;
    await c.stopStore(victim.storeId);
    const back = await c.startStore(victim.storeId);
    await c.waitFor('range 1 failed again after the restart', () => back.failedRanges.has(1));
    assert.equal(back.fatal, null);
    await c.eventually('the restarted store serves range 2', async () => {
      const got = await back.kv.get({ header: { ...hdr(2), readConsistency: metapb.ReadConsistency.STALE }, key: b('r2-after') });
      return Buffer.from(got.value ?? []).toString() === '2';
    }, 20_000);
  } finally {
    await c.close();
  }
});
