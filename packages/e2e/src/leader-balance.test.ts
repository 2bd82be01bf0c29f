// PD's leader balance scheduler with real processes: one PD (leader balance on, a short
// warm-up) and three store-main --pd processes. Range 1 is split by PD split operators
// into 24 ranges, which all start led where range 1 was; with no transfer asked for by
// hand, the leaders end within ±1 of the mean on every store, moved by operators created
// by balance-leader. The deadline is generous (shared machine); no duration is asserted.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RangeKvClient } from '@rangekv/client';
import { E2eCluster, eventually } from './cluster.js';
import { splitWhenFree } from './load.js';

const RANGES = 24;
const STORES = [1, 2, 3];
const CONVERGE_DEADLINE_MS = 120_000;
const key = (i: number): string => `k${String(i).padStart(4, '0')}`;


test('leaders of 24 ranges split on one store end within ±1 of the mean, moved by balance-leader only', async () => {
  const c = await E2eCluster.start({
    pdNodes: 1, stores: 3, initialStores: 3, leaderBalance: true,
    pdArgs: ['--leader-balance-warmup-ms', '3000', '--leader-balance-interval-ms', '200'],
  });
  const kv = await RangeKvClient.connect({ pd: c.pdAddresses(), timeoutMs: 30_000 });
  try {
    await eventually('the cluster serves a write', async () => kv.put('probe', '1').then(() => true, () => false));
    for (let i = 1; i < RANGES; i++) await splitWhenFree(kv, key(i * 10));
    const mean = RANGES / STORES.length;
    const perStore = (rs: Awaited<ReturnType<RangeKvClient['listRanges']>>): number[] =>
      STORES.map((s) => rs.filter((r) => r.leaderStoreId === s).length);
    let last: number[] = [];
    await eventually('leaders within ±1 of the mean', async () => {
      const rs = await kv.listRanges();
      last = perStore(rs);
      return rs.length === RANGES && last.every((n) => Math.abs(n - mean) <= 1);
    }, CONVERGE_DEADLINE_MS).catch((e: unknown) => {
      throw new Error(`${e instanceof Error ? e.message : String(e)}; leaders per store ${JSON.stringify(last)}`);
    });
    const ops = await kv.listOperators();
    const transfers = ops.filter((o) => o.kind === 'transfer-leader');
    assert.ok(transfers.length > 0);
    assert.ok(transfers.every((o) => o.createdBy === 'balance-leader'), JSON.stringify(transfers.map((o) => o.createdBy)));
    assert.ok(ops.filter((o) => o.kind === 'split').every((o) => o.createdBy === 'admin'));
    // The data path still works through the new leaders.
    for (let i = 0; i < RANGES; i++) await kv.put(key(i * 10 + 1), `v${i}`);
    for (let i = 0; i < RANGES; i++) assert.equal((await kv.get(key(i * 10 + 1)))?.toString(), `v${i}`);
  } finally {
    kv.close();
    await c.close();
  }
});
