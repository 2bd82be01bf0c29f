import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ColumnFamily } from './column-families.js';
import { LogWriterClosedError, RequestTooLargeError } from './errors.js';
import { DEFAULT_LIMITS, type StorageLimits } from './limits.js';
import type { Db } from './db.js';
import { LogWriter } from './log-writer.js';
import { MemDisk } from './mem-disk.js';
import { memLogWriterBackend } from './mem-log-writer.js';
import { RocksDb } from './rocks.js';
import { tempDir } from './testing/fixtures.js';
import { VirtualClock } from './testing/virtual-clock.js';
import { WriteOps } from './write-ops.js';

/** A LogWriter on each backend: the log-writer thread over RocksDB, and a MemDisk with 1 ms simulated fsyncs. */
const WRITERS: { name: string; open(limits: Partial<StorageLimits>): Promise<{ w: LogWriter; db: Db; done(): Promise<void> }> }[] = [
  {
    name: 'thread',
    async open(limits) {
      const dir = tempDir();
      const db = await RocksDb.open(dir.path);
      const w = await LogWriter.start(db, { ...DEFAULT_LIMITS, ...limits });
      return { w, db, done: async () => { await db.close(); dir.remove(); } };
    },
  },
  {
    name: 'memory',
    async open(limits) {
      const db = new MemDisk().openDb();
      const l = { ...DEFAULT_LIMITS, ...limits };
      const w = LogWriter.over(memLogWriterBackend(db, new VirtualClock(), () => 0, l), l);
      return { w, db, done: () => db.close() };
    },
  },
];

/** Registers `body` once per backend, named "<behaviour> [thread]" and "<behaviour> [memory]". */
function writerTest(name: string, limits: Partial<StorageLimits>, body: (w: LogWriter, db: Db) => Promise<void>): void {
  for (const kind of WRITERS) {
    test(`${name} [${kind.name}]`, async () => {
      const { w, db, done } = await kind.open(limits);
      try {
        await body(w, db);
      } finally {
        await w.close();
        await done();
      }
    });
  }
}

function put(i: number, bytes = 64): WriteOps {
  return new WriteOps().put(ColumnFamily.Raft, Buffer.from(`k${String(i).padStart(6, '0')}`), Buffer.alloc(bytes, i & 0xff));
}

writerTest('group commit: requests submitted together share one fsync, and all are durable and readable', {}, async (w, db) => {
  await Promise.all(Array.from({ length: 500 }, (_, i) => w.submit(put(i))));
  const st = w.stats();
  assert.equal(st.requests, 500);
  assert.ok(st.syncs <= 2, `expected 500 requests in at most 2 sync batches, got ${st.syncs}`);
  for (const i of [0, 250, 499]) assert.equal(db.get(ColumnFamily.Raft, Buffer.from(`k${String(i).padStart(6, '0')}`))?.[0], i & 0xff);
});

writerTest('requests become durable in submission order, and a later one overwrites an earlier one', { maxRequestsPerSync: 3 }, async (w, db) => {
  const order: number[] = [];
  const key = Buffer.from('same');
  await Promise.all(Array.from({ length: 20 }, (_, i) =>
    w.submit(new WriteOps().put(ColumnFamily.Meta, key, Buffer.from([i]))).then(() => order.push(i))));
  assert.deepEqual(order, Array.from({ length: 20 }, (_, i) => i));
  assert.equal(db.get(ColumnFamily.Meta, key)?.[0], 19);
  assert.ok(w.stats().syncs >= 7, 'maxRequestsPerSync bounds each sync batch');
});

writerTest('onSync sees every sync batch once, with the time stats() adds up', { maxRequestsPerSync: 3 }, async (w) => {
  const seen: number[] = [];
  w.onSync = (us) => seen.push(us);
  await Promise.all(Array.from({ length: 10 }, (_, i) => w.submit(put(i))));
  const st = w.stats();
  assert.equal(seen.length, st.syncs);
  assert.ok(seen.length >= 4, `10 requests at 3 per sync need at least 4 syncs, saw ${seen.length}`);
  assert.equal(seen.reduce((a, b) => a + b, 0), st.syncMicrosTotal);
});

writerTest('backpressure: beyond maxQueuedRequests submits wait, and the queue never holds more', { maxQueuedRequests: 8, maxQueuedBytes: 1 << 20 }, async (w) => {
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

writerTest('backpressure by bytes: maxQueuedBytes bounds what is in flight', { maxQueuedRequests: 1000, maxQueuedBytes: 4096, maxRequestBytes: 4096 }, async (w) => {
  let maxSeen = 0;
  const done = Array.from({ length: 50 }, (_, i) => w.submit(put(i, 1000)).then(() => { maxSeen = Math.max(maxSeen, w.queuedBytes); }));
  maxSeen = Math.max(maxSeen, w.queuedBytes);
  await Promise.all(done);
  assert.ok(maxSeen <= 4096, `queued bytes peaked at ${maxSeen}`);
});

writerTest('a request over maxRequestBytes is refused, and the writer keeps working', { maxRequestBytes: 1024, maxQueuedBytes: 4096 }, async (w) => {
  await assert.rejects(w.submit(put(1, 2000)), RequestTooLargeError);
  await w.submit(put(2, 10));
});

for (const kind of WRITERS) {
  test(`close waits for everything submitted; later submits are refused [${kind.name}]`, async () => {
    const { w, db, done } = await kind.open({});
    const pending = Array.from({ length: 50 }, (_, i) => w.submit(put(i)));
    await w.close();
    await Promise.all(pending);
    await assert.rejects(w.submit(put(99)), LogWriterClosedError);
    assert.equal(db.get(ColumnFamily.Raft, Buffer.from('k000049'))?.[0], 49);
    await done();
  });
}

test('setSyncDelay: the thread sleeps before every later synced batch (counted in its sync time; a waiting request is oldestInflightId) until set back to 0; bad values are refused', async () => {
  const { w, done } = await WRITERS[0]!.open({});
  try {
    assert.throws(() => w.setSyncDelay(-1), /syncDelayMs must be an integer in \[0, 10000\], got -1/);
    assert.throws(() => w.setSyncDelay(10_001), RangeError);
    assert.throws(() => w.setSyncDelay(1.5), RangeError);
    await w.submit(put(0));
    w.setSyncDelay(30);
    await Promise.all([w.submit(put(1)), w.submit(put(2))]);
    // A lower bound only: the sleep is at least the delay.
    assert.ok(w.stats().syncMicrosMax >= 25_000, `slowest sync ${w.stats().syncMicrosMax} us with a 30 ms delay`);
    // While a request waits behind the slow disk, it is the oldest in flight.
    w.setSyncDelay(300);
    let durable = false;
    const slow = w.submit(put(3)).then(() => void (durable = true));
    await new Promise((r) => setTimeout(r, 20));
    if (!durable) assert.ok(w.oldestInflightId() > 0);
    await slow;
    assert.equal(w.oldestInflightId(), 0, 'nothing in flight');
    w.setSyncDelay(0);
    await w.submit(put(4));
    assert.equal(w.stats().requests, 5);
  } finally {
    await w.close();
    await done();
  }
});

writerTest('sync: false requests are written in order without an fsync; a batch with one sync request is fsynced', {}, async (w, db) => {
  await Promise.all([w.submit(put(1), { sync: false }), w.submit(put(2), { sync: false })]);
  let st = w.stats();
  assert.deepEqual({ requests: st.requests, syncs: st.syncs }, { requests: 2, syncs: 0 });
  assert.ok(st.unsyncedBatches >= 1);
  assert.ok(db.get(ColumnFamily.Raft, Buffer.from('k000002')) !== undefined, 'written and readable');
  await Promise.all([w.submit(put(3), { sync: false }), w.submit(put(4))]);
  st = w.stats();
  assert.equal(st.requests, 4);
  assert.equal(st.syncs, 1, 'the sync request fsyncs its batch');
});

writerTest('tryWriteNow: with nothing queued it writes (and syncs) before returning; while a request is queued, above maxDirectWriteBytes or with a sync delay injected it writes nothing and returns false', { maxDirectWriteBytes: 512, maxDirectSyncMicros: 1e9 }, async (w, db) => {
  const got = (i: number): number | undefined => db.get(ColumnFamily.Raft, Buffer.from(`k${String(i).padStart(6, '0')}`))?.[0];
  const synced: number[] = [];
  w.onSync = (us) => synced.push(us);
  assert.equal(w.tryWriteNow(put(1)), true);
  assert.equal(got(1), 1, 'written before it returned');
  assert.deepEqual({ ...w.stats(), syncMicrosTotal: 0, syncMicrosMax: 0 }, {
    requests: 1, syncs: 1, unsyncedBatches: 0, bytes: put(1).byteLength, syncMicrosTotal: 0, syncMicrosMax: 0, waits: 0, directWrites: 1, directPauses: 0,
  });
  assert.equal(synced.length, 1, 'onSync sees the direct sync');
  const queued = w.submit(put(2));
  assert.equal(w.tryWriteNow(put(3)), false, 'a request is queued: it must be written first');
  assert.equal(got(3), undefined);
  await queued;
  assert.equal(w.tryWriteNow(put(3)), true, 'idle again');
  assert.equal(w.tryWriteNow(put(4, 1_000)), false, 'over maxDirectWriteBytes');
  assert.equal(got(4), undefined);
  assert.equal(w.tryWriteNow(put(5), { sync: false }), true);
  assert.equal(w.stats().unsyncedBatches, 1, 'written without a sync when none was asked');
  w.setSyncDelay(1);
  assert.equal(w.tryWriteNow(put(6)), false, 'a slow disk is injected: writes go where it sleeps');
  w.setSyncDelay(0);
  assert.equal(w.tryWriteNow(put(6)), true);
  assert.equal(w.stats().directWrites, 4);
  await w.submit(put(7));
  assert.deepEqual([1, 2, 3, 5, 6, 7].map(got), [1, 2, 3, 5, 6, 7], 'submits after direct writes still land');
});

/** A put of `value` (one byte) at key `same`, to see which of two writes landed last. */
function putSame(value: number): WriteOps {
  return new WriteOps().put(ColumnFamily.Raft, Buffer.from('same'), Buffer.from([value]));
}

writerTest('submitSoon: with nothing queued it takes the request and writes it at the next turn, before every request submitted meanwhile; while one is queued it takes nothing', { maxDirectWriteBytes: 512, maxDirectSyncMicros: 1e9 }, async (w, db) => {
  const same = (): number | undefined => db.get(ColumnFamily.Raft, Buffer.from('same'))?.[0];
  const soon = w.submitSoon(putSame(1));
  assert.ok(soon !== null, 'idle: taken');
  assert.equal(same(), undefined, 'not written in this turn');
  assert.equal(w.queuedRequests, 1, 'it counts as queued');
  assert.equal(w.tryWriteNow(put(9)), false, 'nothing jumps ahead of it');
  assert.equal(w.submitSoon(put(10)), null, 'nor a second one');
  const after = w.submit(putSame(2));
  await Promise.all([soon, after]);
  assert.equal(same(), 2, 'the submit made meanwhile was written after it');
  assert.equal(w.submitSoon(put(11, 1_000)), null, 'over maxDirectWriteBytes');
  const queued = w.submit(put(12));
  assert.equal(w.submitSoon(put(13)), null, 'a request is queued');
  await queued;
  const st = w.stats();
  assert.equal(st.requests, 3);
  assert.equal(st.directWrites, 1, 'the held request was written directly');
  assert.equal(w.queuedRequests, 0);
});

test('submitSoon: a held request the in-memory backend declines (its fsync takes simulated time) goes to it first, and order holds [memory]', async () => {
  const db = new MemDisk().openDb();
  const l = { ...DEFAULT_LIMITS };
  const clock = new VirtualClock();
  const w = LogWriter.over(memLogWriterBackend(db, clock, () => 1, l), l);
  const done: number[] = [];
  const soon = w.submitSoon(putSame(1))!.then(() => done.push(1));
  const after = w.submit(putSame(2)).then(() => done.push(2));
  await Promise.all([soon, after]);
  assert.deepEqual(done, [1, 2]);
  assert.equal(db.get(ColumnFamily.Raft, Buffer.from('same'))?.[0], 2);
  assert.equal(w.stats().directWrites, 0, 'declined: written by the backend');
  await w.close();
  await db.close();
});

test('tryWriteNow: a direct write is durable when it returns (a power loss right after keeps it); a batch whose simulated fsync takes time is declined [memory]', async () => {
  const disk = new MemDisk();
  const db = disk.openDb();
  const l = { ...DEFAULT_LIMITS };
  const delays = [1, 0];
  const w = LogWriter.over(memLogWriterBackend(db, new VirtualClock(), () => delays.shift() ?? 0, l), l);
  assert.equal(w.tryWriteNow(put(1)), false, 'its drawn fsync time is 1 ms: the caller cannot block for it');
  assert.equal(w.stats().requests, 0);
  assert.equal(w.tryWriteNow(put(1)), true);
  assert.equal(w.tryWriteNow(put(2), { sync: false }), true);
  const report = disk.crash();
  assert.deepEqual(report, { keptWrites: 0, lostWrites: 1 }, 'the synced one was durable; the unsynced one was not');
  const after = disk.openDb();
  assert.equal(after.get(ColumnFamily.Raft, Buffer.from('k000001'))?.[0], 1);
  assert.equal(after.get(ColumnFamily.Raft, Buffer.from('k000002')), undefined);
  await after.close();
});

test('sync batches averaging over maxDirectSyncMicros pause the direct path until the average falls again; one slow batch does not [memory]', async () => {
  const db = new MemDisk().openDb();
  const l = { ...DEFAULT_LIMITS, maxDirectSyncMicros: 2_000 };
  // Simulated fsync ms, one per draw (a direct attempt draws too): the average moves 1/8 per batch.
  const delays: number[] = [];
  const w = LogWriter.over(memLogWriterBackend(db, new VirtualClock(), () => delays.shift() ?? 0, l), l);
  delays.push(10); // one 10 ms batch: the average 1.25 ms, still under 2
  await w.submit(put(1));
  delays.push(0);
  assert.equal(w.tryWriteNow(put(2)), true, 'one slow batch does not pause it');
  delays.push(10, 10); // two more: 1.09 -> 2.21 -> 3.19 ms
  await w.submit(put(3));
  await w.submit(put(4));
  assert.equal(w.stats().directPauses, 1);
  assert.equal(w.tryWriteNow(put(5)), false, 'paused');
  assert.equal(w.submitSoon(put(5)), null, 'paused');
  for (let i = 6; i < 10; i++) await w.submit(put(i)); // instant batches: 3.19 ms * (7/8)^4 = 1.87 ms
  delays.push(0);
  assert.equal(w.tryWriteNow(put(10)), true, 'resumed once the average fell under the limit');
  assert.deepEqual({ direct: w.stats().directWrites, pauses: w.stats().directPauses }, { direct: 2, pauses: 1 });
  await w.close();
  await db.close();
});

writerTest('tryWriteNow after a failure or close throws LogWriterClosedError', {}, async (w) => {
  await w.close();
  assert.throws(() => w.tryWriteNow(put(1)), LogWriterClosedError);
});
