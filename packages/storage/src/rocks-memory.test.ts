// RocksDB's memory per column family: memtables sized from memtableBudgetBytes, a block
// cache per family from blockCacheBytes (README "Memory").
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { RocksLevel } from '@nxtedition/rocksdb';
import { ColumnFamily } from './column-families.js';
import { StorageEngine } from './engine.js';
import { resolveLimits } from './limits.js';
import { columnFamilyOptions, RocksDb } from './rocks.js';
import { tempDir } from './testing/fixtures.js';
import { WriteOps } from './write-ops.js';

const MiB = 1 << 20;

/** `write_buffer_size` of each column family in the newest OPTIONS file RocksDB wrote. */
function writeBufferSizes(dbDir: string): Record<string, number> {
  const newest = readdirSync(dbDir).filter((f) => f.startsWith('OPTIONS-')).sort().at(-1);
  assert.ok(newest, 'RocksDB wrote an OPTIONS file');
  const out: Record<string, number> = {};
  let family = '';
  for (const line of readFileSync(join(dbDir, newest), 'utf8').split('\n')) {
    const cf = /^\[CFOptions "(.+)"\]/.exec(line);
    if (cf) family = cf[1]!;
    const wb = /^\s*write_buffer_size=(\d+)/.exec(line);
    if (wb && family) out[family] = Number(wb[1]);
  }
  return out;
}

test('column families share the memory limits: user data all, the raft log half, meta a quarter (at least 1 MiB each)', () => {
  const o = columnFamilyOptions({ memtableBudgetBytes: 32 * MiB, blockCacheBytes: 8 * MiB });
  assert.deepEqual(o, {
    default: { compaction: 'level', memtableMemoryBudget: 32 * MiB, cacheSize: 8 * MiB },
    raft: { compaction: 'level', memtableMemoryBudget: 16 * MiB, cacheSize: 4 * MiB },
    meta: { compaction: 'level', memtableMemoryBudget: 8 * MiB, cacheSize: 2 * MiB },
  });
  assert.equal(columnFamilyOptions({ memtableBudgetBytes: 4 * MiB, blockCacheBytes: 2 * MiB }).meta!.cacheSize, MiB);
});

test('memory limits out of range are refused by name', () => {
  assert.throws(() => resolveLimits({ memtableBudgetBytes: 4 * MiB - 1 }), /memtableBudgetBytes must be at least 4194304/);
  assert.throws(() => resolveLimits({ blockCacheBytes: 2 ** 32 }), /blockCacheBytes must be at most 4294967295/);
  assert.throws(() => resolveLimits({ blockCacheBytes: 0 }), /blockCacheBytes must be a positive integer/);
});

test('a store opens with write buffers of a quarter of each family budget, an old store too, its data intact', async () => {
  const dir = tempDir();
  const dbDir = join(dir.path, 'db');
  try {
    // A store made before the limits existed: the binding's defaults (64 MiB write buffers).
    const raw = new RocksLevel(dbDir, { keyEncoding: 'buffer', valueEncoding: 'buffer' });
    await raw.open({ createIfMissing: true, columns: { default: {}, raft: {}, meta: {} } });
    await raw.close();
    assert.equal(writeBufferSizes(dbDir).default, 64 * MiB);
    const e1 = await StorageEngine.open(dir.path);
    assert.deepEqual(writeBufferSizes(dbDir), { default: 8 * MiB, raft: 4 * MiB, meta: 2 * MiB });
    e1.db.write(new WriteOps(64).put(ColumnFamily.Default, Buffer.from('k'), Buffer.from('v')), { sync: true });
    await e1.close();
    const e2 = await StorageEngine.open(dir.path, { limits: { memtableBudgetBytes: 16 * MiB } });
    assert.deepEqual(writeBufferSizes(dbDir), { default: 4 * MiB, raft: 2 * MiB, meta: MiB });
    assert.equal(e2.db.get(ColumnFamily.Default, Buffer.from('k'))?.toString(), 'v');
    await e2.close();
  } finally {
    dir.remove();
  }
});

test('memtables stay within their budget: data written past it is flushed to table files', async () => {
  const dir = tempDir();
  try {
    // 4 MiB budget: 1 MiB write buffers, at most 6 of them; RocksDB stalls writes at the
    // sixth until a flush frees one. With the binding's defaults all 12 MiB stay in memory.
    const db = await RocksDb.open(dir.path, { memtableBudgetBytes: 4 * MiB, blockCacheBytes: MiB });
    try {
      const value = Buffer.alloc(1024, 7);
      for (let batch = 0; batch < 96; batch++) {
        const ops = new WriteOps(130 * 1024);
        for (let i = 0; i < 128; i++) ops.put(ColumnFamily.Default, Buffer.from(`key-${batch}-${i}`.padEnd(24, '.')), value);
        db.write(ops, { sync: false });
      }
      const memtableBytes = Number(db.getProperty('rocksdb.cur-size-all-mem-tables'));
      assert.ok(memtableBytes <= 8 * MiB, `memtables hold ${memtableBytes} bytes of the 12 MiB written`);
      const tables = readdirSync(dir.path).filter((f) => f.endsWith('.sst'));
      assert.ok(tables.length > 0, 'flushed to table files');
      assert.equal(db.get(ColumnFamily.Default, Buffer.from('key-0-0'.padEnd(24, '.')))?.length, 1024);
    } finally {
      await db.close();
    }
  } finally {
    dir.remove();
  }
});
