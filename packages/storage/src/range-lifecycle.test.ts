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

engineTest('creating a range twice is refused; ids must be positive', async (kind) => {
  await kind.withEngine(async (engine) => {
    await engine.createRange({ rangeId: 5 });
    await assert.rejects(engine.createRange({ rangeId: 5 }), (e: unknown) => e instanceof RangeExistsError && e.rangeId === 5);
    await assert.rejects(engine.createRange({ rangeId: 0 }), RangeError);
  });
});
