// The engine on a MemDisk: what survives crash() (the engine's durability promises, under
// power loss), recovery at the next open, refusals at open, and determinism: the same
// operations with the same clock leave byte-identical disks.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Prng } from '@rangekv/raft';
import { ColumnFamily } from './column-families.js';
import { StorageEngine } from './engine.js';
import { ColumnFamilyMismatchError, FormatVersionError, StorageError } from './errors.js';
import { entryKey, FORMAT_VERSION_KEY, KeyPrefix, MAX_INDEX_EXCLUSIVE, parseEntryKey, rangeKey } from './keys.js';
import { MemDisk } from './mem-disk.js';
import { WORKLOAD_LIMITS, runWorkload } from './testing/crash-workload.js';
import { memoryStore } from './testing/engines.js';
import { confState, descriptor, entries, ready } from './testing/fixtures.js';
import { VirtualClock } from './testing/virtual-clock.js';
import { WriteOps } from './write-ops.js';

const b = (s: string): Buffer => Buffer.from(s);

/** A store with range 1 over [a, z) whose log 2..10 (term 1) is durable. */
async function withLog(syncDelay = 1): Promise<{ disk: MemDisk; clock: VirtualClock; engine: StorageEngine; reopen(): Promise<StorageEngine> }> {
  const disk = new MemDisk();
  const clock = new VirtualClock();
  const reopen = (): Promise<StorageEngine> => StorageEngine.openOnDisk(disk, { clock, syncDelay: () => syncDelay });
  const engine = await reopen();
  await engine.createRange({ descriptor: descriptor(1, 'a', 'z'), confState: confState() });
  await engine.persistReady(1, ready({ entries: entries(1, 2, 10, 1), hardState: { term: 1, vote: 1, commit: 10 } }));
  return { disk, clock, engine, reopen };
}

test('an apply batch and its applied index survive a crash together or vanish together', async () => {
  for (const keep of [0, 1, 2]) {
    const { disk, engine, reopen } = await withLog();
    engine.apply(1, { puts: [[b('apple'), b('1')]], applied: { index: 5, term: 1 } });
    engine.apply(1, { puts: [[b('fig'), b('2')]], deletes: [b('apple')], applied: { index: 8, term: 1 } });
    assert.equal(disk.unsyncedWrites, 2, 'applies are not synced');
    disk.crash({ keepUnsynced: keep });
    const again = await reopen();
    const got = { applied: again.range(1).applied.index, apple: again.db.get(ColumnFamily.Default, b('apple'))?.toString(), fig: again.db.get(ColumnFamily.Default, b('fig'))?.toString() };
    const want = [
      { applied: 1, apple: undefined, fig: undefined },
      { applied: 5, apple: '1', fig: undefined },
      { applied: 8, apple: undefined, fig: '2' },
    ][keep];
    assert.deepEqual(got, want, `keepUnsynced ${keep}`);
    assert.equal(again.range(1).lastIndex(), 10, 'the durable log is there to replay from');
    await again.close();
  }
});

test('a sync write makes the apply batches written before it durable too (WAL order)', async () => {
  const { disk, engine, reopen } = await withLog();
  engine.apply(1, { puts: [[b('kiwi'), b('3')]], applied: { index: 9, term: 1 } });
  await engine.persistReady(1, ready({ entries: entries(1, 11, 12, 1) }));
  disk.crash();
  const again = await reopen();
  assert.equal(again.range(1).applied.index, 9);
  assert.equal(again.db.get(ColumnFamily.Default, b('kiwi'))?.toString(), '3');
  await again.close();
});

test('a Ready that needs no sync (commit only) is written unsynced: lost at a power loss unless a later fsync covers it', async () => {
  const { disk, engine, reopen } = await withLog();
  await engine.persistReady(1, ready({ entries: entries(1, 11, 12, 1) }));
  // Only the commit moves (the same term and vote): raft's mustSync is false.
  const commitOnly = ready({ hardState: { term: 1, vote: 1, commit: 12 } });
  commitOnly.mustSync = false;
  const batch = engine.readyBatch();
  batch.add(1, commitOnly);
  assert.equal(batch.needsSync, false);
  await batch.submit();
  assert.equal(disk.unsyncedWrites, 1, 'written without fsync');
  assert.equal(engine.range(1).hardState.commit, 12);
  disk.crash({ keepUnsynced: 0 });
  const again = await reopen();
  assert.equal(again.range(1).lastIndex(), 12, 'the synced log is intact');
  assert.equal(again.range(1).hardState.commit, 10, 'the unsynced commit was lost (raft restores it from its peers)');
  await again.close();
  const { engine: e2 } = await withLog();
  const b2 = e2.readyBatch();
  b2.add(1, ready({ entries: entries(1, 11, 11, 1) }));
  assert.equal(b2.needsSync, true);
  await b2.submit();
  assert.throws(() => e2.deferReady(1, ready({ entries: entries(1, 12, 12, 1) })), /must be persisted/);
  await e2.close();
});

test('a deferred hard state is visible at once, written with the next batch of any range, never over a newer one, and dropped with its range', async () => {
  const commitOnly = (commit: number) => {
    const rd = ready({ hardState: { term: 1, vote: 1, commit } });
    rd.mustSync = false;
    return rd;
  };
  // Written with the next batch of another range (no write of its own), durable with its fsync.
  {
    const { disk, engine, reopen } = await withLog();
    await engine.createRange({ descriptor: descriptor(2, 'z', ''), confState: confState() });
    await engine.persistReady(1, ready({ entries: entries(1, 11, 12, 1) }));
    engine.deferReady(1, commitOnly(12));
    assert.equal(engine.range(1).hardState.commit, 12, 'visible at once');
    assert.equal(engine.deferredHardStates, 1);
    const before = disk.unsyncedWrites;
    await engine.persistReady(2, ready({ entries: entries(2, 2, 2, 1) }));
    assert.equal(engine.deferredHardStates, 0);
    assert.equal(disk.unsyncedWrites, before, 'no write of its own');
    disk.crash({ keepUnsynced: 0 });
    const again = await reopen();
    assert.equal(again.range(1).hardState.commit, 12, 'durable with the other range\'s fsync');
    await again.close();
  }
  // A newer hard state of the same range supersedes it.
  {
    const { disk, engine, reopen } = await withLog();
    await engine.persistReady(1, ready({ entries: entries(1, 11, 12, 1) }));
    engine.deferReady(1, commitOnly(11));
    await engine.persistReady(1, ready({ hardState: { term: 2, vote: 3, commit: 12 } }));
    assert.equal(engine.deferredHardStates, 0);
    await engine.flushDeferredHardStates();
    disk.crash({ keepUnsynced: 0 });
    const again = await reopen();
    assert.deepEqual(again.range(1).hardState, { term: 2, vote: 3, commit: 12 });
    await again.close();
  }
  // flushDeferredHardStates writes it unsynced; a destroyed range's is dropped.
  {
    const { disk, engine, reopen } = await withLog();
    await engine.createRange({ descriptor: descriptor(2, 'z', ''), confState: confState() });
    await engine.persistReady(1, ready({ entries: entries(1, 11, 12, 1) }));
    engine.deferReady(1, commitOnly(12));
    engine.deferReady(2, commitOnly(1));
    await (await engine.destroyRange(2, { clearData: true })).whenDeleted;
    await engine.drainBackground();
    const before = disk.unsyncedWrites;
    await engine.flushDeferredHardStates();
    assert.equal(disk.unsyncedWrites, before + 1);
    disk.crash({ keepUnsynced: Infinity });
    const again = await reopen();
    assert.equal(again.range(1).hardState.commit, 12);
    assert.deepEqual(again.rangeIds(), [1], 'the destroyed range stays destroyed');
    await again.close();
  }
});

test('a Ready whose fsync is in flight at the crash is lost whole or kept whole, and its persist never resolves', async () => {
  for (const keep of [0, 1]) {
    const { disk, clock, engine, reopen } = await withLog(50);
    let settled = false;
    void engine.persistReady(1, ready({ entries: entries(1, 11, 15, 2), hardState: { term: 2, vote: 1, commit: 10 } })).finally(() => { settled = true; });
    const crashed = new Promise<void>((resolve) => clock.watch(() => disk.unsyncedWrites > 0, () => {
      disk.crash({ keepUnsynced: keep });
      resolve();
    }));
    await crashed;
    const again = await reopen();
    const s = again.range(1);
    assert.deepEqual([s.lastIndex(), s.hardState.term], keep === 0 ? [10, 1] : [15, 2], `keepUnsynced ${keep}`);
    await again.persistReady(1, ready({ entries: entries(1, 11, 11, 3) }));
    assert.equal(settled, false, 'the dead engine never acknowledged it');
    await again.close();
  }
});

/** A store holding range 1 over [k, p) with `n` keys, applied at 20 term 2. */
async function sender(n: number): Promise<StorageEngine> {
  const e = await memoryStore().open({ limits: { maxSnapshotChunkBytes: 2048 } });
  await e.createRange({ descriptor: descriptor(1, 'k', 'p'), confState: confState([1, 2, 3]) });
  await e.persistReady(1, ready({ entries: entries(1, 2, 25, 2), hardState: { term: 2, vote: 1, commit: 25 } }));
  const puts: [Buffer, Buffer][] = [];
  for (let i = 0; i < n; i++) puts.push([b(`k${String(i).padStart(5, '0')}`), Buffer.alloc(50, i & 0xff)]);
  e.apply(1, { puts, applied: { index: 20, term: 2 } });
  return e;
}

function spanRows(e: StorageEngine): string[] {
  return e.db.scan(ColumnFamily.Default, { gte: b('k'), lt: b('p') }).map((kv) => `${kv.key}=${kv.value.toString('hex')}`);
}

/**
 * Stages `src`'s range 1 on a new MemDisk, starts ingesting it and crashes the disk halfway
 * (marker durable, some pairs written), keeping `keep` unsynced writes; then reopens.
 */
async function interruptedIngest(src: StorageEngine, keep: number): Promise<{ atCrash: Buffer; again: StorageEngine; disk: MemDisk; settled: () => boolean }> {
  const disk = new MemDisk();
  const clock = new VirtualClock();
  const opts = { clock, limits: { ingestBatchBytes: 1024 } };
  const dst = await StorageEngine.openOnDisk(disk, opts);
  await dst.createRange({ rangeId: 1 });
  await dst.persistReady(1, ready({ entries: entries(1, 1, 30, 1), hardState: { term: 1, vote: 2, commit: 0 } }));
  const s = src.snapshotSource(1);
  const rx = await dst.receiveSnapshot(s.headerBytes());
  for (let c = s.nextChunk(); c !== null; c = s.nextChunk()) await rx.addChunk(c);
  const staged = await rx.finish();
  let settled = false;
  void dst.ingestSnapshot(staged).finally(() => { settled = true; });
  const halfway = (): boolean => {
    const n = dst.db.scan(ColumnFamily.Default, { gte: b('k'), lt: b('p') }).length;
    return dst.db.get(ColumnFamily.Meta, rangeKey(KeyPrefix.Ingest, 1)) !== undefined && n > 0 && n < 300;
  };
  const atCrash = await new Promise<Buffer>((resolve) => clock.watch(halfway, () => {
    const bytes = disk.dump();
    disk.crash({ keepUnsynced: keep });
    resolve(bytes);
  }));
  return { atCrash, again: await StorageEngine.openOnDisk(disk, opts), disk, settled: () => settled };
}

test('an ingest interrupted by a crash (marker durable, some pairs written) is finished at the next open from the staged files', async () => {
  const src = await sender(300);
  for (const keep of [0, Infinity]) {
    const { again, disk, settled } = await interruptedIngest(src, keep);
    assert.equal(again.openReport.ingestsRecovered, 1, `keepUnsynced ${keep}`);
    assert.deepEqual(again.range(1).applied, { index: 20, term: 2 });
    assert.deepEqual(again.range(1).hardState, { term: 2, vote: 0, commit: 20 });
    assert.deepEqual(spanRows(again), spanRows(src));
    assert.deepEqual(await disk.stagingFs().readdir('/snapshots'), [], 'staging removed after the recovered ingest');
    assert.equal(settled(), false);
    await again.close();
  }
  await src.close();
});

test('a crashed engine is dead: close returns at once and its background deletes stop; the next open resumes them', async () => {
  const { disk, clock, engine, reopen } = await withLog();
  const puts: [Buffer, Buffer][] = [];
  for (let i = 0; i < 500; i++) puts.push([b(`b${i}`), b('v')]);
  engine.apply(1, { puts, applied: { index: 10, term: 1 } });
  await engine.persistReady(1, ready({ hardState: { term: 1, vote: 1, commit: 10 } })); // makes the apply durable
  const { whenDeleted } = await engine.destroyRange(1, { clearData: true });
  let deleted = false;
  void whenDeleted.then(() => { deleted = true; });
  await new Promise<void>((resolve) => clock.watch(() => engine.deletedKeys > 0, () => {
    disk.crash();
    resolve();
  }));
  await engine.close();
  const again = await reopen();
  assert.equal(again.openReport.destroysResumed, 1);
  await again.drainBackground();
  assert.equal(again.db.scan(ColumnFamily.Default, { gte: b('a'), lt: b('z') }).length, 0);
  assert.equal(deleted, false);
  await again.close();
});

test('at open, log entries a crash left below a truncated index are deleted again, and only where there are some', async () => {
  const { disk, engine, reopen } = await withLog();
  engine.apply(1, { puts: [[b('k'), b('v')]], applied: { index: 10, term: 1 } });
  await engine.persistReady(1, ready({ hardState: { term: 1, vote: 1, commit: 10 } }));
  const entryRows = (db: typeof engine.db): number[] =>
    db.scan(ColumnFamily.Raft, { gte: entryKey(1, 0), lt: entryKey(1, MAX_INDEX_EXCLUSIVE) }).map((kv) => parseEntryKey(kv.key).index);
  const before = entryRows(engine.db);
  // The truncated state is durable; the crash comes before the deleter's first turn.
  await engine.compactLog(1, 6);
  disk.crash();
  await engine.close();
  const again = await reopen();
  assert.equal(again.openReport.logSweepsResumed, 1);
  assert.deepEqual(entryRows(again.db), before, 'the leftovers are still there at open');
  await again.drainBackground();
  assert.deepEqual(entryRows(again.db), before.filter((i) => i > 6));
  assert.equal(again.range(1).firstIndex(), 7);
  await again.close();
  // Nothing left below the truncated index: no delete job (each costs an iterator).
  const third = await reopen();
  assert.equal(third.openReport.logSweepsResumed, 0);
  assert.deepEqual(entryRows(third.db), before.filter((i) => i > 6));
  await third.close();
});

test('one engine per disk at a time; the in-memory engine has no native handle for apply workers', async () => {
  const store = memoryStore();
  const e = await store.open();
  await assert.rejects(store.open(), (err: unknown) => err instanceof StorageError && err.code === 'DISK_IN_USE');
  assert.throws(() => e.nativeDbHandle(), (err: unknown) => err instanceof StorageError && err.code === 'NO_NATIVE_DB');
  await e.close();
  await (await store.open()).close();
});

test('open refuses a disk with other column families, or a foreign format version, and changes nothing', async () => {
  const clock = new VirtualClock();
  const damaged = new MemDisk({ name: 'store-9', columnFamilies: ['default', 'meta'] });
  await assert.rejects(StorageEngine.openOnDisk(damaged, { clock }), (e: unknown) =>
    e instanceof ColumnFamilyMismatchError && e.missing.join() === 'raft' && /^store-9: /.test(e.message));
  const newer = new MemDisk();
  const db = newer.openDb();
  const v = Buffer.alloc(4);
  v.writeUInt32BE(2);
  db.write(new WriteOps().put(ColumnFamily.Meta, FORMAT_VERSION_KEY, v).put(ColumnFamily.Default, b('user'), b('data')), { sync: true });
  await db.close();
  const before = newer.dump();
  await assert.rejects(StorageEngine.openOnDisk(newer, { clock }), (e: unknown) => e instanceof FormatVersionError && e.found === 2);
  assert.deepEqual(newer.dump(), before);
  assert.ok(!newer.isOpen, 'a refused open releases the disk');
});

/**
 * A scripted run: the crash workload until a crash at 60 ms of simulated time (keeping 3
 * unsynced writes); a reopen, applies and a destroy whose background deletes a second
 * crash interrupts; a last reopen that recovers and resumes. Returns the disk's bytes at
 * the first crash and at the end, and how the clock ran.
 */
async function scriptedRun(workloadSeed: number, fsyncSeed: number): Promise<{ atCrash: Buffer; end: Buffer; now: number; events: number }> {
  const disk = new MemDisk();
  const clock = new VirtualClock();
  const fsyncs = new Prng(fsyncSeed);
  const opts = { clock, limits: WORKLOAD_LIMITS, syncDelay: () => 1 + fsyncs.int(4) };
  const engine = await StorageEngine.openOnDisk(disk, opts);
  void runWorkload(engine, { seed: workloadSeed, groups: 8, maxCycles: Number.MAX_SAFE_INTEGER, nextTurn: disk.bindClock(clock).nextTurn, onAck: () => {} });
  const atCrash = await new Promise<Buffer>((resolve) => clock.setTimer(60, () => {
    const bytes = disk.dump();
    disk.crash({ keepUnsynced: 3 });
    resolve(bytes);
  }));
  const second = await StorageEngine.openOnDisk(disk, opts);
  const r = second.range(2);
  const next = r.lastIndex() + 1;
  await second.persistReady(2, ready({ entries: entries(2, next, next, r.hardState.term), hardState: { ...r.hardState, commit: next } }));
  second.apply(2, { puts: Array.from({ length: 200 }, (_, i) => [b(`g000002-${i}`), b(`v${i}`)] as const), applied: { index: next, term: r.hardState.term } });
  await second.destroyRange(2, { clearData: true });
  await new Promise<void>((resolve) => clock.watch(() => second.deletedKeys >= 64, () => {
    disk.crash({ keepUnsynced: 3 });
    resolve();
  }));
  const third = await StorageEngine.openOnDisk(disk, opts);
  await third.drainBackground();
  await third.close();
  return { atCrash, end: disk.dump(), now: clock.now(), events: clock.eventsRun };
}

test('the same operations with the same clock and fsync times leave byte-identical disks, through crashes and recoveries', async () => {
  const a = await scriptedRun(1, 100);
  const again = await scriptedRun(1, 100);
  assert.ok(a.atCrash.length > 10_000, `the workload wrote something (${a.atCrash.length} bytes)`);
  assert.deepEqual(again.atCrash, a.atCrash);
  assert.deepEqual(again.end, a.end);
  assert.deepEqual([again.now, again.events], [a.now, a.events]);
  // The comparison can fail: other inputs leave other bytes.
  assert.notDeepEqual((await scriptedRun(2, 100)).end, a.end, 'another workload leaves another disk');
  assert.notDeepEqual((await scriptedRun(1, 101)).atCrash, a.atCrash, 'other fsync times leave another disk at the crash');
});

test('the same snapshot staged and ingested the same way leaves byte-identical disks (staging names included)', async () => {
  const src = await sender(300);
  const run = async (): Promise<{ atCrash: Buffer; end: Buffer }> => {
    const r = await interruptedIngest(src, 1);
    await r.again.close(); // before the next run: two stores' clocks running at once would interleave by real turns
    return { atCrash: r.atCrash, end: r.disk.dump() };
  };
  const first = await run();
  assert.deepEqual(await run(), first);
  await src.close();
});

test('the in-memory engine reads no clock, timer or randomness of its own: only the injected clock', async () => {
  // Every call of these made directly by one of the engine's modules (not by the tests or
  // their VirtualClock, which lives in dist/testing/) is recorded.
  const calls: string[] = [];
  const engineFrame = (): boolean => {
    // [0] Error, [1] engineFrame, [2] the spy, [3] its caller.
    const caller = (new Error().stack ?? '').split('\n')[3] ?? '';
    return /packages\/storage\/dist\/[a-z-]+\.js/.test(caller) && !/\.test\.js/.test(caller);
  };
  const g = globalThis as unknown as Record<string, unknown>;
  const saved = { random: Math.random, dateNow: Date.now, perfNow: performance.now.bind(performance), setTimeout: g['setTimeout'], setInterval: g['setInterval'], setImmediate: g['setImmediate'] };
  const spy = <F extends (...a: never[]) => unknown>(name: string, f: F): F => ((...a: Parameters<F>) => {
    if (engineFrame()) calls.push(name);
    return f(...a);
  }) as F;
  Math.random = spy('Math.random', saved.random);
  Date.now = spy('Date.now', saved.dateNow);
  performance.now = spy('performance.now', saved.perfNow);
  for (const name of ['setTimeout', 'setInterval', 'setImmediate'] as const) g[name] = spy(name, saved[name] as (...a: never[]) => unknown);
  try {
    await scriptedRun(3, 7);
    const src = await sender(300);
    await (await interruptedIngest(src, 2)).again.close();
    await src.close();
  } finally {
    Math.random = saved.random;
    Date.now = saved.dateNow;
    performance.now = saved.perfNow;
    g['setTimeout'] = saved.setTimeout;
    g['setInterval'] = saved.setInterval;
    g['setImmediate'] = saved.setImmediate;
  }
  assert.deepEqual([...new Set(calls)], []);
});
