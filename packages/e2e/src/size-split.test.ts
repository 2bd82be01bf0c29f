// Size-based splits with real processes: one PD (split checker on, ranges split at 100 KB)
// and three store-main --pd processes (a size check every 20 KB written). One range takes
// ~600 KB of writes: with no split asked for by hand, it is split by split-checker
// operators into ranges of about the threshold, each cut near its middle; every
// acknowledged write reads back. No duration is asserted.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RangeKvClient } from '@rangekv/client';
import { E2eCluster, eventually } from './cluster.js';

const THRESHOLD = 100_000;

test('a range written past the split size splits by itself, near its middle', async () => {
  const c = await E2eCluster.start({
    pdNodes: 1, stores: 3, initialStores: 3, splitChecker: true,
    pdArgs: ['--range-split-bytes', String(THRESHOLD)],
    storeArgs: ['--split-check-diff-bytes', '20000'],
  });
  const kv = await RangeKvClient.connect({ pd: c.pdAddresses(), timeoutMs: 30_000 });
  try {
    await eventually('the cluster serves a write', async () => kv.put('probe', '1').then(() => true, () => false));
    const value = 'v'.repeat(1_000);
    const N = 600;
    for (let i = 0; i < N; i++) await kv.put(`k${String(i).padStart(5, '0')}`, value);
    let last = '';
    await eventually('the range is split by size', async () => {
      const rs = await kv.listRanges();
      last = `${rs.length} ranges`;
      return rs.length >= 4;
    }, 120_000).catch((e: unknown) => {
      throw new Error(`${e instanceof Error ? e.message : String(e)}; ${last}`);
    });
    const splits = (await kv.listOperators()).filter((o) => o.kind === 'split');
    assert.ok(splits.length >= 3 && splits.every((o) => o.createdBy === 'split-checker'), JSON.stringify(splits.map((o) => [o.createdBy, o.status])));
    // Near the middle: no piece holds fewer than a tenth of the threshold's keys.
    const rs = await kv.listRanges();
    for (const r of rs) {
      const n = (await kv.scan(r.startKey, r.endKey, { limit: 10_000 })).filter((x) => x.key.toString().startsWith('k')).length;
      if (r.startKey.length > 0) assert.ok(n >= THRESHOLD / 1_000 / 10, `range ${r.rangeId} holds ${n} keys`);
    }
    for (let i = 0; i < N; i += 7) assert.equal((await kv.get(`k${String(i).padStart(5, '0')}`))?.toString(), value);
  } finally {
    kv.close();
    await c.close();
  }
});
