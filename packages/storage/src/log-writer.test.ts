import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ColumnFamily } from './column-families.js';
import { LogWriterClosedError, RequestTooLargeError } from './errors.js';
import { DEFAULT_LIMITS, type StorageLimits } from './limits.js';
import { LogWriter } from './log-writer.js';
import { RocksDb } from './rocks.js';
import { tempDir } from './testing/fixtures.js';
import { WriteOps } from './write-ops.js';

async function withWriter(limits: Partial<StorageLimits>, fn: (w: LogWriter, db: RocksDb) => Promise<void>): Promise<void> {
  const dir = tempDir();
  const db = await RocksDb.open(dir.path);
  const w = await LogWriter.start(db, { ...DEFAULT_LIMITS, ...limits });
  try {
    await fn(w, db);
  } finally {
    await w.close();
    await db.close();
    dir.remove();
  }
}

function put(i: number, bytes = 64): WriteOps {
  return new WriteOps().put(ColumnFamily.Raft, Buffer.from(`k${String(i).padStart(6, '0')}`), Buffer.alloc(bytes, i & 0xff));
}

test('group commit: requests submitted together share one fsync, and all are durable and readable', async () => {
  await withWriter({}, async (w, db) => {
    await Promise.all(Array.from({ length: 500 }, (_, i) => w.submit(put(i))));
    const st = w.stats();
    assert.equal(st.requests, 500);
    assert.ok(st.syncs <= 2, `expected 500 requests in at most 2 sync batches, got ${st.syncs}`);
    for (const i of [0, 250, 499]) assert.equal(db.get(ColumnFamily.Raft, Buffer.from(`k${String(i).padStart(6, '0')}`))?.[0], i & 0xff);
  });
});

test('requests become durable in submission order, and a later one overwrites an earlier one', async () => {
  await withWriter({ maxRequestsPerSync: 3 }, async (w, db) => {
    const order: number[] = [];
    const key = Buffer.from('same');
    await Promise.all(Array.from({ length: 20 }, (_, i) =>
      w.submit(new WriteOps().put(ColumnFamily.Meta, key, Buffer.from([i]))).then(() => order.push(i))));
    assert.deepEqual(order, Array.from({ length: 20 }, (_, i) => i));
    assert.equal(db.get(ColumnFamily.Meta, key)?.[0], 19);
    assert.ok(w.stats().syncs >= 7, 'maxRequestsPerSync bounds each sync batch');
  });
});

test('onSync sees every sync batch once, with the time stats() adds up', async () => {
  await withWriter({ maxRequestsPerSync: 3 }, async (w) => {
    const seen: number[] = [];
    w.onSync = (us) => seen.push(us);
    await Promise.all(Array.from({ length: 10 }, (_, i) => w.submit(put(i))));
    const st = w.stats();
    assert.equal(seen.length, st.syncs);
    assert.ok(seen.length >= 4, `10 requests at 3 per sync need at least 4 syncs, saw ${seen.length}`);
    assert.equal(seen.reduce((a, b) => a + b, 0), st.syncMicrosTotal);
  });
});

test('backpressure: beyond maxQueuedRequests submits wait, and the queue never holds more', async () => {
  await withWriter({ maxQueuedRequests: 8, maxQueuedBytes: 1 << 20 }, async (w) => {
    const done: Promise<void>[] = [];
    let maxInflight = 0;
    for (let i = 0; i < 100; i++) {
      done.push(w.submit(put(i)).then(() => { maxInflight = Math.max(maxInflight, w.inflightRequests); }));
      maxInflight = Math.max(maxInflight, w.inflightRequests);
    }
    assert.equal(w.queuedRequests, 100);
    assert.equal(w.inflightRequests, 8);
    assert.equal(w.hasRoomFor(0), false);
    await w.whenWritable();
    assert.ok(w.hasRoomFor(0));
    await Promise.all(done);
    assert.ok(w.stats().waits >= 92, `submits beyond the bound waited (${w.stats().waits})`);
    assert.equal(w.queuedRequests, 0);
    assert.ok(maxInflight <= 8, `in flight peaked at ${maxInflight}`);
  });
});

test('backpressure by bytes: maxQueuedBytes bounds what is in flight', async () => {
  await withWriter({ maxQueuedRequests: 1000, maxQueuedBytes: 4096, maxRequestBytes: 4096 }, async (w) => {
    let maxSeen = 0;
    const done = Array.from({ length: 50 }, (_, i) => w.submit(put(i, 1000)).then(() => { maxSeen = Math.max(maxSeen, w.queuedBytes); }));
    maxSeen = Math.max(maxSeen, w.queuedBytes);
    await Promise.all(done);
    assert.ok(maxSeen <= 4096, `queued bytes peaked at ${maxSeen}`);
  });
});

test('a request over maxRequestBytes is refused, and the writer keeps working', async () => {
  await withWriter({ maxRequestBytes: 1024, maxQueuedBytes: 4096 }, async (w) => {
    await assert.rejects(w.submit(put(1, 2000)), RequestTooLargeError);
    await w.submit(put(2, 10));
  });
});

test('close waits for everything submitted; later submits are refused', async () => {
  const dir = tempDir();
  const db = await RocksDb.open(dir.path);
  const w = await LogWriter.start(db, DEFAULT_LIMITS);
  const pending = Array.from({ length: 50 }, (_, i) => w.submit(put(i)));
  await w.close();
  await Promise.all(pending);
  await assert.rejects(w.submit(put(99)), LogWriterClosedError);
  assert.equal(db.get(ColumnFamily.Raft, Buffer.from('k000049'))?.[0], 49);
  await db.close();
  dir.remove();
});
