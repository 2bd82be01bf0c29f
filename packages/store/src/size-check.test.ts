// Size checks on a real store cluster: writes past splitCheckDiffBytes start a check on the
// leader, which finds the range's bytes and keys and a key near the middle of its bytes;
// a check is read over several turns (a small sizeCheckKeysPerTurn) and bounded in samples.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { StoreCluster } from './testing/store-cluster.js';

const b = (s: string): Buffer => Buffer.from(s);

test('writes start a size check on the leader: bytes, keys and a middle key of the range', async () => {
  const c = await StoreCluster.start({ server: { sizeCheck: { splitCheckDiffBytes: 20_000, sizeCheckKeysPerTurn: 7, maxSizeSamples: 8 } } });
  try {
    const leader = await c.waitForLeader(1);
    const header = c.header(1);
    const value = Buffer.alloc(1_000, 1);
    const N = 200;
    for (let i = 0; i < N; i++) {
      const res = await leader.kv.put({ header, key: b(`k${String(i).padStart(4, '0')}`), value });
      assert.equal(res.rangeError, undefined);
    }
    const sc = leader.store.sizeCheck;
    // A check starts every ~20 writes, and reads what is applied by then: the last one has most keys.
    await c.waitFor('a size check with most keys', () => (sc.sizeOf(1)?.keys ?? 0) >= N - 40);
    const size = sc.sizeOf(1)!;
    assert.equal(size.bytes, size.keys * (5 + 1_000));
    const mid = Buffer.from(size.splitKey).toString();
    // About half of the bytes lie before the key (samples are coarse: within a quarter).
    const before = Number(mid.slice(1));
    assert.ok(before > size.keys / 4 && before < (3 * size.keys) / 4, `middle key ${mid} of ${size.keys} keys`);
    assert.ok(sc.counters.keysScanned >= N && sc.counters.checks >= 1);
    // Followers run no checks.
    for (const f of c.followers(1)) assert.equal(f.store.sizeCheck.sizeOf(1), undefined);
  } finally {
    await c.close();
  }
});

test('traffic: bytes and keys of writes proposed and reads answered, reads per range', async () => {
  const c = await StoreCluster.start();
  try {
    const leader = await c.waitForLeader(1);
    const header = c.header(1);
    const t = leader.store.traffic;
    const before = { ...t, reads: t.readsOf(1) };
    assert.equal((await leader.kv.put({ header, key: b('a'), value: b('12345') })).rangeError, undefined);
    assert.equal((await leader.kv.batchPut({ header, pairs: [{ key: b('b'), value: b('1') }, { key: b('c'), value: b('2') }] })).rangeError, undefined);
    assert.equal(t.writeKeys - before.writeKeys, 3);
    assert.ok(t.writeBytes - before.writeBytes >= 9, 'at least the keys and values written');
    assert.equal(Buffer.from((await leader.kv.get({ header, key: b('a') })).value!).toString(), '12345');
    const scan = await leader.kv.scan({ header, startKey: b('a'), endKey: b('z') });
    assert.equal(scan.pairs!.length, 3);
    assert.equal(t.readKeys - before.readKeys, 1 + 3);
    assert.equal(t.readBytes - before.readBytes, 5 + (1 + 5) + (1 + 1) + (1 + 1));
    assert.equal(t.readsOf(1) - before.reads, 2);
  } finally {
    await c.close();
  }
});

test('a new leader measures a range it has no figures for; deletes re-check it once they applied, so an emptied range shows empty', async () => {
  const c = await StoreCluster.start({ server: { sizeCheck: { deleteRecheckMs: 100, splitCheckDiffBytes: 5_000 } } });
  try {
    const leader = await c.waitForLeader(1);
    const sc = leader.store.sizeCheck;
    // No write yet: leading is enough to be measured (PD merges only measured ranges).
    await c.waitFor('a first size check of the range led here', () => sc.sizeOf(1) !== undefined);
    assert.equal(sc.sizeOf(1)!.keys, 0);
    const header = c.header(1);
    for (let i = 0; i < 20; i++) assert.equal((await leader.kv.put({ header, key: b(`k${i}`), value: Buffer.alloc(500) })).rangeError, undefined);
    await c.waitFor('the writes measured', () => sc.sizeOf(1)!.keys > 0);
    const res = await leader.kv.deleteRange({ header, startKey: b('k'), endKey: b('l') });
    assert.equal(res.rangeError, undefined);
    await c.waitFor('the emptied range measured empty', () => sc.sizeOf(1)!.keys === 0 && sc.sizeOf(1)!.bytes === 0);
  } finally {
    await c.close();
  }
});

test('a split measures both halves again at once: no new writes are needed for PD to see their sizes', async () => {
  const c = await StoreCluster.start({ server: { sizeCheck: { splitCheckDiffBytes: 20_000 } } });
  try {
    const leader = await c.waitForLeader(1);
    const value = Buffer.alloc(1_000, 1);
    for (let i = 0; i < 100; i++) {
      assert.equal((await leader.kv.put({ header: c.header(1), key: b(`k${String(i).padStart(4, '0')}`), value })).rangeError, undefined);
    }
    await c.waitFor('range 1 measured', () => (leader.store.sizeCheck.sizeOf(1)?.keys ?? 0) >= 60);
    const res = await leader.admin.splitRange({ header: c.header(1), splitKey: b('k0050') });
    assert.equal(res.rangeError, undefined, res.rangeError?.message ?? '');
    const left = res.left!;
    // No write after the split: the left half is measured again at its new epoch.
    await c.waitFor('the left half measured at its new epoch', () => {
      const l = c.leader(1);
      const sz = l?.store.sizeCheck.sizeOf(1);
      return sz !== undefined && sz.version === left.epoch!.version && sz.keys === 50;
    });
    const rightId = res.right!.rangeId!;
    await c.waitFor('the right half measured by its leader', () => c.leader(rightId)?.store.sizeCheck.sizeOf(rightId)?.keys === 50);
  } finally {
    await c.close();
  }
});
