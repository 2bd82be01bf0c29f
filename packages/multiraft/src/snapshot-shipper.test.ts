// The receiving side of SnapshotShipper with real engines and a real scheduler (no
// transport): a snapshot built by another engine's SnapshotSource is staged, stepped into
// an uninitialized replica created for it, and ingested by the scheduler; bad or
// conflicting input is refused with a typed error, nothing is created, staging is removed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MessageType, Prng, RawNode, type ConfState, type Message } from '@rangekv/raft';
import { ReplicaRole, type RangeDescriptor } from '@rangekv/proto';
import { ColumnFamily, StorageEngine, type RangeLogStore } from '@rangekv/storage';
import { SnapshotStreamError, type SnapshotStartFrame } from '@rangekv/transport';
import { silentLogger } from '@rangekv/runtime';
import { RaftScheduler } from './raft-scheduler.js';
import { SnapshotShipper } from './snapshot-shipper.js';
import { resolveUninitializedLimits, UninitializedReplicas } from './uninitialized-replicas.js';

const enc = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s));
const cs: ConfState = { voters: [1, 2], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false };

function desc(rangeId: number, start: string, end: string): RangeDescriptor {
  return {
    rangeId, startKey: enc(start), endKey: enc(end), epoch: { confVer: 1, version: 1 },
    replicas: [{ storeId: 1, replicaId: 1, role: ReplicaRole.Voter }, { storeId: 2, replicaId: 2, role: ReplicaRole.Voter }],
  };
}

interface Built {
  header: Uint8Array;
  chunks: Uint8Array[];
  meta: { index: number; term: number; confState: ConfState };
}

/** A snapshot of range `rangeId` (span [start, end), applied 10/2) built by another engine. */
async function build(root: string, d: RangeDescriptor, keys: string[]): Promise<Built> {
  const e = await StorageEngine.open(join(root, `src-${d.rangeId}-${Math.random()}`), { limits: { maxSnapshotChunkBytes: 32 } });
  try {
    await e.createRange({ descriptor: d, confState: cs, index: 10, term: 2 });
    e.db.writeBatch((b) => {
      for (const k of keys) b.put(ColumnFamily.Default, Buffer.from(k), Buffer.from(`value of ${k}`));
    }, { sync: false });
    const src = e.snapshotSource(d.rangeId);
    const chunks: Uint8Array[] = [];
    for (let c = src.nextChunk(); c !== null; c = src.nextChunk()) chunks.push(c);
    return { header: src.headerBytes(), chunks, meta: src.meta };
  } finally {
    await e.close();
  }
}

function start(rangeId: number, b: Built, over: Partial<Message> = {}): SnapshotStartFrame {
  const message: Message = {
    type: MessageType.Snap, from: 1, to: 2, term: 2, logTerm: 0, index: 0, entries: [], commit: 0, reject: false,
    rejectHint: 0, transfer: false, snapshot: { meta: b.meta, data: new Uint8Array(0) }, context: null, ...over,
  };
  return { fromStore: 1, toStore: 2, rangeId, message, header: b.header };
}

async function withReceiver(
  f: (x: { root: string; engine: StorageEngine; shipper: SnapshotShipper<unknown>; scheduler: RaftScheduler<unknown>; subsumed: [number, number][] }) => Promise<void>,
): Promise<void> {
  const root = await mkdtemp(join(tmpdir(), 'rangekv-shipper-'));
  const engine = await StorageEngine.open(join(root, 'rx'));
  const fatal: unknown[] = [];
  const scheduler = new RaftScheduler<unknown>(engine, {
    send: () => {}, flush: () => {}, applyEntries: (_r, es) => es.map(() => undefined), onFatal: (e) => fatal.push(e),
  });
  const makeNode = (id: number, log: RangeLogStore): RawNode =>
    new RawNode({ id, storage: log, prng: new Prng(1), electionTimeoutTicks: 10, heartbeatIntervalTicks: 2, applied: log.applied.index });
  const uninit = new UninitializedReplicas<unknown>({ engine, scheduler, makeNode, limits: resolveUninitializedLimits({ maxUninitializedReplicas: 4, maxUninitializedReplicasPerPeer: 4 }), log: silentLogger });
  const subsumed: [number, number][] = [];
  const shipper = new SnapshotShipper<unknown>({
    storeId: 2, engine, scheduler, uninit, log: silentLogger, isStopping: () => false, onSubsumed: (id, by) => subsumed.push([id, by]),
    transport: () => { throw new Error('no transport in this test'); },
  });
  try {
    // Range 1 on this store covers ["", "m").
    await engine.createRange({ descriptor: desc(1, '', 'm'), confState: cs });
    await f({ root, engine, shipper, scheduler, subsumed });
    assert.deepEqual(fatal, []);
  } finally {
    await scheduler.stop();
    await engine.close();
    await rm(root, { recursive: true, force: true });
  }
}

async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (e) {
    assert.ok(e instanceof SnapshotStreamError, String(e));
    return e.code;
  }
}

async function waitFor(cond: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

test('a snapshot for a new range creates an uninitialized replica, is staged, stepped and ingested', async () => {
  await withReceiver(async ({ root, engine, shipper, scheduler }) => {
    const keys = Array.from({ length: 12 }, (_, i) => `n${String(i).padStart(2, '0')}`);
    const b = await build(root, desc(5, 'm', ''), keys);
    assert.ok(b.chunks.length > 3, 'several chunks');
    const sink = await shipper.receive(start(5, b));
    assert.equal(scheduler.get(5)?.node.id, 2, 'replica created with id = msg.to');
    for (const c of b.chunks) await sink.addChunk(c);
    await sink.finish();
    await waitFor(() => engine.range(5).applied.index === 10, 'snapshot ingested');
    assert.deepEqual(engine.range(5).descriptor, desc(5, 'm', ''));
    const got = engine.db.getMany(ColumnFamily.Default, keys.map((k) => Buffer.from(k)));
    assert.deepEqual(got.map((v) => v?.toString()), keys.map((k) => `value of ${k}`));
    assert.equal(shipper.counters.snapshotsReceived, 1);
    await waitFor(() => scheduler.get(5)!.node.status().applied === 10, 'raft applied it');
    shipper.sweepStaged();
    assert.equal(shipper.stagedCount, 0);
    assert.deepEqual(await readdir(join(engine.dir, 'snapshots')), []);
    // The same snapshot again is not newer: refused before anything is staged.
    assert.equal(await code(shipper.receive(start(5, b))), 'refused');
  });
});

test('bad, inconsistent, misaddressed and overlapping snapshots are refused; nothing is created or left staged', async () => {
  await withReceiver(async ({ root, engine, shipper, scheduler }) => {
    const wide = await build(root, desc(6, 'a', 'z'), ['b']);
    assert.equal(await code(shipper.receive(start(6, wide))), 'refused', 'overlaps range 1 ["", "m")');
    assert.equal(engine.hasRange(6), false);
    const b = await build(root, desc(7, 'm', ''), ['n1', 'n2', 'n3', 'n4', 'n5', 'n6']);
    assert.ok(b.chunks.length > 1);
    assert.equal(await code(shipper.receive({ ...start(7, b), header: new Uint8Array([1, 2, 3]) })), 'invalid', 'garbage header');
    const wrongMeta = start(7, b);
    wrongMeta.message.snapshot = { meta: { ...b.meta, index: 11 }, data: new Uint8Array(0) };
    assert.equal(await code(shipper.receive(wrongMeta)), 'invalid', 'message and header disagree');
    assert.equal(await code(shipper.receive(start(8, b))), 'invalid', 'header of another range');
    assert.equal(engine.hasRange(7), false);
    // A replica exists (created by this snapshot); another one addressed to replica 3 is refused.
    const sink = await shipper.receive(start(7, b));
    assert.equal(await code(shipper.receive(start(7, b))), 'refused', 'one snapshot per range at a time');
    // A corrupt chunk: refused as invalid, and the abort removes the staging dir.
    const bad = Uint8Array.from(b.chunks[0]!);
    bad[bad.length - 1]! ^= 0xff;
    assert.equal(await code(sink.addChunk(bad)), 'invalid');
    await sink.abort('test');
    assert.deepEqual(await readdir(join(engine.dir, 'snapshots')), []);
    assert.equal(await code(shipper.receive(start(7, b, { to: 3 }))), 'refused', 'not our replica id');
    assert.equal(await code(shipper.receive({ ...start(7, b, { from: 1 }), fromStore: 9 })), 'refused', 'sender on the wrong store');
    // An incomplete snapshot (no last chunk) is refused at finish.
    const partial = await shipper.receive(start(7, b));
    await partial.addChunk(b.chunks[0]!);
    assert.equal(await code(partial.finish()), 'invalid');
    await partial.abort('test');
    assert.deepEqual(await readdir(join(engine.dir, 'snapshots')), []);
    assert.equal(scheduler.get(7)!.log.descriptor, null, 'still uninitialized');
    assert.ok(shipper.counters.snapshotReceivesFailed >= 7);
  });
});

test('a call failing while finish() runs (the sender killed after its last chunk) leaves the staging to finish: raft ingests it', async () => {
  await withReceiver(async ({ root, engine, shipper }) => {
    const keys = ['n1', 'n2', 'n3'];
    const b = await build(root, desc(6, 'm', ''), keys);
    const sink = await shipper.receive(start(6, b));
    for (const c of b.chunks) await sink.addChunk(c);
    const finished = sink.finish();
    await sink.abort('the sender went away');
    await finished;
    await waitFor(() => engine.range(6).applied.index === 10, 'snapshot ingested');
    const got = engine.db.getMany(ColumnFamily.Default, keys.map((k) => Buffer.from(k)));
    assert.deepEqual(got.map((v) => v?.toString()), keys.map((k) => `value of ${k}`));
  });
});

test('a snapshot of a newer version holding the start key of a range here (merged into it) asks for that replica to go, and is refused until it went', async () => {
  await withReceiver(async ({ root, engine, shipper, subsumed }) => {
    // Range 3 ["m", "t") is here at version 1; range 9 covering ["m", "z") at version 1 only
    // overlaps it (a split or merge not seen here); at version 2 it covers it: a merge.
    await engine.createRange({ descriptor: desc(3, 'm', 't'), confState: cs });
    const sameVersion = await build(root, desc(9, 'm', 'z'), ['n']);
    assert.equal(await code(shipper.receive(start(9, sameVersion))), 'refused');
    assert.deepEqual(subsumed, []);
    const partial = await build(root, { ...desc(9, 'n', 'z'), epoch: { confVer: 1, version: 2 } }, ['o']);
    assert.equal(await code(shipper.receive(start(9, partial))), 'refused', 'overlapping without covering is not a merge');
    assert.deepEqual(subsumed, []);
    const merged = await build(root, { ...desc(9, 'm', 'z'), epoch: { confVer: 1, version: 2 } }, ['n']);
    assert.equal(await code(shipper.receive(start(9, merged))), 'refused');
    assert.deepEqual(subsumed, [[3, 9]]);
    assert.equal(engine.hasRange(9), false, 'nothing created before the covered replica is gone');
  });
});

test('a snapshot of a newer version holding only the start of a range here (it split, then merged) asks for that replica to go too', async () => {
  await withReceiver(async ({ root, engine, shipper, subsumed }) => {
    // Range 3 ["m", "t") is here at version 1. It split at "p" after this store last heard
    // of it and then merged away: range 9 holds ["m", "p") at a newer version, range 3's
    // start key without its old span (the receiver's range 1 ends at "m").
    await engine.createRange({ descriptor: desc(3, 'm', 't'), confState: cs });
    const splitThenMerged = await build(root, { ...desc(9, 'm', 'p'), epoch: { confVer: 1, version: 3 } }, ['n']);
    assert.equal(await code(shipper.receive(start(9, splitThenMerged))), 'refused');
    assert.deepEqual(subsumed, [[3, 9]]);
  });
});
