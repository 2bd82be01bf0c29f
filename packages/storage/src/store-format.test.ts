import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RocksLevel } from '@nxtedition/rocksdb';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { StorageEngine } from './engine.js';
import { ColumnFamilyMismatchError, FormatVersionError } from './errors.js';
import { FORMAT_VERSION_KEY } from './keys.js';
import { FORMAT_VERSION, listColumnFamilies } from './store-format.js';
import { confState, descriptor, tempDir } from './testing/fixtures.js';

const B = { keyEncoding: 'buffer', valueEncoding: 'buffer' } as const;

async function rawDb(dbDir: string, columns: string[]): Promise<RocksLevel> {
  const db = new RocksLevel(dbDir, B);
  await db.open({ createIfMissing: true, columns: Object.fromEntries(columns.map((c) => [c, {}])) });
  return db;
}

function u32(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(v);
  return b;
}

test('a new store is stamped with the format version and reopens', async () => {
  const dir = tempDir();
  try {
    const e1 = await StorageEngine.open(dir.path);
    assert.equal(e1.db.get(2, FORMAT_VERSION_KEY)?.readUInt32BE(0), FORMAT_VERSION);
    await e1.createRange({ descriptor: descriptor(1, 'a', 'b'), confState: confState() });
    await e1.close();
    const e2 = await StorageEngine.open(dir.path);
    assert.deepEqual(e2.rangeIds(), [1]);
    await e2.close();
  } finally {
    dir.remove();
  }
});

test('an unknown format version is refused with a clear error, and the data is left as it was', async () => {
  const dir = tempDir();
  try {
    const dbDir = join(dir.path, 'db');
    mkdirSync(dbDir, { recursive: true });
    const raw = await rawDb(dbDir, ['default', 'raft', 'meta']);
    const batch = raw.batch();
    batch._put(FORMAT_VERSION_KEY, u32(FORMAT_VERSION + 1), { column: raw.columns['meta']! });
    batch._put(Buffer.from('user-key'), Buffer.from('v'), {});
    batch._writeSync({ sync: true });
    batch._closeSync();
    raw.detachResource(batch);
    await raw.close();
    await assert.rejects(StorageEngine.open(dir.path), (e: unknown) =>
      e instanceof FormatVersionError && e.found === FORMAT_VERSION + 1 &&
      /format version 2; this build reads only version 1; refusing to open it/.test(e.message));
    const again = await rawDb(dbDir, ['default', 'raft', 'meta']);
    assert.equal(again._getManySync([FORMAT_VERSION_KEY], { column: again.columns['meta']! })[0]?.readUInt32BE(0), FORMAT_VERSION + 1);
    assert.equal(again._getManySync([Buffer.from('user-key')], {})[0]?.toString(), 'v');
    await again.close();
  } finally {
    dir.remove();
  }
});

test('a RocksDB with our column families but foreign data and no version is not taken for a store', async () => {
  const dir = tempDir();
  try {
    const dbDir = join(dir.path, 'db');
    mkdirSync(dbDir, { recursive: true });
    const raw = await rawDb(dbDir, ['default', 'raft', 'meta']);
    const batch = raw.batch();
    batch._put(Buffer.from('something'), Buffer.from('else'), { column: raw.columns['raft']! });
    batch._writeSync({ sync: true });
    batch._closeSync();
    raw.detachResource(batch);
    await raw.close();
    await assert.rejects(StorageEngine.open(dir.path), /not a rangekv store/);
  } finally {
    dir.remove();
  }
});

test('reopening a store that lost a column family fails clearly and does not create it', async () => {
  const dir = tempDir();
  try {
    const dbDir = join(dir.path, 'db');
    mkdirSync(dbDir, { recursive: true });
    const raw = await rawDb(dbDir, ['default', 'meta']);
    const batch = raw.batch();
    batch._put(FORMAT_VERSION_KEY, u32(FORMAT_VERSION), { column: raw.columns['meta']! });
    batch._writeSync({ sync: true });
    batch._closeSync();
    raw.detachResource(batch);
    await raw.close();
    await assert.rejects(StorageEngine.open(dir.path), (e: unknown) =>
      e instanceof ColumnFamilyMismatchError && e.missing.join() === 'raft' && /missing: raft; refusing to open \(the directory was not modified\)/.test(e.message));
    assert.deepEqual(listColumnFamilies(dbDir), ['default', 'meta'], 'no column family was created');
  } finally {
    dir.remove();
  }
});

test('an extra, unknown column family is refused too', async () => {
  const dir = tempDir();
  try {
    const dbDir = join(dir.path, 'db');
    mkdirSync(dbDir, { recursive: true });
    await (await rawDb(dbDir, ['default', 'raft', 'meta', 'lock'])).close();
    await assert.rejects(StorageEngine.open(dir.path), /unexpected: lock/);
  } finally {
    dir.remove();
  }
});
