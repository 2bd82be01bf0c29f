import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StorageEngine } from '@rangekv/storage';
import { BootstrapError, bootstrapDescriptors, bootstrapStore, claimDataDir } from './bootstrap.js';

async function withDir(f: (dir: string) => Promise<void>): Promise<void> {
  const root = await mkdtemp(join(tmpdir(), 'rangekv-bootstrap-'));
  try {
    await f(join(root, 'store'));
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

test('bootstrap writes range 1 over the whole keyspace with replica id = store id, once', async () => {
  await withDir(async (dir) => {
    await bootstrapStore(dir, { storeIds: [3, 1, 2], thisStore: 2 });
    const engine = await StorageEngine.open(dir);
    try {
      assert.deepEqual(engine.rangeIds(), [1]);
      const d = engine.range(1).descriptor!;
      assert.equal(d.startKey.length + d.endKey.length, 0);
      assert.deepEqual(d.replicas.map((r) => [r.storeId, r.replicaId]), [[1, 1], [2, 2], [3, 3]]);
      assert.deepEqual(engine.range(1).confState.voters, [1, 2, 3]);
    } finally {
      await engine.close();
    }
    await assert.rejects(bootstrapStore(dir, { storeIds: [1, 2, 3], thisStore: 2 }), /refusing to bootstrap: data dir .* is not empty/);
  });
});

test('bootstrap refuses bad store lists and any non-empty dir', async () => {
  await withDir(async (dir) => {
    await assert.rejects(bootstrapStore(dir, { storeIds: [1, 2], thisStore: 3 }), BootstrapError);
    await assert.rejects(bootstrapStore(dir, { storeIds: [1, 1], thisStore: 1 }), /repeat/);
    await assert.rejects(bootstrapStore(dir, { storeIds: [], thisStore: 1 }), /at least one/);
    claimDataDir(dir, 1);
    await writeFile(join(dir, 'stray'), 'x');
    await assert.rejects(bootstrapStore(dir, { storeIds: [1], thisStore: 1 }), /not empty/);
  });
});

test('a data dir belongs to one store id', async () => {
  await withDir(async (dir) => {
    claimDataDir(dir, 4);
    claimDataDir(dir, 4);
    assert.throws(() => claimDataDir(dir, 5), /belongs to store 4, not store 5/);
  });
});

test('bootstrap with split keys writes ranges 1..n+1 covering the keyspace, all on the same stores', async () => {
  await withDir(async (dir) => {
    const keys = ['b', 'm', 'x'].map((k) => Buffer.from(k));
    await bootstrapStore(dir, { storeIds: [1, 2, 3], thisStore: 1, splitKeys: keys });
    const engine = await StorageEngine.open(dir);
    try {
      assert.deepEqual(engine.rangeIds(), [1, 2, 3, 4]);
      const spans = [1, 2, 3, 4].map((id) => {
        const d = engine.range(id).descriptor!;
        assert.deepEqual(d.replicas.map((r) => r.storeId), [1, 2, 3]);
        assert.deepEqual(engine.range(id).confState.voters, [1, 2, 3]);
        return [Buffer.from(d.startKey).toString(), Buffer.from(d.endKey).toString()];
      });
      assert.deepEqual(spans, [['', 'b'], ['b', 'm'], ['m', 'x'], ['x', '']]);
    } finally {
      await engine.close();
    }
  });
});

test('split keys must be non-empty and strictly ascending', () => {
  const b = (s: string): Uint8Array => Buffer.from(s);
  assert.throws(() => bootstrapDescriptors([1], [b('a'), b('a')]), /strictly ascending/);
  assert.throws(() => bootstrapDescriptors([1], [b('b'), b('a')]), /strictly ascending/);
  assert.throws(() => bootstrapDescriptors([1], [new Uint8Array(0)]), /empty/);
  assert.equal(bootstrapDescriptors([1, 2]).length, 1);
});
