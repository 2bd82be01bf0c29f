// Range merge with real processes: one PD and three store-main --pd processes.
//
// 1. A MERGE operator (the client's kv.merge) under writes to both ranges: the right
//    range's leadership is moved to the left leader's store, the ranges merge, writes go
//    on, every acknowledged write reads back, a request routed to the merged-away range
//    re-routes.
// 2. PD's merge checker with no operator asked for: 40 ranges, 36 of them emptied by
//    DeleteRange; the stores measure the emptied ranges, and the checker merges them down
//    while the 4 ranges that keep data (above mergeMaxKeys) stay.
// No duration is asserted.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AmbiguousWriteError, RangeKvClient } from '@rangekv/client';
import { E2eCluster, eventually } from './cluster.js';

const key = (i: number): string => `k${String(i).padStart(5, '0')}`;

test('a MERGE operator under writes to both ranges: merged on every store, nothing lost, clients re-route', async () => {
  const c = await E2eCluster.start({ pdNodes: 1, stores: 3, initialStores: 3 });
  const kv = await RangeKvClient.connect({ pd: c.pdAddresses(), timeoutMs: 30_000 });
  try {
    await eventually('the cluster serves a write', async () => kv.put('probe', '1').then(() => true, () => false));
    for (let i = 0; i < 200; i++) await kv.put(key(i), `v${i}`);
    await kv.split(key(100));
    const before = await kv.listRanges();
    const text = (b: Uint8Array): string => Buffer.from(b).toString();
    const left = before.find((r) => text(r.endKey) === key(100))!;
    const right = before.find((r) => text(r.startKey) === key(100))!;
    assert.ok(left && right, 'the split made both halves');
    // Writers on both sides while the merge runs.
    const acked = new Map<string, string>();
    const failures: string[] = [];
    const uncertain = new Set<string>();
    let stop = false;
    const writer = async (base: number): Promise<void> => {
      for (let n = 0; !stop; n++) {
        const k = key(base + (n % 100));
        try {
          await kv.put(k, `w${n}`);
          acked.set(k, `w${n}`);
          uncertain.delete(k);
        } catch (e) {
          // An ambiguous write may or may not have applied: that key is not checked. Anything else is a failure.
          if (!(e instanceof AmbiguousWriteError)) failures.push(String(e));
          uncertain.add(k);
        }
      }
    };
    const loops = [writer(0), writer(100)];
    await new Promise((r) => setTimeout(r, 300));
    const op = await kv.merge(left.rangeId, { timeoutMs: 60_000 });
    assert.equal(op.status, 'succeeded', op.reason);
    assert.equal(op.descriptor?.rangeId, left.rangeId);
    assert.equal(op.right?.rangeId, right.rangeId);
    await new Promise((r) => setTimeout(r, 300));
    stop = true;
    await Promise.all(loops);
    assert.deepEqual(failures, [], 'writes during the merge either succeed or are ambiguous');
    const after = await kv.listRanges();
    assert.equal(after.some((r) => r.rangeId === right.rangeId), false, 'PD forgot the merged-away range');
    const merged = after.find((r) => r.rangeId === left.rangeId)!;
    assert.equal(text(merged.endKey), text(right.endKey));
    for (const [k, v] of acked) if (!uncertain.has(k)) assert.equal((await kv.get(k))?.toString(), v, `acknowledged write of ${k}`);
    for (let i = 0; i < 200; i++) if (!acked.has(key(i)) && !uncertain.has(key(i))) assert.equal((await kv.get(key(i)))?.toString(), `v${i}`);
  } finally {
    kv.close();
    await c.close();
  }
});

test('the merge checker merges emptied ranges by itself; ranges that hold data stay', async () => {
  const c = await E2eCluster.start({ pdNodes: 1, stores: 3, initialStores: 3, storeArgs: ['--split-check-diff-bytes', '2000'] });
  const kv = await RangeKvClient.connect({ pd: c.pdAddresses(), timeoutMs: 30_000 });
  const RANGES = 40;
  const KEEP_EVERY = 10;
  try {
    await eventually('the cluster serves a write', async () => kv.put('probe', '1').then(() => true, () => false));
    // Ranges [key(10 r), key(10 r + 10)): 10 keys each, plus the first range's probe.
    for (let i = 0; i < RANGES * 10; i += 50) await kv.batchPut(Array.from({ length: 50 }, (_, j) => ({ key: key(i + j), value: 'x'.repeat(100) })));
    for (let r = 1; r < RANGES; r++) await kv.split(key(r * 10));
    assert.ok((await kv.listRanges()).length >= RANGES);
    // Empty all but every KEEP_EVERY-th range; those keep 10 keys, above mergeMaxKeys.
    for (let r = 0; r < RANGES; r++) if (r % KEEP_EVERY !== 0) await kv.deleteRange(key(r * 10), key(r * 10 + 10));
    await kv.setConfig('mergeMaxKeys', 5);
    await kv.setConfig('splitMergeIntervalMs', 1);
    let last = '';
    await eventually('the emptied ranges merged down', async () => {
      const rs = await kv.listRanges();
      last = `${rs.length} ranges`;
      return rs.length <= 2 * (RANGES / KEEP_EVERY) + 1;
    }, 120_000).catch((e: unknown) => {
      throw new Error(`${e instanceof Error ? e.message : String(e)}; ${last}`);
    });
    const merges = (await kv.listOperators()).filter((o) => o.kind === 'merge');
    assert.ok(merges.length >= RANGES - 2 * (RANGES / KEEP_EVERY) - 1, `${merges.length} merge operators`);
    assert.ok(merges.every((o) => o.createdBy === 'merge-checker'), JSON.stringify(merges.map((o) => o.createdBy)));
    for (let r = 0; r < RANGES; r += KEEP_EVERY) for (let i = 0; i < 10; i++) assert.equal((await kv.get(key(r * 10 + i)))?.toString(), 'x'.repeat(100));
    assert.equal(await kv.get(key(15)), undefined, 'a deleted key stays deleted');
  } finally {
    kv.close();
    await c.close();
  }
});
