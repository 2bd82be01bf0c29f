import assert from 'node:assert/strict';
import { test } from 'node:test';
import { rangeKeyPrefix } from '@rangekv/multiraft/testing/local-cluster';
import { StoreCluster } from './testing/store-cluster.js';

test('graceful stop moves every leadership to another store before stopping: the ranges never lack a leader', async () => {
  const c = await StoreCluster.start({ ranges: 4 });
  try {
    for (let r = 1; r <= 4; r++) await c.waitForLeader(r);
    // Gather every leadership on store 1.
    for (let r = 1; r <= 4; r++) {
      const l = c.leader(r)!;
      if (l.storeId !== 1) await l.admin.transferLeader({ header: c.header(r), toStore: 1 });
      await c.waitFor(`store 1 leads range ${r}`, () => c.leader(r)?.storeId === 1);
    }
    await c.stopStore(1);
    // No election timeout was needed: each range already has its new leader when stop returns.
    for (let r = 1; r <= 4; r++) assert.ok(c.leader(r), `range ${r} has a leader on the remaining stores at once`);
    const res = await c.leader(2)!.kv.put({ header: c.header(2), key: Buffer.from(`${rangeKeyPrefix(2)}k`), value: Buffer.from('v') });
    assert.equal(res.rangeError, undefined);
  } finally {
    await c.close();
  }
});
