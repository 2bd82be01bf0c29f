import assert from 'node:assert/strict';
import { checkApplyBatch, encodeApplyBatch, encodeApplyWrites } from './apply-writes.js';
import { ColumnFamily } from './column-families.js';
import { decodeAppliedState } from './encoding.js';
import { KeyOutOfRangeError } from './errors.js';
import { KeyPrefix, rangeKey } from './keys.js';
import { confState, descriptor, entries, ready } from './testing/fixtures.js';
import { engineTest } from './testing/engines.js';

const b = (s: string): Buffer => Buffer.from(s);

engineTest('apply writes data and the applied index in one batch; both survive a restart together', async (kind) => {
  const store = kind.newStore();
  try {
    let engine = await store.open();
    await engine.createRange({ descriptor: descriptor(1, 'a', 'n'), confState: confState() });
    await engine.persistReady(1, ready({ entries: entries(1, 2, 10, 1) }));
    engine.apply(1, { puts: [[b('apple'), b('1')], [b('kiwi'), b('2')]], applied: { index: 5, term: 1 } });
    engine.apply(1, { deletes: [b('apple')], puts: [[b('fig'), b('3')]], applied: { index: 9, term: 1 }, confState: confState([1, 2]) });
    assert.deepEqual(engine.range(1).applied, { index: 9, term: 1 });
    await engine.close();
    engine = await store.open();
    const s = engine.range(1);
    assert.deepEqual(s.applied, { index: 9, term: 1 });
    assert.deepEqual(s.initialState().confState.voters, [1, 2], 'the configuration at the applied index');
    assert.equal(engine.db.get(ColumnFamily.Default, b('apple')), undefined);
    assert.equal(engine.db.get(ColumnFamily.Default, b('fig'))?.toString(), '3');
    assert.deepEqual(decodeAppliedState(engine.db.get(ColumnFamily.Meta, rangeKey(KeyPrefix.Applied, 1))!), { index: 9, term: 1 });
    await engine.close();
  } finally {
    store.remove();
  }
});

engineTest('apply refuses keys outside the range span, naming the key and the span; nothing is written', async (kind) => {
  await kind.withEngine(async (engine) => {
    await engine.createRange({ descriptor: descriptor(1, 'b', 'd'), confState: confState() });
    await engine.persistReady(1, ready({ entries: entries(1, 2, 3, 1) }));
    assert.throws(() => engine.apply(1, { puts: [[b('c'), b('ok')], [b('d'), b('no')]], applied: { index: 2, term: 1 } }),
      (e: unknown) => e instanceof KeyOutOfRangeError && /key 64 is outside \[62, 64\)/.test(e.message));
    assert.equal(engine.db.get(ColumnFamily.Default, b('c')), undefined);
    assert.deepEqual(engine.range(1).applied, { index: 1, term: 0 });
    assert.throws(() => engine.apply(1, { deletes: [b('')], applied: { index: 2, term: 1 } }), KeyOutOfRangeError);
  });
});

engineTest('apply cannot go past the durable log or move the applied index backwards', async (kind) => {
  await kind.withEngine(async (engine) => {
    await engine.createRange({ descriptor: descriptor(1, '', ''), confState: confState() });
    await engine.persistReady(1, ready({ entries: entries(1, 2, 4, 1) }));
    assert.throws(() => engine.apply(1, { applied: { index: 5, term: 1 } }), /beyond the durable log \(last 4\)/);
    engine.apply(1, { applied: { index: 3, term: 1 } });
    assert.throws(() => engine.apply(1, { applied: { index: 3, term: 1 } }), /applied index must grow/);
  });
});

engineTest('an uninitialized range has nothing to apply to', async (kind) => {
  await kind.withEngine(async (engine) => {
    await engine.createRange({ rangeId: 8 });
    assert.equal(engine.range(8).snapshot(), null);
    assert.throws(() => engine.apply(8, { applied: { index: 1, term: 1 } }), /range 8 is uninitialized/);
  });
});

engineTest('an apply written from encodeApplyWrites (worker path) equals one from encodeApplyBatch, and onApplied shows it', async (kind) => {
  await kind.withEngine(async (engine) => {
    await engine.createRange({ descriptor: descriptor(1, 'a', 'n'), confState: confState() });
    await engine.persistReady(1, ready({ entries: entries(1, 2, 6, 1) }));
    const s = engine.range(1);
    const next = { ...descriptor(1, 'a', 'n'), epoch: { confVer: 2, version: 1 } };
    const batch = { puts: [[b('fig'), b('1')]] as [Buffer, Buffer][], deletes: [b('kiwi')], applied: { index: 4, term: 1 }, confState: confState([1, 2]), descriptor: next };
    const desc = checkApplyBatch(s, batch);
    assert.deepEqual(desc, descriptor(1, 'a', 'n'), 'the current descriptor: the span the writes must lie in');
    const ops = encodeApplyWrites(1, desc, batch);
    assert.deepEqual(Buffer.from(ops.bytes()), Buffer.from(encodeApplyBatch(s, batch).bytes()));
    engine.db.write(ops, { sync: false });
    assert.deepEqual(s.applied, { index: 1, term: 0 }, 'the write alone does not move the in-memory state');
    s.onApplied(batch.applied, batch.confState, batch.descriptor);
    assert.deepEqual(s.applied, { index: 4, term: 1 });
    assert.deepEqual(s.descriptor, next);
    assert.deepEqual(s.confState.voters, [1, 2]);
    assert.equal(engine.db.get(ColumnFamily.Default, b('fig'))?.toString(), '1');
    assert.throws(() => encodeApplyWrites(1, desc, { puts: [[b('z'), b('no')]], applied: { index: 5, term: 1 } }), KeyOutOfRangeError);
    assert.throws(() => checkApplyBatch(s, { applied: { index: 4, term: 1 } }), /applied index must grow/);
    assert.throws(() => checkApplyBatch(s, { applied: { index: 7, term: 1 } }), /beyond the durable log/);
  });
});
