import assert from 'node:assert/strict';
import type { RangeDescriptor } from '@rangekv/proto/range-descriptor';
import { StorageEngine } from './engine.js';
import { RangeExistsError } from './errors.js';
import { RIGHT_INIT } from './range-split.js';
import { confState, descriptor, entries, ready } from './testing/fixtures.js';
import { engineTest } from './testing/engines.js';

const b = (s: string): Buffer => Buffer.from(s);
/** Keys as Buffers, so a descriptor read back from disk compares equal to one built here. */
const plain = (d: RangeDescriptor | null): unknown => d && { ...d, startKey: Buffer.from(d.startKey), endKey: Buffer.from(d.endKey) };

function halves(d: RangeDescriptor, at: string, rightId: number): { left: RangeDescriptor; right: RangeDescriptor } {
  const epoch = { confVer: d.epoch.confVer, version: d.epoch.version + 1 };
  return {
    left: { ...d, endKey: b(at), epoch },
    right: { ...d, rangeId: rightId, startKey: b(at), epoch },
  };
}

async function leftRange(engine: StorageEngine): Promise<RangeDescriptor> {
  const d = descriptor(1, 'a', 'z');
  await engine.createRange({ descriptor: d, confState: confState() });
  await engine.persistReady(1, ready({ entries: entries(1, 2, 10, 1), hardState: { term: 1, vote: 1, commit: 10 } }));
  engine.apply(1, { puts: [[b('c'), b('1')], [b('m'), b('2')]], applied: { index: 9, term: 1 } });
  return d;
}

engineTest('split: the left range is cut and the right range created with the same configuration, in one batch', async (kind) => {
  const store = kind.newStore();
  try {
    const engine = await store.open();
    const d = await leftRange(engine);
    const { left, right } = halves(d, 'k', 7);
    const rs = engine.splitRange(1, { left: { applied: { index: 10, term: 1 }, descriptor: left }, right, confState: confState() });
    assert.deepEqual(engine.range(1).descriptor, left);
    assert.equal(engine.range(1).applied.index, 10);
    assert.deepEqual(rs.descriptor, right);
    assert.deepEqual(rs.applied, RIGHT_INIT);
    assert.equal(rs.lastIndex(), RIGHT_INIT.index);
    assert.deepEqual(rs.initialState().confState.voters, [1, 2, 3]);
    // A later sync write makes the split durable; reopen and find both ranges.
    await engine.persistReady(7, ready({ entries: [], hardState: { term: 1, vote: 2, commit: 1 } }));
    await engine.close();
    const again = await store.open();
    try {
      assert.deepEqual(again.rangeIds(), [1, 7]);
      assert.deepEqual(plain(again.range(1).descriptor), plain(left));
      assert.deepEqual(plain(again.range(7).descriptor), plain(right));
      assert.equal(again.range(7).hardState.vote, 2);
    } finally {
      await again.close();
    }
  } finally {
    store.remove();
  }
});

engineTest('split takes over an uninitialized right-hand replica and keeps its newest term and vote', async (kind) => {
  await kind.withEngine(async (engine) => {
    const d = await leftRange(engine);
    await engine.createRange({ rangeId: 7 });
    await engine.persistReady(7, ready({ entries: [], hardState: { term: 3, vote: 2, commit: 0 } }));
    const { left, right } = halves(d, 'k', 7);
    const rs = engine.splitRange(1, {
      left: { applied: { index: 10, term: 1 }, descriptor: left }, right, confState: confState(),
      takeOverHardState: { term: 4, vote: 3, commit: 0 },
    });
    assert.deepEqual(rs.hardState, { term: 4, vote: 3, commit: RIGHT_INIT.index });
    assert.deepEqual(engine.range(7).descriptor, right);
  });
});

engineTest('split refuses an initialized right range and halves that do not cover the span', async (kind) => {
  await kind.withEngine(async (engine) => {
    const d = await leftRange(engine);
    await engine.createRange({ descriptor: descriptor(7, 'z', ''), confState: confState() });
    const { left, right } = halves(d, 'k', 7);
    assert.throws(() => engine.splitRange(1, { left: { applied: { index: 10, term: 1 }, descriptor: left }, right, confState: confState() }), RangeExistsError);
    const bad = halves(d, 'k', 8);
    bad.right.endKey = b('y');
    assert.throws(() => engine.splitRange(1, { left: { applied: { index: 10, term: 1 }, descriptor: bad.left }, right: bad.right, confState: confState() }), /do not cover/);
    assert.deepEqual(engine.range(1).descriptor, d, 'nothing changed');
  });
});

engineTest('id allocator: ids are unique across reopen, blocks are durable before use, the space is bounded', async (kind) => {
  const store = kind.newStore();
  try {
    let engine = await store.open();
    let ids = engine.idAllocator('range', { first: 100, limit: 110, blockSize: 4 });
    const got = await Promise.all([ids.allocate(), ids.allocate(), ids.allocate()]);
    assert.deepEqual(got, [100, 101, 102]);
    await engine.close();
    engine = await store.open();
    ids = engine.idAllocator('range', { first: 100, limit: 110, blockSize: 4 });
    const more: number[] = [];
    for (let i = 0; i < 6; i++) more.push(await ids.allocate());
    assert.deepEqual(more, [104, 105, 106, 107, 108, 109], 'the rest of the first block is skipped, never reused');
    await assert.rejects(ids.allocate(), /used up/);
    assert.throws(() => engine.idAllocator('Bad Name', { first: 1, limit: 2, blockSize: 1 }), /lowercase/);
    await engine.close();
  } finally {
    store.remove();
  }
});
