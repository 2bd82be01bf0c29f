// The MemDisk's crash model on its own, through raw MemDb handles: what a write, a sync and
// a crash do, and what is left of a handle that was open at the crash.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ColumnFamily } from './column-families.js';
import { StorageError } from './errors.js';
import type { MemDb } from './mem-db.js';
import { MemDisk } from './mem-disk.js';
import { WriteOps } from './write-ops.js';

const b = (s: string): Buffer => Buffer.from(s);

function put(db: MemDb, key: string, value: string, sync = false): void {
  db.write(new WriteOps().put(ColumnFamily.Default, b(key), b(value)), { sync });
}

function get(db: MemDb, key: string): string | undefined {
  return db.get(ColumnFamily.Default, b(key))?.toString();
}

test('a write is visible at once; it is durable only once it or a later write was synced', async () => {
  const disk = new MemDisk();
  const db = disk.openDb();
  put(db, 'a', '1');
  put(db, 'b', '2', true);
  put(db, 'c', '3');
  assert.deepEqual([get(db, 'a'), get(db, 'b'), get(db, 'c')], ['1', '2', '3']);
  assert.equal(disk.unsyncedWrites, 1);
  assert.deepEqual(disk.crash(), { keptWrites: 0, lostWrites: 1 });
  const after = disk.openDb();
  assert.deepEqual([get(after, 'a'), get(after, 'b'), get(after, 'c')], ['1', '2', undefined]);
  await after.close();
});

test('writeUnsynced + syncThrough: the sync covers its write and the ones before it, not the ones after', async () => {
  const disk = new MemDisk();
  const db = disk.openDb();
  put(db, 'before', '1');
  const seq = db.writeUnsynced([new WriteOps().put(ColumnFamily.Raft, b('log'), b('x')).bytes()]);
  put(db, 'after', '1');
  assert.equal(seq, 2);
  db.syncThrough(seq!);
  assert.equal(disk.durableSeq, 2);
  assert.equal(db.writeUnsynced([new Uint8Array(0)]), null, 'an empty batch writes nothing');
  disk.crash();
  const again = disk.openDb();
  assert.equal(get(again, 'before'), '1');
  assert.equal(again.get(ColumnFamily.Raft, b('log'))?.toString(), 'x');
  assert.equal(get(again, 'after'), undefined);
});

test('a crash keeps at most the asked prefix of the unsynced writes, oldest first', async () => {
  for (const [keep, expect] of [[0, 0], [2, 2], [Infinity, 5]] as const) {
    const disk = new MemDisk();
    const db = disk.openDb();
    for (let i = 1; i <= 5; i++) {
      db.write(new WriteOps().put(ColumnFamily.Default, b(`k${i}`), b('v')).put(ColumnFamily.Meta, b('last'), b(String(i))), { sync: false });
    }
    assert.deepEqual(disk.crash({ keepUnsynced: keep }), { keptWrites: expect, lostWrites: 5 - expect });
    const after = disk.openDb();
    assert.deepEqual([1, 2, 3, 4, 5].map((i) => get(after, `k${i}`) !== undefined), [1, 2, 3, 4, 5].map((i) => i <= expect), `keepUnsynced ${keep}`);
    assert.equal(after.get(ColumnFamily.Meta, b('last'))?.toString(), expect === 0 ? undefined : String(expect), 'each write survives whole');
  }
});

test('a handle open at the crash is dead: its writes change nothing, its reads see the state at the crash', async () => {
  const disk = new MemDisk();
  const old = disk.openDb();
  assert.throws(() => disk.openDb(), (e: unknown) => e instanceof StorageError && e.code === 'DISK_IN_USE');
  put(old, 'x', 'unsynced');
  disk.crash();
  put(old, 'y', 'late', true);
  old.syncThrough(1);
  assert.equal(disk.staleWritesDropped, 1);
  assert.equal(get(old, 'x'), 'unsynced', 'the dead handle reads its last view');
  const fresh = disk.openDb();
  assert.equal(get(fresh, 'x'), undefined);
  assert.equal(get(fresh, 'y'), undefined);
  assert.equal(disk.lastWriteSeq, 0, 'the lost write is gone; numbering restarts after the durable state');
  await old.close();
  assert.ok(disk.isOpen, 'closing a dead handle does not release the new one');
  await fresh.close();
  assert.ok(!disk.isOpen);
});

test('a cursor reads the state as of its creation while later writes land', async () => {
  const disk = new MemDisk();
  const db = disk.openDb();
  for (const k of ['a', 'b', 'c']) put(db, k, '1');
  const cur = db.cursor(ColumnFamily.Default, { gte: b('a') });
  assert.equal(cur.next()?.key.toString(), 'a');
  db.write(new WriteOps().del(ColumnFamily.Default, b('b')).put(ColumnFamily.Default, b('bb'), b('new')), { sync: false });
  assert.deepEqual([cur.next()?.key.toString(), cur.next()?.key.toString(), cur.next()], ['b', 'c', null]);
  assert.deepEqual(db.scanKeys(ColumnFamily.Default, { gte: b('a') }, 10).map(String), ['a', 'bb', 'c']);
  assert.deepEqual(db.scan(ColumnFamily.Default, { gte: b('a'), lt: b('c'), reverse: true, limit: 1 }).map((kv) => kv.key.toString()), ['bb']);
});

test('staged files survive a crash; a dead engine\'s staging calls never complete', async () => {
  const disk = new MemDisk();
  const fs = disk.stagingFs();
  await fs.mkdirp('/snapshots');
  const name = await fs.mkdirUnique('/snapshots', 'r1-');
  await fs.writeDurably(`/snapshots/${name}/header`, b('h'));
  disk.crash();
  let settled = false;
  void fs.writeDurably(`/snapshots/${name}/late`, b('x')).finally(() => { settled = true; });
  const after = disk.stagingFs();
  assert.deepEqual(await after.readdir(`/snapshots/${name}`), ['header']);
  assert.equal((await after.readFile(`/snapshots/${name}/header`)).toString(), 'h');
  assert.notEqual(await after.mkdirUnique('/snapshots', 'r1-'), name, 'unique names stay unique across crashes');
  await after.removeAll('/snapshots');
  await assert.rejects(after.readdir('/snapshots'), /ENOENT/);
  assert.equal(settled, false);
});

test('dump() is the disk: equal for equal histories, different when a write or a sync differs', () => {
  const history = (syncLast: boolean): Buffer => {
    const disk = new MemDisk();
    const db = disk.openDb();
    put(db, 'a', '1', true);
    put(db, 'b', '2', syncLast);
    return disk.dump();
  };
  assert.deepEqual(history(false), history(false));
  assert.notDeepEqual(history(false), history(true));
});
