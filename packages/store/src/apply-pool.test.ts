import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EntryType, encodeConfChange, type ConfState, type Entry } from '@rangekv/raft';
import { ReplicaRole, type RangeDescriptor } from '@rangekv/proto';
import { ColumnFamily, StorageEngine } from '@rangekv/storage';
import { ApplyPoolClosedError, PoolKvApplier, type ApplyPoolLimits } from './apply-pool.js';
import { encodeKvCommand, KvCommandType, type KvCommand } from './kv-command.js';
import { InlineKvApplier, type KvApplier } from './kv-applier.js';
import type { KvResult } from './kv-state-machine.js';
import type { ApplyEntry } from '@rangekv/multiraft';

const b = (s: string): Uint8Array => new TextEncoder().encode(s);
const V = 3;
const CS: ConfState = { voters: [1], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false };

/** Range r covers [`r<r>/`, `r<r>0`): keys 'r<r>/<name>'. */
function desc(r: number, confVer = 1): RangeDescriptor {
  return {
    rangeId: r, startKey: b(`r${r}/`), endKey: b(`r${r}0`), epoch: { confVer, version: V },
    replicas: [{ storeId: 1, replicaId: 1, role: ReplicaRole.Voter }],
  };
}
const k = (r: number, name: string): Uint8Array => b(`r${r}/${name}`);
const put = (r: number, name: string, v: string): KvCommand => ({ type: KvCommandType.Put, epochVersion: V, key: k(r, name), value: b(v) });
const cas = (r: number, name: string, expect: string | null, next: string | null): KvCommand => ({
  type: KvCommandType.CompareAndSwap, epochVersion: V, key: k(r, name), expectExists: expect !== null,
  expectedValue: b(expect ?? ''), newValue: b(next ?? ''), delete: next === null,
});

/** An engine in a temp dir with `ranges` ranges; `log` appends entries durably, `applier` applies them. */
async function withStore(ranges: number, f: (s: {
  dir: string;
  engine: StorageEngine;
  log: (r: number, items: (KvCommand | Omit<ApplyEntry, 'index' | 'term'>)[]) => Promise<ApplyEntry[]>;
}) => Promise<void>, dir?: string): Promise<void> {
  const d = dir ?? (await mkdtemp(join(tmpdir(), 'rangekv-apply-pool-')));
  const engine = await StorageEngine.open(d);
  try {
    for (let r = 1; r <= ranges; r++) if (!engine.rangeIds().includes(r)) await engine.createRange({ descriptor: desc(r), confState: CS });
    const log = async (r: number, items: (KvCommand | Omit<ApplyEntry, 'index' | 'term'>)[]): Promise<ApplyEntry[]> => {
      let index = engine.range(r).lastIndex();
      const entries: ApplyEntry[] = items.map((it) => {
        index++;
        if ('data' in it && !('epochVersion' in it)) return { ...it, index, term: 1 };
        return { index, term: 1, type: EntryType.Normal, data: encodeKvCommand(it as KvCommand) };
      });
      const es: Entry[] = entries.map((e) => ({ index: e.index, term: e.term, type: e.type, data: e.data }));
      await engine.persistReady(r, {
        seq: index, softState: null, hardState: { term: 1, vote: 1, commit: index }, entries: es, snapshot: null,
        committedEntries: [], messages: [], messagesAfterPersist: [], readStates: [], mustSync: true,
      });
      return entries;
    };
    await f({ dir: d, engine, log });
  } finally {
    await engine.close();
    if (dir === undefined) await rm(d, { recursive: true, force: true });
  }
}

/** Every row of the DB (all column families except the raft log), hex, for comparing two stores. */
function dump(engine: StorageEngine): string[] {
  const out: string[] = [];
  for (const cf of [ColumnFamily.Default, ColumnFamily.Meta]) {
    for (const kv of engine.db.scan(cf, { gte: Buffer.alloc(0) })) {
      const key = kv.key.toString('latin1');
      if (cf === ColumnFamily.Meta && key === '!format') continue;
      out.push(`${cf}:${kv.key.toString('hex')}=${kv.value.toString('hex')}`);
    }
  }
  return out;
}

/** Results with byte arrays as hex (a clone from a worker is a Uint8Array, not a Buffer). */
function plain(rs: readonly KvResult[]): unknown[] {
  const hex = (u: Uint8Array | null): string | null => (u === null ? null : Buffer.from(u).toString('hex'));
  return rs.map((r) => {
    switch (r.kind) {
      case 'cas': return { ...r, previousValue: hex(r.previousValue) };
      case 'key-not-in-range': return { kind: r.kind, key: hex(r.key), rangeId: r.descriptor.rangeId };
      case 'epoch-not-match': return { kind: r.kind, rangeId: r.descriptor.rangeId };
      default: return r;
    }
  });
}

/** A pool; every flush goes to the workers unless `limits.inlineApplyMaxEntries` says otherwise. */
async function withPool(engine: StorageEngine, limits: Partial<ApplyPoolLimits>, f: (p: PoolKvApplier) => Promise<void>): Promise<void> {
  const p = await PoolKvApplier.start(engine, { inlineApplyMaxEntries: 0, ...limits });
  try {
    await f(p);
  } finally {
    await p.close();
  }
}

/** A workload touching every command kind, refusals, empty entries and a conf change. */
function workload(r: number): (KvCommand | Omit<ApplyEntry, 'index' | 'term'>)[][] {
  const cs2: ConfState = { voters: [1, 2], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false };
  return [
    [put(r, 'a', '1'), put(r, 'b', '2'), put(r, 'g1', 'x'), put(r, 'g2', 'y')],
    [
      { type: EntryType.Normal, data: new Uint8Array(0) },
      cas(r, 'a', '1', '1b'), cas(r, 'a', '1', 'never'), cas(r, 'c', null, 'new'),
      { type: KvCommandType.BatchPut, epochVersion: V, pairs: [{ key: k(r, 'd'), value: b('4') }, { key: k(r, 'g3'), value: b('z') }] },
      { type: KvCommandType.DeleteRange, epochVersion: V, startKey: k(r, 'g'), endKey: k(r, 'h') },
      cas(r, 'g3', 'z', 'back'), cas(r, 'g1', null, 'again'),
      { type: KvCommandType.Delete, epochVersion: V, key: k(r, 'b') },
      put(r + 1, 'outside', 'no'),
      { type: KvCommandType.Put, epochVersion: V - 1, key: k(r, 'stale'), value: b('no') },
    ],
    [
      { type: EntryType.ConfChange, data: encodeConfChange({ transition: 0, changes: [{ type: 0, nodeId: 2 }], context: new Uint8Array(0) }), confState: cs2 },
      cas(r, 'c', 'new', null),
    ],
  ];
}

async function runWorkload(applier: KvApplier, log: (r: number, items: (KvCommand | Omit<ApplyEntry, 'index' | 'term'>)[]) => Promise<ApplyEntry[]>, r: number): Promise<unknown[]> {
  const all: unknown[] = [];
  const steps = workload(r);
  for (let i = 0; i < steps.length; i++) {
    const entries = await log(r, steps[i]!);
    const extra = i === steps.length - 1 ? { descriptor: desc(r, 2) } : {};
    const cur = i === 0 ? desc(r) : desc(r);
    all.push(...plain(await applier.apply(r, cur, entries, extra)));
  }
  return all;
}

test('the pool and the inline applier give the same results and leave the same DB contents and in-memory state', async () => {
  let inlineResults: unknown[] = [];
  let inlineDump: string[] = [];
  let inlineState: unknown;
  await withStore(2, async ({ engine, log }) => {
    const a = new InlineKvApplier(engine);
    inlineResults = [...(await runWorkload(a, log, 1)), ...(await runWorkload(a, log, 2))];
    inlineDump = dump(engine);
    inlineState = [1, 2].map((r) => ({ applied: engine.range(r).applied, conf: engine.range(r).confState, desc: engine.range(r).descriptor }));
  });
  // Every flush to the workers, then every flush on the main thread (inlineApplyMaxEntries).
  for (const inlineApplyMaxEntries of [0, 1000]) {
    await withStore(2, async ({ engine, log }) => {
      await withPool(engine, { threads: 2, inlineApplyMaxEntries }, async (p) => {
        const [r1, r2] = await Promise.all([runWorkload(p, log, 1), runWorkload(p, log, 2)]);
        assert.deepEqual([...r1, ...r2], inlineResults);
        assert.deepEqual(dump(engine), inlineDump);
        const st = [1, 2].map((r) => ({ applied: engine.range(r).applied, conf: engine.range(r).confState, desc: engine.range(r).descriptor }));
        assert.deepEqual(JSON.stringify(st), JSON.stringify(inlineState));
        const ps = p.stats();
        if (inlineApplyMaxEntries === 0) {
          assert.equal(ps.entries, inlineResults.length);
          assert.equal(ps.inlineFlushes, 0);
        } else {
          assert.equal(ps.inlineEntries, inlineResults.length);
          assert.equal(ps.tasks, 0, 'no task went to a worker');
        }
      });
    });
  }
  const kinds = inlineResults.map((r) => (r as { kind: string }).kind);
  assert.deepEqual(kinds.slice(0, 15), ['ok', 'ok', 'ok', 'ok', 'noop', 'cas', 'cas', 'cas', 'ok', 'ok', 'cas', 'cas', 'ok', 'key-not-in-range', 'epoch-not-match']);
});

test('a call longer than maxApplyTaskEntries is cut into tasks that run in log order (later tasks read earlier writes)', async () => {
  await withStore(1, async ({ engine, log }) => {
    await withPool(engine, { threads: 2, maxApplyTaskEntries: 3 }, async (p) => {
      const chain: KvCommand[] = [cas(1, 'n', null, '0')];
      for (let i = 0; i < 9; i++) chain.push(cas(1, 'n', String(i), String(i + 1)));
      const entries = await log(1, chain);
      const res = await p.apply(1, desc(1), entries);
      assert.deepEqual(res.map((r) => r.kind === 'cas' && r.succeeded), Array(10).fill(true));
      assert.equal(p.stats().tasks, 4, '10 entries in tasks of at most 3');
      assert.equal(engine.db.get(ColumnFamily.Default, Buffer.from(k(1, 'n')))?.toString(), '9');
      assert.deepEqual(engine.range(1).applied, { index: entries[9]!.index, term: 1 });
    });
  });
});

test('maxApplyTaskBytes cuts tasks by data size, one entry at least', async () => {
  await withStore(1, async ({ engine, log }) => {
    await withPool(engine, { threads: 1, maxApplyTaskBytes: 64 }, async (p) => {
      const entries = await log(1, [put(1, 'big', 'v'.repeat(200)), put(1, 'a', '1'), put(1, 'b', '2'), put(1, 'c', '3')]);
      await p.apply(1, desc(1), entries);
      assert.equal(p.stats().tasks, 2, 'the 200-byte entry alone, then the three small ones together');
    });
  });
});

test('chunks of many ranges queued together share tasks; each range gets its own results and applied state', async () => {
  await withStore(40, async ({ engine, log }) => {
    await withPool(engine, { threads: 1, maxApplyTaskEntries: 16 }, async (p) => {
      const ids = Array.from({ length: 40 }, (_, i) => i + 1);
      const logs = await Promise.all(ids.map((r) => log(r, [cas(r, 'x', null, `v${r}`)])));
      const res = await Promise.all(ids.map((r, i) => p.apply(r, desc(r), logs[i]!)));
      for (const r of ids) {
        assert.deepEqual(plain(res[r - 1]!), [{ kind: 'cas', succeeded: true, previousExists: false, previousValue: null }]);
        assert.equal(engine.db.get(ColumnFamily.Default, Buffer.from(k(r, 'x')))?.toString(), `v${r}`);
        assert.equal(engine.range(r).applied.index, logs[r - 1]![0]!.index);
      }
      const st = p.stats();
      assert.equal(st.entries, 40);
      assert.ok(st.tasks >= 3 && st.tasks < 40, `40 one-entry chunks in tasks of at most 16 entries: ${st.tasks} tasks`);
    });
  });
});

test('a second apply of the same range while one is outstanding is refused (one apply at a time per range)', async () => {
  await withStore(1, async ({ engine, log }) => {
    await withPool(engine, { threads: 1 }, async (p) => {
      const e1 = await log(1, [put(1, 'a', '1')]);
      const first = p.apply(1, desc(1), e1);
      await assert.rejects(p.apply(1, desc(1), e1), /one at a time per range/);
      await first;
      await assert.rejects(p.apply(1, desc(1), e1), /applied index must grow/, 'entries already applied are refused');
    });
  });
});

test('maxApplyTasksInFlight bounds the tasks in flight across ranges; every range still applies in order', async () => {
  await withStore(8, async ({ engine, log }) => {
    await withPool(engine, { threads: 2, maxApplyTasksInFlight: 2, maxApplyTaskEntries: 2 }, async (p) => {
      const logs = await Promise.all([1, 2, 3, 4, 5, 6, 7, 8].map((r) => log(r, [cas(r, 'x', null, '1'), cas(r, 'x', '1', '2'), cas(r, 'x', '2', '3'), cas(r, 'x', '3', '4')])));
      const res = await Promise.all(logs.map((es, i) => p.apply(i + 1, desc(i + 1), es)));
      for (const rs of res) assert.deepEqual(rs.map((r) => r.kind === 'cas' && r.succeeded), [true, true, true, true]);
      const st = p.stats();
      assert.equal(st.tasks, 16);
      assert.ok(st.maxInFlight <= 2, `at most 2 tasks in flight, saw ${st.maxInFlight}`);
      assert.ok(st.slotWaits > 0, 'some tasks waited for a slot');
      assert.equal(p.tasksInFlight, 0);
    });
  });
});

test('a flush of at most inlineApplyMaxEntries entries runs on the main thread; a bigger one goes to the workers', async () => {
  await withStore(3, async ({ engine, log }) => {
    await withPool(engine, { threads: 1, inlineApplyMaxEntries: 4 }, async (p) => {
      const small = await Promise.all([1, 2].map((r) => log(r, [put(r, 'a', '1'), put(r, 'b', '2')])));
      await Promise.all([1, 2].map((r, i) => p.apply(r, desc(r), small[i]!)));
      assert.deepEqual({ inline: p.stats().inlineEntries, tasks: p.stats().tasks }, { inline: 4, tasks: 0 });
      const big = await log(3, [put(3, 'a', '1'), put(3, 'b', '2'), put(3, 'c', '3'), put(3, 'd', '4'), put(3, 'e', '5')]);
      await p.apply(3, desc(3), big);
      assert.deepEqual({ inline: p.stats().inlineEntries, tasks: p.stats().tasks, entries: p.stats().entries }, { inline: 4, tasks: 1, entries: 5 });
      for (const r of [1, 2, 3]) assert.equal(engine.db.get(ColumnFamily.Default, Buffer.from(k(r, 'a')))?.toString(), '1');
      assert.equal(engine.range(3).applied.index, big[4]!.index);
    });
  });
});

for (const inlineApplyMaxEntries of [0, 1000]) {
  test(`an undecodable entry rejects its apply and writes nothing; the pool keeps working (inlineApplyMaxEntries ${inlineApplyMaxEntries})`, async () => {
    await withStore(1, async ({ engine, log }) => {
      await withPool(engine, { threads: 1, inlineApplyMaxEntries }, async (p) => {
        const bad = await log(1, [put(1, 'a', '1'), { type: EntryType.Normal, data: new Uint8Array([9, 9]) }]);
        const before = engine.range(1).applied;
        await assert.rejects(p.apply(1, desc(1), bad), /kv command/i);
        assert.deepEqual(engine.range(1).applied, before);
        assert.equal(engine.db.get(ColumnFamily.Default, Buffer.from(k(1, 'a'))), undefined);
        // The log's entries are still there; applying the good prefix works.
        await p.apply(1, desc(1), bad.slice(0, 1));
        assert.equal(engine.db.get(ColumnFamily.Default, Buffer.from(k(1, 'a')))?.toString(), '1');
      });
    });
  });
}

test('the inline applier writes the applies started in one synchronous run as one RocksDB write; a bad part fails alone; maxWriteBytes cuts writes', async () => {
  await withStore(6, async ({ engine, log }) => {
    const a = new InlineKvApplier(engine);
    const logs = await Promise.all([1, 2, 3].map((r) => log(r, [cas(r, 'x', null, `v${r}`), cas(r, 'x', `v${r}`, `w${r}`)])));
    // Started together (as the scheduler's cycle does): one write for the three ranges.
    const res = await Promise.all([1, 2, 3].map((r, i) => a.apply(r, desc(r), logs[i]!)));
    for (const r of [1, 2, 3]) {
      assert.deepEqual(res[r - 1]!.map((x) => x.kind === 'cas' && x.succeeded), [true, true], 'the second CAS reads the first one of its batch');
      assert.equal(engine.db.get(ColumnFamily.Default, Buffer.from(k(r, 'x')))?.toString(), `w${r}`);
      assert.equal(engine.range(r).applied.index, logs[r - 1]![1]!.index);
    }
    assert.deepEqual(a.stats(), { writes: 1, parts: 3, entries: 6 });
    // One range's undecodable entry rejects that range's apply only; the others are written.
    const good = await log(4, [put(4, 'a', '1')]);
    const bad = await log(5, [put(5, 'a', '1'), { type: EntryType.Normal, data: new Uint8Array([9, 9]) }]);
    const before5 = engine.range(5).applied;
    const [g, b5] = await Promise.allSettled([a.apply(4, desc(4), good), a.apply(5, desc(5), bad)]);
    assert.equal(g.status, 'fulfilled');
    assert.equal(b5.status, 'rejected');
    assert.match(String((b5 as PromiseRejectedResult).reason), /kv command/i);
    assert.equal(engine.db.get(ColumnFamily.Default, Buffer.from(k(4, 'a')))?.toString(), '1');
    assert.equal(engine.db.get(ColumnFamily.Default, Buffer.from(k(5, 'a'))), undefined);
    assert.deepEqual(engine.range(5).applied, before5);
    // Parts bigger together than maxWriteBytes (64 here) go in separate writes; one part is never cut.
    const big = (r: number): KvCommand => put(r, 'big', 'x'.repeat(50));
    const l6 = await log(6, [big(6)]);
    const l4 = await log(4, [big(4)]);
    const small = new InlineKvApplier(engine, 64);
    await Promise.all([small.apply(6, desc(6), l6), small.apply(4, desc(4), l4)]);
    assert.deepEqual(small.stats(), { writes: 2, parts: 2, entries: 2 });
    assert.equal(engine.db.get(ColumnFamily.Default, Buffer.from(k(6, 'big')))?.toString(), 'x'.repeat(50));
    // Checks run at the call: a gap in the log is refused before anything is queued.
    const gap = await log(6, [put(6, 'b', '1'), put(6, 'c', '1')]);
    await assert.rejects(a.apply(6, desc(6), gap.slice(1)), /apply starts at/);
  });
});

test('start and stop the pool several times in one process, stopping while applies are in flight; data survives a reopen', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'rangekv-apply-pool-restart-'));
  try {
    let expectApplied = -1;
    for (let round = 0; round < 3; round++) {
      await withStore(4, async ({ engine, log }) => {
        if (expectApplied >= 0) assert.equal(engine.range(1).applied.index, expectApplied, 'the applied index of the last round survived the reopen');
        const p = await PoolKvApplier.start(engine, { threads: 2, maxApplyTaskEntries: 4 });
        const logs = await Promise.all([1, 2, 3, 4].map((r) => log(r, Array.from({ length: 20 }, (_, i) => put(r, `k${round}-${i}`, `v${i}`)))));
        const applies = logs.map((es, i) => p.apply(i + 1, desc(i + 1), es));
        const closed = p.close();                                  // while every range's apply is in flight
        await assert.rejects(p.apply(1, desc(1), logs[0]!), ApplyPoolClosedError);
        const res = await Promise.all(applies);
        await closed;
        for (const rs of res) assert.equal(rs.length, 20);
        expectApplied = logs[0]![19]!.index;
        assert.equal(engine.range(1).applied.index, expectApplied);
        await p.close(); // idempotent
      }, dir);
    }
    await withStore(4, async ({ engine }) => {
      for (let r = 1; r <= 4; r++) {
        assert.equal(engine.db.get(ColumnFamily.Default, Buffer.from(k(r, 'k2-19')))?.toString(), 'v19');
        assert.equal(engine.range(r).applied.index, expectApplied);
      }
    }, dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
