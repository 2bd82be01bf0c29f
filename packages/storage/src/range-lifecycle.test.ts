import assert from 'node:assert/strict';
import { ColumnFamily } from './column-families.js';
import { StorageEngine } from './engine.js';
import { RangeExistsError, UnknownRangeError } from './errors.js';
import { MAX_INDEX_EXCLUSIVE, entryKey } from './keys.js';
import { confState, descriptor, entries, ready } from './testing/fixtures.js';
import { engineTest } from './testing/engines.js';

const b = (s: string): Buffer => Buffer.from(s);

async function populated(engine: StorageEngine, rangeId: number, start: string, end: string, keys: number): Promise<void> {
  await engine.createRange({ descriptor: descriptor(rangeId, start, end), confState: confState() });
  await engine.persistReady(rangeId, ready({ entries: entries(rangeId, 2, 200, 1), hardState: { term: 1, vote: 1, commit: 200 } }));
  const puts: [Buffer, Buffer][] = [];
  for (let i = 0; i < keys; i++) puts.push([b(`${start}${String(i).padStart(5, '0')}`), b('v')]);
  engine.apply(rangeId, { puts, applied: { index: 200, term: 1 } });
}

function count(engine: StorageEngine, cf: ColumnFamily, gte: Buffer, lt: Buffer): number {
  return engine.db.scan(cf, { gte, lt }).length;
}

engineTest('destroying a removed replica: gone at once, log and data deleted in background batches, neighbours intact', async (kind) => {
  await kind.withEngine(async (engine) => {
    await populated(engine, 1, 'a', 'b', 3000);
    await populated(engine, 2, 'b', 'c', 10);
    const { whenDeleted } = await engine.destroyRange(1, { clearData: true });
    assert.equal(engine.hasRange(1), false);
    assert.throws(() => engine.range(1), UnknownRangeError);
    await assert.rejects(engine.createRange({ descriptor: descriptor(1, 'a', 'b'), confState: confState() }), RangeExistsError);
    await whenDeleted;
    assert.equal(count(engine, ColumnFamily.Default, b('a'), b('b')), 0);
    assert.equal(count(engine, ColumnFamily.Raft, entryKey(1, 0), entryKey(1, MAX_INDEX_EXCLUSIVE)), 0);
    assert.equal(count(engine, ColumnFamily.Default, b('b'), b('c')), 10);
    assert.equal(engine.range(2).lastIndex(), 200);
    assert.ok(engine.deletedKeys >= 3000 + 199);
    assert.deepEqual(engine.destroyingRangeIds(), []);
  }, { limits: { deleteBatchKeys: 128 } });
});

engineTest('destroying a merged-away range keeps its user keys (the left-hand range owns them now)', async (kind) => {
  await kind.withEngine(async (engine) => {
    await populated(engine, 1, 'a', 'b', 20);
    const { whenDeleted } = await engine.destroyRange(1, { clearData: false });
    await whenDeleted;
    assert.equal(count(engine, ColumnFamily.Default, b('a'), b('b')), 20);
    assert.equal(count(engine, ColumnFamily.Raft, entryKey(1, 0), entryKey(1, MAX_INDEX_EXCLUSIVE)), 0);
  });
});

engineTest('a destroy interrupted by close resumes at the next open, and the range never reappears', async (kind) => {
  const store = kind.newStore();
  try {
    let engine = await store.open({ limits: { deleteBatchKeys: 16 } });
    await populated(engine, 1, 'a', 'b', 2000);
    await engine.destroyRange(1, { clearData: true });
    await engine.close(); // stops the background deleter after at most one batch
    engine = await store.open({ limits: { deleteBatchKeys: 16 } });
    assert.equal(engine.hasRange(1), false);
    assert.equal(engine.openReport.destroysResumed, 1);
    await engine.drainBackground();
    assert.equal(count(engine, ColumnFamily.Default, b('a'), b('b')), 0);
    assert.deepEqual(engine.destroyingRangeIds(), []);
    await engine.createRange({ descriptor: descriptor(1, 'a', 'b'), confState: confState() });
    await engine.close();
  } finally {
    store.remove();
  }
});

engineTest('a destroy keeps the replica id it is given as the range\'s tombstone, across a reopen; a lower id never lowers it; none without one', async (kind) => {
  const store = kind.newStore();
  try {
    let engine = await store.open();
    await populated(engine, 1, 'a', 'b', 5);
    await populated(engine, 2, 'b', 'c', 5);
    assert.equal(engine.tombstoneOf(1), 0);
    await (await engine.destroyRange(1, { clearData: true, tombstoneReplicaId: 7 })).whenDeleted;
    await (await engine.destroyRange(2, { clearData: true })).whenDeleted;
    assert.equal(engine.tombstoneOf(1), 7);
    assert.equal(engine.tombstoneOf(2), 0, 'no id given: no tombstone');
    // Re-added with a higher id, destroyed again with a lower one given (cannot happen, but the tombstone only grows).
    await engine.createRange({ descriptor: descriptor(1, 'a', 'b'), confState: confState() });
    await (await engine.destroyRange(1, { clearData: true, tombstoneReplicaId: 3 })).whenDeleted;
    assert.equal(engine.tombstoneOf(1), 7);
    await engine.close();
    engine = await store.open();
    assert.equal(engine.tombstoneOf(1), 7, 'kept across a reopen');
    await engine.close();
  } finally {
    store.remove();
  }
});

engineTest('creating a range twice is refused; ids must be positive', async (kind) => {
  await kind.withEngine(async (engine) => {
    await engine.createRange({ rangeId: 5 });
    await assert.rejects(engine.createRange({ rangeId: 5 }), (e: unknown) => e instanceof RangeExistsError && e.rangeId === 5);
    await assert.rejects(engine.createRange({ rangeId: 0 }), RangeError);
  });
});

engineTest('merge: the freeze survives a reopen; the left range widens over the right, whose keys stay and whose state and log go, in one batch', async (kind) => {
  const store = kind.newStore();
  try {
    let engine = await store.open();
    await populated(engine, 1, 'a', 'b', 10);
    await populated(engine, 2, 'b', 'c', 7);
    await engine.persistReady(1, ready({ entries: entries(1, 201, 201, 1), hardState: { term: 1, vote: 1, commit: 201 } }));
    await engine.persistReady(2, ready({ entries: entries(2, 201, 201, 1), hardState: { term: 1, vote: 1, commit: 201 } }));
    const freeze = { mergeId: 9, leftRangeId: 1, leftConfVer: 1, leftVersion: 1, index: 201, term: 1 };
    engine.apply(2, { applied: { index: 201, term: 1 }, mergeFreeze: freeze });
    assert.deepEqual(engine.range(2).mergeFreeze, freeze);
    await engine.close();
    engine = await store.open();
    assert.deepEqual(engine.range(2).mergeFreeze, freeze);
    assert.equal(engine.range(1).mergeFreeze, null);

    const merged = { ...descriptor(1, 'a', 'c'), epoch: { confVer: 1, version: 2 } };
    const outcomes = [{ mergeId: 9, state: 'committed' as const }];
    const { whenDeleted } = await engine.mergeRanges(1, { left: { applied: { index: 201, term: 1 }, descriptor: merged, mergeOutcomes: outcomes }, rightId: 2 });
    assert.deepEqual(engine.range(1).mergeOutcomes, outcomes);
    assert.equal(engine.hasRange(2), false);
    assert.deepEqual(engine.range(1).descriptor, merged);
    assert.deepEqual(engine.range(1).applied, { index: 201, term: 1 });
    await assert.rejects(engine.createRange({ descriptor: descriptor(2, 'b', 'c'), confState: confState() }), RangeExistsError);
    await whenDeleted;
    assert.equal(count(engine, ColumnFamily.Default, b('b'), b('c')), 7);
    assert.equal(count(engine, ColumnFamily.Raft, entryKey(2, 0), entryKey(2, MAX_INDEX_EXCLUSIVE)), 0);
    // The widened range takes writes over the whole span.
    await engine.persistReady(1, ready({ entries: entries(1, 202, 202, 1), hardState: { term: 1, vote: 1, commit: 202 } }));
    engine.apply(1, { puts: [[b('bz'), b('w')]], applied: { index: 202, term: 1 } });
    await engine.close();
    engine = await store.open();
    assert.equal(engine.hasRange(2), false);
    const d = engine.range(1).descriptor!;
    assert.deepEqual({ ...d, startKey: Buffer.from(d.startKey), endKey: Buffer.from(d.endKey) }, merged);
    assert.equal(count(engine, ColumnFamily.Default, b('a'), b('c')), 18);
    assert.deepEqual(engine.range(1).mergeOutcomes, outcomes, 'the outcome is on disk');
    await engine.close();
  } finally {
    store.remove();
  }
});

engineTest('merge refuses ranges that are not adjacent or a span that does not cover both exactly', async (kind) => {
  await kind.withEngine(async (engine) => {
    await populated(engine, 1, 'a', 'b', 1);
    await populated(engine, 2, 'c', 'd', 1);
    await populated(engine, 3, 'b', 'c', 1);
    await engine.persistReady(1, ready({ entries: entries(1, 201, 201, 1), hardState: { term: 1, vote: 1, commit: 201 } }));
    const left = (start: string, end: string) => ({ applied: { index: 201, term: 1 }, descriptor: { ...descriptor(1, start, end), epoch: { confVer: 1, version: 2 } } });
    await assert.rejects(engine.mergeRanges(1, { left: left('a', 'd'), rightId: 2 }), /not adjacent/);
    await assert.rejects(engine.mergeRanges(1, { left: left('a', 'd'), rightId: 3 }), /does not cover both ranges exactly/);
    assert.equal(engine.hasRange(3), true);
    assert.equal(engine.range(1).applied.index, 200);
  });
});
