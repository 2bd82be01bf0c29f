import assert from 'node:assert/strict';
import type { Ready } from '@rangekv/raft';
import { ColumnFamily } from './column-families.js';
import { StorageEngine } from './engine.js';
import { SnapshotError } from './errors.js';
import { MAX_INDEX_EXCLUSIVE, entryKey } from './keys.js';
import { decodeSnapshotChunk } from './snapshot-codec.js';
import { decodeSnapshotRef } from './snapshot-ref.js';
import { InjectedCrashError } from './snapshot-ingest.js';
import { confState, descriptor, entries, ready } from './testing/fixtures.js';
import { engineTest, type TestStore } from './testing/engines.js';

const b = (s: string): Buffer => Buffer.from(s);

/** A sender store with range 1 over [k, p) holding `n` keys, applied at index 20 term 2. */
async function sender(store: TestStore, n: number, valueBytes = 100): Promise<StorageEngine> {
  const e = await store.open({ limits: { maxSnapshotChunkBytes: 4096 } });
  await e.createRange({ descriptor: descriptor(1, 'k', 'p'), confState: confState([1, 2, 3]) });
  await e.persistReady(1, ready({ entries: entries(1, 2, 25, 2), hardState: { term: 2, vote: 1, commit: 25 } }));
  const puts: [Buffer, Buffer][] = [];
  for (let i = 0; i < n; i++) puts.push([b(`k${String(i).padStart(5, '0')}`), Buffer.alloc(valueBytes, i & 0xff)]);
  e.apply(1, { puts, applied: { index: 20, term: 2 } });
  // Keys of other spans must not travel.
  await e.createRange({ descriptor: descriptor(2, 'p', 'z'), confState: confState() });
  await e.persistReady(2, ready({ entries: entries(2, 2, 3, 1) }));
  e.apply(2, { puts: [[b('pear'), b('x')]], applied: { index: 2, term: 1 } });
  return e;
}

function spanRows(e: StorageEngine, start: string, end: string): string[] {
  return e.db.scan(ColumnFamily.Default, { gte: b(start), lt: b(end) }).map((kv) => `${kv.key.toString()}=${kv.value.length}:${kv.value[0]}`);
}

async function transfer(src: StorageEngine, dst: StorageEngine, rangeId: number): Promise<{ staged: Awaited<ReturnType<Awaited<ReturnType<StorageEngine['receiveSnapshot']>>['finish']>>; chunks: Uint8Array[] }> {
  const s = src.snapshotSource(rangeId);
  const rx = await dst.receiveSnapshot(s.headerBytes());
  const chunks: Uint8Array[] = [];
  for (let c = s.nextChunk(); c !== null; c = s.nextChunk()) {
    chunks.push(c);
    await rx.addChunk(c);
  }
  return { staged: await rx.finish(), chunks };
}

engineTest('snapshot round trip: the receiver ends with the sender\'s span, meta and a log reset to the snapshot', async (kind) => {
  const d1 = kind.newStore();
  const d2 = kind.newStore();
  const src = await sender(d1, 300);
  const dst = await d2.open();
  try {
    await dst.createRange({ rangeId: 1 });
    // Junk inside the span is cleared; keys outside it are untouched.
    await dst.createRange({ descriptor: descriptor(3, 'a', 'k'), confState: confState() });
    await dst.persistReady(3, ready({ entries: entries(3, 2, 2, 1) }));
    dst.apply(3, { puts: [[b('apple'), b('keep')]], applied: { index: 2, term: 1 } });
    dst.db.writeBatch((w) => w.put(ColumnFamily.Default, b('k99999-stale'), b('junk')), { sync: false });
    const { staged, chunks } = await transfer(src, dst, 1);
    assert.ok(chunks.length >= 7, `300 x ~106 bytes in 4 KiB chunks: ${chunks.length}`);
    for (const c of chunks) {
      const d = decodeSnapshotChunk(c);
      const bytes = d.pairs.reduce((n, [k, v]) => n + k.length + v.length, 0);
      assert.ok(bytes <= 4096, `chunk ${d.seq} holds ${bytes} bytes`);
    }
    assert.deepEqual(staged.meta, { index: 20, term: 2, confState: confState([1, 2, 3]) });
    await dst.ingestSnapshot(staged);
    assert.deepEqual(spanRows(dst, 'k', 'p'), spanRows(src, 'k', 'p'));
    assert.equal(dst.db.get(ColumnFamily.Default, b('apple'))?.toString(), 'keep');
    const s = dst.range(1);
    assert.deepEqual(s.applied, { index: 20, term: 2 });
    assert.deepEqual(s.truncated, { index: 20, term: 2 });
    assert.equal(s.firstIndex(), 21);
    assert.equal(s.lastIndex(), 20);
    assert.equal(s.term(20), 2);
    assert.deepEqual(s.hardState, { term: 2, vote: 0, commit: 20 });
    assert.equal(Buffer.from(s.descriptor!.startKey).toString(), 'k');
    assert.deepEqual(s.snapshot()?.meta, staged.meta);
    assert.deepEqual(await d2.stagingNames(), [], 'staging removed after ingest');
    await dst.close();
    const again = await d2.open();
    assert.deepEqual(again.range(1).applied, { index: 20, term: 2 });
    assert.deepEqual(spanRows(again, 'k', 'p'), spanRows(src, 'k', 'p'));
    await again.close();
  } finally {
    await src.close();
    await dst.close();
    d1.remove();
    d2.remove();
  }
});

engineTest('a snapshot is a consistent view: applies after the source was opened do not leak into it', async (kind) => {
  const d1 = kind.newStore();
  const src = await sender(d1, 50);
  try {
    const s = src.snapshotSource(1);
    src.apply(1, { puts: [[b('k00000'), b('new')], [b('kzzz'), b('new')]], applied: { index: 25, term: 2 } });
    const pairs: string[] = [];
    for (let c = s.nextChunk(); c !== null; c = s.nextChunk()) for (const [k, v] of decodeSnapshotChunk(c).pairs) pairs.push(`${Buffer.from(k).toString()}=${v.length}`);
    assert.equal(s.meta.index, 20);
    assert.equal(pairs.length, 50);
    assert.equal(pairs[0], 'k00000=100');
    assert.ok(!pairs.some((p) => p.startsWith('kzzz')));
    const later = src.snapshotSource(1);
    assert.equal(later.meta.index, 25, 'a later source sees the later applied state (raft is told that meta)');
    later.close();
  } finally {
    await src.close();
    d1.remove();
  }
});

engineTest('the receiver refuses corrupt, out-of-order, missing and extra chunks', async (kind) => {
  const d1 = kind.newStore();
  const d2 = kind.newStore();
  const src = await sender(d1, 100);
  const dst = await d2.open();
  try {
    await dst.createRange({ rangeId: 1 });
    const s = src.snapshotSource(1);
    const header = s.headerBytes();
    const chunks: Uint8Array[] = [];
    for (let c = s.nextChunk(); c !== null; c = s.nextChunk()) chunks.push(c);
    let rx = await dst.receiveSnapshot(header);
    const bad = Buffer.from(chunks[0]!);
    bad[10]! ^= 1;
    await assert.rejects(rx.addChunk(bad), /checksum mismatch/);
    await assert.rejects(rx.addChunk(chunks[1]!), /chunk 1 out of order \(expected 0\)/);
    await rx.addChunk(chunks[0]!);
    await assert.rejects(rx.finish(), /incomplete: 1 chunks and no last chunk/);
    await rx.abort();
    rx = await dst.receiveSnapshot(header);
    for (const c of chunks) await rx.addChunk(c);
    await assert.rejects(rx.addChunk(chunks[0]!), /after the last chunk/);
    await rx.abort();
    assert.deepEqual(await d2.stagingNames(), []);
    await assert.rejects(dst.receiveSnapshot(header.subarray(0, 5)), /snapshot header/);
  } finally {
    await src.close();
    await dst.close();
    d1.remove();
    d2.remove();
  }
});

engineTest('a snapshot whose span overlaps another range on the receiver is dropped (unseen split)', async (kind) => {
  const d1 = kind.newStore();
  const d2 = kind.newStore();
  const src = await sender(d1, 10);
  const dst = await d2.open();
  try {
    await dst.createRange({ rangeId: 1 });
    await dst.createRange({ descriptor: descriptor(9, 'm', 'n'), confState: confState() });
    const { staged } = await transfer(src, dst, 1);
    await assert.rejects(dst.ingestSnapshot(staged), (e: unknown) => e instanceof SnapshotError && /overlaps range 9/.test(e.message));
    assert.equal(dst.range(1).descriptor, null);
  } finally {
    await src.close();
    await dst.close();
    d1.remove();
    d2.remove();
  }
});

engineTest('a snapshot over the span of a destroyed range whose data is still being deleted waits for the deletion', async (kind) => {
  const d1 = kind.newStore();
  const d2 = kind.newStore();
  const src = await sender(d1, 10);
  // One key per background delete step: the deletion outlasts the ingest's reading of its staging.
  const dst = await d2.open({ limits: { deleteBatchKeys: 1 } });
  try {
    await dst.createRange({ rangeId: 1 });
    await dst.createRange({ descriptor: descriptor(9, 'm', 'n'), confState: confState() });
    await dst.persistReady(9, ready({ entries: entries(9, 2, 3, 1) }));
    dst.apply(9, { puts: Array.from({ length: 3_000 }, (_, i): [Buffer, Buffer] => [b(`m${i}`), b('old')]), applied: { index: 2, term: 1 } });
    const { staged } = await transfer(src, dst, 1);
    // Range 9 left this store (a removed replica); its keys are deleted in the background.
    const { whenDeleted } = await dst.destroyRange(9, { clearData: true });
    assert.deepEqual([...dst.clearingSpans().keys()], [9]);
    await assert.rejects(dst.ingestSnapshot(staged), (e: unknown) => e instanceof SnapshotError && /destroyed range 9, still being deleted/.test(e.message));
    await whenDeleted;
    assert.equal(dst.clearingSpans().size, 0);
    const again = await transfer(src, dst, 1);
    await dst.ingestSnapshot(again.staged);
    assert.deepEqual(spanRows(dst, 'a', 'z'), spanRows(src, 'k', 'p'), 'the new data is all there, the old is gone');
  } finally {
    await src.close();
    await dst.close();
    d1.remove();
    d2.remove();
  }
});

engineTest('a crash in the middle of an ingest is finished at the next open from the staged chunks', async (kind) => {
  const d1 = kind.newStore();
  const d2 = kind.newStore();
  const src = await sender(d1, 400);
  let dst = await d2.open();
  try {
    await dst.createRange({ rangeId: 1 });
    await dst.persistReady(1, ready({ entries: entries(1, 1, 30, 1), hardState: { term: 1, vote: 2, commit: 0 } }));
    dst.db.writeBatch((w) => w.put(ColumnFamily.Default, b('k00001-junk'), b('junk')), { sync: false });
    const { staged } = await transfer(src, dst, 1);
    await assert.rejects(dst.ingestSnapshot(staged, { failAfterChunks: 3 }), InjectedCrashError);
    await dst.close();
    // Half-applied: the marker is set, some data written, the meta still the old one.
    dst = await d2.open();
    assert.equal(dst.openReport.ingestsRecovered, 1);
    const s = dst.range(1);
    assert.deepEqual(s.applied, { index: 20, term: 2 });
    assert.equal(s.lastIndex(), 20);
    assert.deepEqual(s.hardState, { term: 2, vote: 0, commit: 20 });
    assert.deepEqual(spanRows(dst, 'k', 'p'), spanRows(src, 'k', 'p'));
    await dst.drainBackground();
    const log = dst.db.scan(ColumnFamily.Raft, { gte: entryKey(1, 0), lt: entryKey(1, MAX_INDEX_EXCLUSIVE) });
    assert.equal(log.length, 0, 'the old log is gone: stale entries after the snapshot in the final batch, the rest in the background');
    assert.deepEqual(await d2.stagingNames(), []);
    await dst.close();
    dst = await d2.open();
    assert.equal(dst.openReport.ingestsRecovered, 0, 'recovery is done once');
  } finally {
    await src.close();
    await dst.close();
    d1.remove();
    d2.remove();
  }
});

engineTest('persistReady installs a Ready\'s staged snapshot together with the entries after it', async (kind) => {
  const d1 = kind.newStore();
  const d2 = kind.newStore();
  const src = await sender(d1, 20);
  const dst = await d2.open();
  try {
    await dst.createRange({ rangeId: 1 });
    const { staged } = await transfer(src, dst, 1);
    assert.equal(decodeSnapshotRef(staged.data).stagingId, staged.stagingId);
    const rd: Ready = { ...ready({ entries: entries(1, 21, 24, 2), hardState: { term: 2, vote: 0, commit: 20 } }), snapshot: { meta: staged.meta, data: staged.data } };
    await dst.persistReady(1, rd);
    const s = dst.range(1);
    assert.equal(s.firstIndex(), 21);
    assert.equal(s.lastIndex(), 24);
    assert.deepEqual(s.entries(21, 25, Infinity).map((e) => e.index), [21, 22, 23, 24]);
    await assert.rejects(dst.persistReady(1, { ...ready({}), snapshot: { meta: staged.meta, data: src.range(1).snapshot()!.data } }),
      /does not name a staged snapshot/);
  } finally {
    await src.close();
    await dst.close();
    d1.remove();
    d2.remove();
  }
});

engineTest('a snapshot carries the range\'s merge freeze and merge outcomes; the receiver keeps them across a reopen', async (kind) => {
  const d1 = kind.newStore();
  const d2 = kind.newStore();
  const src = await sender(d1, 10);
  const dst = await d2.open();
  try {
    const freeze = { mergeId: 5, leftRangeId: 9, leftConfVer: 1, leftVersion: 3, index: 21, term: 2 };
    const outcomes = [{ mergeId: 3, state: 'committed' as const }, { mergeId: 4, state: 'aborted' as const }, { mergeId: 6, state: 'pending' as const }];
    src.apply(1, { applied: { index: 21, term: 2 }, mergeFreeze: freeze, mergeOutcomes: outcomes });
    await dst.createRange({ rangeId: 1 });
    const { staged } = await transfer(src, dst, 1);
    await dst.ingestSnapshot(staged);
    assert.deepEqual(dst.range(1).mergeFreeze, freeze);
    assert.deepEqual(dst.range(1).mergeOutcomes, outcomes);
    await dst.close();
    const again = await d2.open();
    assert.deepEqual(again.range(1).mergeFreeze, freeze);
    assert.deepEqual(again.range(1).mergeOutcomes, outcomes);
    // A later snapshot of the unfrozen range lifts the freeze here too.
    src.apply(1, { applied: { index: 22, term: 2 }, mergeFreeze: null });
    const { staged: s2 } = await transfer(src, again, 1);
    await again.ingestSnapshot(s2);
    assert.equal(again.range(1).mergeFreeze, null);
    await again.close();
  } finally {
    await src.close();
    await dst.close();
    d1.remove();
    d2.remove();
  }
});
