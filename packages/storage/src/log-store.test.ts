import assert from 'node:assert/strict';
import { CompactedError, UnavailableError, entrySizeBytes } from '@rangekv/raft';
import { ColumnFamily } from './column-families.js';
import { StorageEngine } from './engine.js';
import { EntryTooLargeError, UnknownRangeError } from './errors.js';
import { MAX_INDEX_EXCLUSIVE, entryKey, parseEntryKey } from './keys.js';
import { confState, descriptor, entries, payload, ready } from './testing/fixtures.js';
import { engineTest } from './testing/engines.js';

/** Indexes of range `r`'s entries actually in RocksDB. */
function diskIndexes(engine: StorageEngine, r: number): number[] {
  return engine.db.scan(ColumnFamily.Raft, { gte: entryKey(r, 0), lt: entryKey(r, MAX_INDEX_EXCLUSIVE) }).map((kv) => parseEntryKey(kv.key).index);
}

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}

engineTest('a new range starts at its bootstrap snapshot: first index 2, last index 1, configuration kept', async (kind) => {
  await kind.withEngine(async (engine) => {
    const s = await engine.createRange({ descriptor: descriptor(1, 'a', 'm'), confState: confState([1, 2, 3]) });
    assert.equal(s.firstIndex(), 2);
    assert.equal(s.lastIndex(), 1);
    assert.equal(s.term(1), 0);
    assert.deepEqual(s.initialState().confState.voters, [1, 2, 3]);
    assert.deepEqual(s.snapshot()?.meta, { index: 1, term: 0, confState: confState([1, 2, 3]) });
    assert.throws(() => s.term(0), CompactedError);
    assert.throws(() => s.term(2), UnavailableError);
  });
});

engineTest('appended entries and hard state are readable once durable, and after a restart', async (kind) => {
  const store = kind.newStore();
  try {
    let engine = await store.open();
    await engine.createRange({ descriptor: descriptor(7, '', ''), confState: confState() });
    await engine.persistReady(7, ready({ entries: entries(7, 2, 40, 1), hardState: { term: 1, vote: 1, commit: 30 } }));
    let s = engine.range(7);
    assert.equal(s.lastIndex(), 40);
    assert.deepEqual(s.entries(2, 41, Infinity).map((e) => e.index), range(2, 40));
    assert.deepEqual(Buffer.from(s.entries(17, 18, 0)[0]!.data), Buffer.from(payload(7, 17, 1)));
    await engine.close();
    engine = await store.open();
    s = engine.range(7);
    assert.equal(s.firstIndex(), 2);
    assert.equal(s.lastIndex(), 40);
    assert.equal(s.term(40), 1);
    assert.deepEqual(s.initialState().hardState, { term: 1, vote: 1, commit: 30 });
    assert.deepEqual(s.entries(2, 41, Infinity).map((e) => Buffer.from(e.data)), entries(7, 2, 40, 1).map((e) => Buffer.from(e.data)));
    await engine.close();
  } finally {
    store.remove();
  }
});

engineTest('a conflicting append truncates the old suffix: on disk, in the cache and after a restart', async (kind) => {
  const store = kind.newStore();
  try {
    let engine = await store.open();
    await engine.createRange({ descriptor: descriptor(3, '', ''), confState: confState() });
    await engine.persistReady(3, ready({ entries: entries(3, 2, 20, 1) }));
    await engine.persistReady(3, ready({ entries: entries(3, 10, 12, 2), hardState: { term: 2, vote: 0, commit: 9 } }));
    const s = engine.range(3);
    assert.equal(s.lastIndex(), 12);
    assert.deepEqual(s.entries(8, 13, Infinity).map((e) => e.term), [1, 1, 2, 2, 2]);
    assert.throws(() => s.entries(2, 14, Infinity), UnavailableError);
    assert.deepEqual(diskIndexes(engine, 3), range(2, 12));
    await engine.close();
    engine = await store.open();
    assert.equal(engine.range(3).lastIndex(), 12);
    assert.equal(engine.range(3).term(12), 2);
    await engine.close();
  } finally {
    store.remove();
  }
});

engineTest('pipelined Readies: a truncation submitted before the previous append is durable still removes its suffix', async (kind) => {
  await kind.withEngine(async (engine) => {
    await engine.createRange({ descriptor: descriptor(4, '', ''), confState: confState() });
    const a = engine.persistReady(4, ready({ entries: entries(4, 2, 30, 1) }));
    const b = engine.persistReady(4, ready({ entries: entries(4, 20, 22, 3) }));
    const c = engine.persistReady(4, ready({})); // nothing to persist: still acknowledged after b
    const order: string[] = [];
    await Promise.all([a.then(() => order.push('a')), b.then(() => order.push('b')), c.then(() => order.push('c'))]);
    assert.deepEqual(order, ['a', 'b', 'c']);
    assert.equal(engine.range(4).lastIndex(), 22);
    assert.deepEqual(diskIndexes(engine, 4), range(2, 22));
    assert.deepEqual(engine.range(4).entries(19, 23, Infinity).map((e) => e.term), [1, 3, 3, 3]);
  });
});

engineTest('compaction: the truncated state moves at once, compacted entries are deleted in the background', async (kind) => {
  const store = kind.newStore();
  try {
    let engine = await store.open();
    await engine.createRange({ descriptor: descriptor(5, 'a', 'z'), confState: confState() });
    await engine.persistReady(5, ready({ entries: entries(5, 2, 50, 1), hardState: { term: 1, vote: 1, commit: 50 } }));
    engine.apply(5, { puts: [[Buffer.from('k'), Buffer.from('v')]], applied: { index: 30, term: 1 } });
    const { whenDeleted } = await engine.compactLog(5, 25);
    const s = engine.range(5);
    assert.equal(s.firstIndex(), 26);
    assert.equal(s.term(25), 1);
    assert.throws(() => s.term(24), CompactedError);
    assert.throws(() => s.entries(25, 30, Infinity), CompactedError);
    assert.deepEqual(s.entries(26, 28, Infinity).map((e) => e.index), [26, 27]);
    await whenDeleted;
    assert.deepEqual(diskIndexes(engine, 5), range(26, 50));
    await assert.rejects(engine.compactLog(5, 31), /beyond the applied index 30/);
    await engine.close();
    engine = await store.open();
    assert.equal(engine.range(5).firstIndex(), 26);
    assert.equal(engine.range(5).lastIndex(), 50);
    await engine.close();
  } finally {
    store.remove();
  }
});

engineTest('cache coherence: entries evicted from the tail cache are read from RocksDB and agree, across overwrite and compaction', async (kind) => {
  await kind.withEngine(async (engine) => {
    await engine.createRange({ descriptor: descriptor(9, '', ''), confState: confState() });
    await engine.persistReady(9, ready({ entries: entries(9, 2, 100, 1, 100) }));
    const s = engine.range(9);
    assert.equal(s.cachedEntries.count, 8);
    assert.equal(s.cachedEntries.first, 93);
    const before = s.stats.diskReads;
    const all = s.entries(2, 101, Infinity);
    assert.ok(s.stats.diskReads > before, 'old entries came from RocksDB');
    assert.deepEqual(all.map((e) => Buffer.from(e.data)), entries(9, 2, 100, 1, 100).map((e) => Buffer.from(e.data)));
    assert.equal(s.term(50), 1);
    // Overwrite starting below the cached run: the cache restarts at the new entries.
    await engine.persistReady(9, ready({ entries: entries(9, 60, 64, 2, 100) }));
    assert.equal(s.lastIndex(), 64);
    assert.equal(s.cachedEntries.first, 60);
    assert.deepEqual(s.entries(58, 65, Infinity).map((e) => e.term), [1, 1, 2, 2, 2, 2, 2]);
    // Overwrite inside the cached run.
    await engine.persistReady(9, ready({ entries: entries(9, 63, 70, 3, 100) }));
    assert.deepEqual(s.entries(61, 71, Infinity).map((e) => `${e.index}/${e.term}`), [
      '61/2', '62/2', '63/3', '64/3', '65/3', '66/3', '67/3', '68/3', '69/3', '70/3',
    ]);
    const reads = s.stats.diskReads;
    assert.equal(s.term(70), 3);
    assert.equal(s.term(66), 3);
    assert.equal(s.stats.diskReads, reads, 'tail reads are cache hits');
    engine.apply(9, { applied: { index: 66, term: 3 } });
    await engine.compactLog(9, 65);
    assert.equal(s.cachedEntries.first, 66);
    assert.deepEqual(s.entries(66, 71, Infinity).map((e) => e.term), [3, 3, 3, 3, 3]);
  }, { limits: { maxCachedEntries: 8 } });
});

engineTest('the store-wide cache budget empties the least recently appended ranges first', async (kind) => {
  await kind.withEngine(async (engine) => {
    for (const r of [1, 2, 3]) await engine.createRange({ descriptor: descriptor(r, `${r}`, `${r}z`), confState: confState() });
    await engine.persistReady(1, ready({ entries: entries(1, 2, 11, 1, 1000) }));
    await engine.persistReady(2, ready({ entries: entries(2, 2, 11, 1, 1000) }));
    assert.equal(engine.range(1).cachedEntries.count, 10);
    await engine.persistReady(3, ready({ entries: entries(3, 2, 11, 1, 1000) }));
    assert.equal(engine.range(1).cachedEntries.count, 0, 'range 1 was appended to least recently');
    assert.equal(engine.range(2).cachedEntries.count, 10);
    assert.equal(engine.range(3).cachedEntries.count, 10);
    assert.equal(engine.range(1).entries(2, 12, Infinity).length, 10, 'and still reads from RocksDB');
  }, { limits: { maxTotalCacheBytes: 25_000 } });
});

engineTest('entries() honours maxBytes but always returns at least one entry', async (kind) => {
  await kind.withEngine(async (engine) => {
    await engine.createRange({ descriptor: descriptor(2, '', ''), confState: confState() });
    await engine.persistReady(2, ready({ entries: entries(2, 2, 60, 1, 100) }));
    const size = entrySizeBytes(entries(2, 2, 2, 1, 100)[0]!);
    const s = engine.range(2);
    assert.equal(s.entries(2, 61, 0).length, 1);
    assert.equal(s.entries(2, 61, size * 5).length, 5);
    assert.equal(s.entries(2, 61, size * 5 + size - 1).length, 5);
    assert.equal(s.entries(50, 61, size * 3).length, 3);
    assert.equal(s.entries(2, 2, 100).length, 0);
  }, { limits: { maxCachedEntries: 16 } });
});

engineTest('an entry over maxEntryBytes refuses the whole Ready; nothing is written and other groups are unaffected', async (kind) => {
  await kind.withEngine(async (engine) => {
    await engine.createRange({ descriptor: descriptor(1, 'a', 'b'), confState: confState() });
    await engine.createRange({ descriptor: descriptor(2, 'b', 'c'), confState: confState() });
    const big = entries(1, 2, 3, 1, 64);
    big[1] = { ...big[1]!, data: new Uint8Array(1025) };
    const batch = engine.readyBatch();
    batch.add(2, ready({ entries: entries(2, 2, 4, 1) }));
    assert.throws(() => batch.add(1, ready({ entries: big, hardState: { term: 1, vote: 1, commit: 0 } })),
      (e: unknown) => e instanceof EntryTooLargeError && e.rangeId === 1 && e.index === 3 && e.sizeBytes === 1025 && /nothing was written/.test(e.message));
    await batch.submit();
    assert.equal(engine.range(1).lastIndex(), 1);
    assert.deepEqual(engine.range(1).hardState, { term: 0, vote: 0, commit: 1 });
    assert.deepEqual(diskIndexes(engine, 1), []);
    assert.equal(engine.range(2).lastIndex(), 4);
    await assert.rejects(engine.persistReady(1, ready({ entries: big })), EntryTooLargeError);
    await engine.persistReady(1, ready({ entries: entries(1, 2, 3, 1) }));
    assert.equal(engine.range(1).lastIndex(), 3);
  }, { limits: { maxEntryBytes: 1024 } });
});

engineTest('writes for an unknown range are refused with UnknownRangeError', async (kind) => {
  await kind.withEngine(async (engine) => {
    assert.throws(() => engine.range(42), (e: unknown) => e instanceof UnknownRangeError && e.rangeId === 42);
    await assert.rejects(engine.persistReady(42, ready({ entries: entries(42, 2, 3, 1) })), /persist ready: range 42 does not exist/);
    assert.throws(() => engine.apply(42, { applied: { index: 2, term: 1 } }), /apply: range 42 does not exist/);
    await assert.rejects(engine.compactLog(42, 5), UnknownRangeError);
    assert.throws(() => engine.readyBatch().add(42, ready({})), UnknownRangeError);
  });
});

engineTest('an append that would leave a gap in the log is a programming error and is refused', async (kind) => {
  await kind.withEngine(async (engine) => {
    await engine.createRange({ descriptor: descriptor(1, '', ''), confState: confState() });
    await assert.rejects(engine.persistReady(1, ready({ entries: entries(1, 5, 6, 1) })), /leaves a gap after 1/);
    await assert.rejects(engine.persistReady(1, ready({ entries: entries(1, 1, 2, 1) })), /at or below the truncated index 1/);
    assert.deepEqual(diskIndexes(engine, 1), []);
  });
});
