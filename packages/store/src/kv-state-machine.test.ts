import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EntryType, encodeConfChange, type Ready } from '@rangekv/raft';
import { ReplicaRole, type RangeDescriptor } from '@rangekv/proto';
import { ColumnFamily, StorageEngine, type ApplyBatch } from '@rangekv/storage';
import { encodeKvCommand, KvCommandType, type KvCommand } from './kv-command.js';
import { applyKvEntries, type KvResult } from './kv-state-machine.js';
import { EntryApplyError, type ApplyEntry } from '@rangekv/multiraft';

const b = (s: string): Uint8Array => new TextEncoder().encode(s);
const str = (v: Uint8Array | null | undefined): string | undefined => (v == null ? undefined : new TextDecoder().decode(v));

const DESC: RangeDescriptor = {
  rangeId: 1, startKey: b('b'), endKey: b('p'), epoch: { confVer: 1, version: 3 },
  replicas: [{ storeId: 1, replicaId: 1, role: ReplicaRole.Voter }],
};
const CS = { voters: [1], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false };

/** A range [b, p) on a real engine, and a way to put entries in its log and apply them. */
async function withRange(f: (h: {
  engine: StorageEngine;
  apply: (cmds: (KvCommand | ApplyEntry)[]) => Promise<KvResult[]>;
  get: (k: string) => string | undefined;
  batches: ApplyBatch[];
}) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'rangekv-kvsm-'));
  const engine = await StorageEngine.open(dir);
  try {
    await engine.createRange({ descriptor: DESC, confState: CS });
    const batches: ApplyBatch[] = [];
    const orig = engine.apply.bind(engine);
    engine.apply = (rangeId, batch) => {
      batches.push(batch);
      orig(rangeId, batch);
    };
    let seq = 0;
    const apply = async (items: (KvCommand | ApplyEntry)[]): Promise<KvResult[]> => {
      const store = engine.range(1);
      let index = store.lastIndex();
      const entries: ApplyEntry[] = items.map((it) => {
        index++;
        if ('index' in it) return { ...it, index, term: 1 };
        return { index, term: 1, type: EntryType.Normal, data: encodeKvCommand(it) };
      });
      const rd: Ready = {
        seq: ++seq, softState: null, hardState: { term: 1, vote: 1, commit: index },
        entries: entries.map((e) => ({ index: e.index, term: e.term, type: e.type, data: e.data })),
        snapshot: null, committedEntries: [], messages: [], messagesAfterPersist: [], readStates: [], mustSync: true,
      };
      await engine.persistReady(1, rd);
      return applyKvEntries(engine, 1, entries);
    };
    const get = (k: string): string | undefined => str(engine.db.get(ColumnFamily.Default, Buffer.from(k)));
    await f({ engine, apply, get, batches });
  } finally {
    await engine.close();
    await rm(dir, { recursive: true, force: true });
  }
}

const V = 3; // DESC.epoch.version
const put = (k: string, v: string): KvCommand => ({ type: KvCommandType.Put, epochVersion: V, key: b(k), value: b(v) });
const del = (k: string): KvCommand => ({ type: KvCommandType.Delete, epochVersion: V, key: b(k) });
const delRange = (s: string, e: string): KvCommand => ({ type: KvCommandType.DeleteRange, epochVersion: V, startKey: b(s), endKey: b(e) });
const cas = (k: string, expect: string | null, next: string | null): KvCommand => ({
  type: KvCommandType.CompareAndSwap, epochVersion: V, key: b(k), expectExists: expect !== null,
  expectedValue: b(expect ?? ''), newValue: b(next ?? ''), delete: next === null,
});

test('puts, batch puts and deletes land in default with the applied index in the same single batch', async () => {
  await withRange(async ({ engine, apply, get, batches }) => {
    const res = await apply([
      put('c', '1'),
      { type: KvCommandType.BatchPut, epochVersion: V, pairs: [{ key: b('d'), value: b('x') }, { key: b('d'), value: b('last') }, { key: b('e'), value: b('2') }] },
      put('f', 'gone'),
      del('f'),
    ]);
    assert.deepEqual(res.map((r) => r.kind), ['ok', 'ok', 'ok', 'ok']);
    assert.equal(batches.length, 1, 'one engine.apply for the whole batch');
    const last = engine.range(1).lastIndex();
    assert.deepEqual(batches[0]!.applied, { index: last, term: 1 });
    assert.equal(engine.range(1).applied.index, last);
    assert.equal(get('c'), '1');
    assert.equal(get('d'), 'last', 'a key repeated in a BatchPut keeps its last value');
    assert.equal(get('e'), '2');
    assert.equal(get('f'), undefined);
  });
});

test('compare-and-swap: expect-absent, expect-value, mismatch, and delete on match, with the previous state', async () => {
  await withRange(async ({ apply, get }) => {
    let [r] = await apply([cas('k', null, 'v1')]);
    assert.deepEqual(r, { kind: 'cas', succeeded: true, previousExists: false, previousValue: null });
    [r] = await apply([cas('k', null, 'v2')]);
    assert.equal(r!.kind === 'cas' && r.succeeded, false, 'expect-absent fails on an existing key');
    assert.equal(r!.kind === 'cas' && str(r.previousValue), 'v1');
    [r] = await apply([cas('k', 'wrong', 'v3')]);
    assert.equal(r!.kind === 'cas' && r.succeeded, false);
    assert.equal(get('k'), 'v1', 'a failed CAS writes nothing');
    [r] = await apply([cas('k', 'v1', 'v4')]);
    assert.equal(r!.kind === 'cas' && r.succeeded, true);
    assert.equal(get('k'), 'v4');
    [r] = await apply([cas('k', 'v4', null)]);
    assert.equal(r!.kind === 'cas' && r.succeeded && r.previousExists, true);
    assert.equal(get('k'), undefined, 'a matching CAS with delete removes the key');
    [r] = await apply([cas('k', 'v4', 'v5')]);
    assert.equal(r!.kind === 'cas' && (r.succeeded || r.previousExists), false, 'expect-value fails on an absent key');
  });
});

test('later entries of one apply batch see the writes of earlier ones (overlay)', async () => {
  await withRange(async ({ apply, get, batches }) => {
    await apply([put('g1', 'disk'), put('g2', 'disk'), put('h', 'keep')]);
    const res = await apply([
      put('c', '1'),
      cas('c', '1', '2'),            // sees the put above, not yet on disk
      put('g3', 'overlay'),
      delRange('g', 'h'),            // deletes g1, g2 (disk) and g3 (overlay)
      cas('g1', null, 'again'),      // sees g1 deleted by the DeleteRange
      cas('g3', 'overlay', 'x'),     // g3 is gone: fails
      cas('c', '2', '3'),
    ]);
    assert.equal(batches.length, 2);
    const kinds = res.map((r) => (r.kind === 'cas' ? `cas:${r.succeeded}` : r.kind));
    assert.deepEqual(kinds, ['ok', 'cas:true', 'ok', 'ok', 'cas:true', 'cas:false', 'cas:true']);
    assert.equal(get('c'), '3');
    assert.equal(get('g1'), 'again');
    assert.equal(get('g2'), undefined);
    assert.equal(get('g3'), undefined);
    assert.equal(get('h'), 'keep', 'DeleteRange end is exclusive');
  });
});

test('DeleteRange is clipped to the range and an empty end means the range end', async () => {
  await withRange(async ({ apply, get }) => {
    await apply([put('b', '1'), put('m', '2'), put('o9', '3')]);
    await apply([{ type: KvCommandType.DeleteRange, epochVersion: V, startKey: b('c'), endKey: new Uint8Array(0) }]);
    assert.equal(get('b'), '1');
    assert.equal(get('m'), undefined);
    assert.equal(get('o9'), undefined);
  });
});

test('a key outside the span or a stale epoch is refused at apply and writes nothing; the applied index still moves', async () => {
  await withRange(async ({ engine, apply, get }) => {
    const res = await apply([
      put('a', 'outside'),
      { type: KvCommandType.Put, epochVersion: V - 1, key: b('c'), value: b('stale') },
      { type: KvCommandType.BatchPut, epochVersion: V, pairs: [{ key: b('c'), value: b('1') }, { key: b('z'), value: b('2') }] },
      put('d', 'fine'),
    ]);
    assert.equal(res[0]!.kind, 'key-not-in-range');
    assert.equal(res[1]!.kind, 'epoch-not-match');
    assert.equal(res[2]!.kind, 'key-not-in-range', 'a batch with one key outside writes none of its keys');
    assert.equal(res[3]!.kind, 'ok');
    assert.equal(get('c'), undefined);
    assert.equal(get('d'), 'fine');
    assert.equal(engine.range(1).applied.index, engine.range(1).lastIndex());
  });
});

test('empty entries and conf changes write no data; the membership is stored with the applied index', async () => {
  await withRange(async ({ engine, apply, batches }) => {
    const cs = { voters: [1, 2], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false };
    const res = await apply([
      { index: 0, term: 0, type: EntryType.Normal, data: new Uint8Array(0) },
      { index: 0, term: 0, type: EntryType.ConfChange, data: encodeConfChange({ transition: 0, changes: [{ type: 0, nodeId: 2 }], context: new Uint8Array(0) }), confState: cs },
    ]);
    assert.deepEqual(res, [{ kind: 'noop' }, { kind: 'noop' }]);
    assert.equal(batches.length, 1);
    assert.equal((batches[0]!.puts ?? []).length + (batches[0]!.deletes ?? []).length, 0);
    assert.deepEqual(engine.range(1).confState.voters, [1, 2]);
  });
});

test('an entry that is not a command fails the range apply with EntryApplyError naming it (no partial batch is written)', async () => {
  await withRange(async ({ engine, apply, batches }) => {
    const before = engine.range(1).applied.index;
    await assert.rejects(apply([put('c', '1'), { index: 0, term: 0, type: EntryType.Normal, data: new Uint8Array([9, 9]) }]),
      (e: unknown) => e instanceof EntryApplyError && e.rangeId === 1 && /kv command/.test(e.reason));
    assert.equal(batches.length, 0);
    assert.equal(engine.range(1).applied.index, before);
  });
});

test('applied state and data survive a reopen together', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'rangekv-kvsm-reopen-'));
  try {
    let engine = await StorageEngine.open(dir);
    await engine.createRange({ descriptor: DESC, confState: CS });
    const e = { index: 2, term: 1, type: EntryType.Normal, data: encodeKvCommand(put('c', 'v')) };
    await engine.persistReady(1, {
      seq: 1, softState: null, hardState: { term: 1, vote: 1, commit: 2 }, entries: [e], snapshot: null,
      committedEntries: [], messages: [], messagesAfterPersist: [], readStates: [], mustSync: true,
    });
    applyKvEntries(engine, 1, [e]);
    await engine.close();
    engine = await StorageEngine.open(dir);
    try {
      assert.deepEqual(engine.range(1).applied, { index: 2, term: 1 });
      assert.equal(str(engine.db.get(ColumnFamily.Default, Buffer.from('c'))), 'v');
    } finally {
      await engine.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
