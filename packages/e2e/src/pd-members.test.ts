// Replacing PD nodes at run time with real processes: 3 PD (pd-main) and 3 stores, a
// client writing throughout. PD 3 is killed and replaced by PD 4 (started with --join,
// added with AddPdMember replace_id 3: learner, snapshot, one joint step); then PD 1 is
// replaced by PD 5 the same way, and PD 2 is killed: none of the PD addresses the stores
// and the client were started with answers any more. Stores keep heartbeating and a
// split (which needs PD) succeeds; the client keeps writing and reading; every
// acknowledged write reads back. Stores and clients learn PD's members every
// memberRefreshMs (10 s): the test lets that much time pass between two failures, as an
// operator replacing nodes one at a time would. No duration is asserted.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RangeKvClient } from '@rangekv/client';
import { PdTestClient } from '@rangekv/pd/testing/pd-test-client';
import { DEFAULT_PD_LINK_LIMITS } from '@rangekv/store';
import { E2eCluster, eventually } from './cluster.js';
import { splitWhenFree, Writer } from './load.js';

const key = (i: number): string => `k${String(i).padStart(4, '0')}`;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
/** Long enough for every store and the client to have asked PD for its members again. */
const LEARN_MEMBERS_MS = DEFAULT_PD_LINK_LIMITS.memberRefreshMs + 1_000;

test('failed PD nodes are replaced one by one while stores and a client keep working', async (t) => {
  const c = await E2eCluster.start({ pdNodes: 3, stores: 3 });
  const kv = await RangeKvClient.connect({ pd: c.pdAddresses(), timeoutMs: 30_000 });
  const admin = new PdTestClient(c.pdAddresses());
  let writer: Writer | undefined;
  try {
    await eventually('the cluster serves a write', async () => kv.put('probe', '1').then(() => true, () => false));
    const w = (writer = new Writer(kv, (i) => key(i % 500)));
    await eventually('writes flow', () => w.writes > 20);

    const replace = async (failedIndex: number, newId: number): Promise<void> => {
      const failed = c.pds[failedIndex]!;
      failed.kill();
      await failed.exited;
      const joined = await c.joinPd(newId);
      admin.addresses = c.pdAddresses();
      const res = await admin.leader('addPdMember', {
        id: newId, raftAddress: `127.0.0.1:${joined.raftPort}`, clientAddress: joined.address, replaceId: failed.id,
      }, 60_000);
      assert.ok(res.members!.some((m) => Number(m.id) === newId && !m.isLearner), `PD ${newId} is a voter`);
      assert.ok(!res.members!.some((m) => Number(m.id) === failed.id), `PD ${failed.id} left`);
      const before = w.writes;
      await eventually(`writes continue after PD ${failed.id} was replaced by PD ${newId}`, () => w.writes > before + 20);
      t.diagnostic(`PD ${failed.id} replaced by PD ${newId}; ${w.writes} writes so far`);
      await sleep(LEARN_MEMBERS_MS);
    };
    await replace(2, 4);
    await replace(0, 5);
    // The last of the original PD nodes goes: only PD 4 and 5 (added at run time) remain.
    const last = c.pds[1]!;
    last.kill();
    await last.exited;
    admin.addresses = c.pdAddresses();
    const members = await admin.leader('getMembers', {}, 30_000);
    assert.deepEqual(members.members!.map((m) => Number(m.id)).sort(), [2, 4, 5]);
    t.diagnostic('only PD nodes added at run time are up');
    // PD still works for the stores (a split allocates an id from PD) and for the client.
    await splitWhenFree(kv, key(250));
    const before = w.writes;
    await eventually('writes continue with only the added PD nodes up', () => w.writes > before + 20);
    await w.stop();
    writer = undefined;
    for (const [k, v] of w.acked) assert.equal((await kv.get(k))?.toString(), v, `key ${k}`);
  } finally {
    await writer?.stop();
    admin.close();
    kv.close();
    await c.close();
  }
});
