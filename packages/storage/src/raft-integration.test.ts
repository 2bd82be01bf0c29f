// RawNodes from @rangekv/raft running on RangeLogStores: the storage contract end to end,
// including a snapshot sent the documented way (the sender builds the data and tells raft
// the meta it captured; the receiver stages it and persistReady ingests it).
import assert from 'node:assert/strict';
import {
  ConfChangeTransition, ConfChangeType, EntryType, MessageType, Prng, RawNode, StateRole, decodeConfChange,
  type Entry, type Message,
} from '@rangekv/raft';
import type { ApplyBatch } from './apply-writes.js';
import { ColumnFamily } from './column-families.js';
import { encodeHardState } from './encoding.js';
import { StorageEngine } from './engine.js';
import { hardStateKey } from './keys.js';
import { confState, descriptor } from './testing/fixtures.js';
import { engineTest } from './testing/engines.js';

const RANGE = 1;

interface Peer {
  id: number;
  engine: StorageEngine;
  node: RawNode;
}

function newNode(id: number, engine: StorageEngine): RawNode {
  const storage = engine.range(RANGE);
  return new RawNode({ id, storage, prng: new Prng(id), electionTimeoutTicks: 10, heartbeatIntervalTicks: 1, applied: storage.applied.index });
}

/** Applies committed entries: data "key=value" puts; conf changes update the configuration. */
function apply(p: Peer, es: Entry[]): void {
  for (const e of es) {
    const puts: [Uint8Array, Uint8Array][] = [];
    const batch: ApplyBatch = { puts, applied: { index: e.index, term: e.term } };
    if (e.type === EntryType.ConfChange) {
      const cs = p.node.applyConfChange(decodeConfChange(e.data));
      if (cs) batch.confState = cs;
    } else if (e.data.length > 0) {
      const [k, v] = Buffer.from(e.data).toString().split('=');
      puts.push([Buffer.from(k!), Buffer.from(v!)]);
    }
    p.engine.apply(RANGE, batch);
  }
  if (es.length > 0) p.node.appliedTo(es[es.length - 1]!.index);
}

async function drive(peers: Map<number, Peer>, sender: Peer | null = null): Promise<void> {
  for (let round = 0; round < 200; round++) {
    const net: Message[] = [];
    let busy = false;
    for (const p of peers.values()) {
      while (p.node.hasReady()) {
        busy = true;
        const rd = p.node.ready();
        net.push(...rd.messages);
        await p.engine.persistReady(RANGE, rd);
        net.push(...rd.messagesAfterPersist);
        p.node.ackPersisted(rd);
        if (rd.snapshot) p.node.appliedTo(rd.snapshot.meta.index);
        apply(p, rd.committedEntries);
      }
    }
    for (const m of net) {
      const to = peers.get(m.to);
      if (!to) continue;
      if (m.type === MessageType.Snap) {
        // The transport: build the data from a consistent view, stage it on the receiver,
        // and hand raft the meta actually captured plus a ref to the staged files.
        const from = sender ?? peers.get(m.from)!;
        const src = from.engine.snapshotSource(RANGE);
        const rx = await to.engine.receiveSnapshot(src.headerBytes());
        for (let c = src.nextChunk(); c !== null; c = src.nextChunk()) await rx.addChunk(c);
        const staged = await rx.finish();
        to.node.step({ ...m, snapshot: { meta: staged.meta, data: staged.data } });
        from.node.reportSnapshot(m.to, true);
      } else {
        to.node.step(m);
      }
    }
    if (!busy && net.length === 0) return;
  }
  throw new Error('raft did not settle in 200 rounds');
}

engineTest('a raft group on RangeLogStore elects, commits, applies, and restarts from its durable state', async (kind) => {
  const store = kind.newStore();
  try {
    let engine = await store.open();
    await engine.createRange({ descriptor: descriptor(RANGE, '', ''), confState: confState([1]) });
    let p: Peer = { id: 1, engine, node: newNode(1, engine) };
    const peers = new Map([[1, p]]);
    p.node.campaign();
    await drive(peers);
    assert.equal(p.node.status().role, StateRole.Leader);
    for (let i = 0; i < 50; i++) assert.ok(p.node.propose(Buffer.from(`k${i}=v${i}`)).ok);
    await drive(peers);
    const st = p.node.status();
    assert.equal(st.commit, st.lastIndex);
    assert.equal(engine.range(RANGE).applied.index, st.commit);
    assert.equal(engine.db.get(ColumnFamily.Default, Buffer.from('k49'))?.toString(), 'v49');
    await engine.compactLog(RANGE, 30);
    await engine.close();

    engine = await store.open();
    p = { id: 1, engine, node: newNode(1, engine) };
    peers.set(1, p);
    const st2 = p.node.status();
    assert.equal(st2.term, st.term);
    assert.equal(st2.commit, st.commit);
    assert.equal(st2.firstIndex, 31);
    p.node.campaign();
    await drive(peers);
    assert.ok(p.node.propose(Buffer.from('after=restart')).ok);
    await drive(peers);
    assert.equal(engine.db.get(ColumnFamily.Default, Buffer.from('after'))?.toString(), 'restart');
    assert.equal(p.node.status().term, st.term + 1);
    await engine.close();
  } finally {
    store.remove();
  }
});

engineTest('a log compacted through applied entries whose commit index was not yet durable restarts', async (kind) => {
  // A hard state that only moves the commit is written unsynced or later (persist-ready.ts):
  // a crash may lose it while the compaction that followed the apply is durable.
  const store = kind.newStore();
  let engine = await store.open();
  try {
    await engine.createRange({ descriptor: descriptor(RANGE, '', ''), confState: confState([1]) });
    let p: Peer = { id: 1, engine, node: newNode(1, engine) };
    p.node.campaign();
    await drive(new Map([[1, p]]));
    for (let i = 0; i < 20; i++) assert.ok(p.node.propose(Buffer.from(`k${i}=v${i}`)).ok);
    await drive(new Map([[1, p]]));
    const st = p.node.status();
    assert.equal(engine.range(RANGE).applied.index, st.commit);
    // The commit-only hard states were lost: the durable one commits only the election's entry.
    engine.db.writeBatch((w) => w.put(ColumnFamily.Raft, hardStateKey(RANGE), encodeHardState({ term: st.term, vote: 1, commit: 1 })), { sync: true });
    await engine.compactLog(RANGE, st.commit);
    await engine.close();
    engine = await store.open();

    assert.equal(engine.range(RANGE).hardState.commit, st.commit, 'raised to the truncated index');
    p = { id: 1, engine, node: newNode(1, engine) };
    assert.equal(p.node.status().commit, st.commit);
    p.node.campaign();
    await drive(new Map([[1, p]]));
    assert.ok(p.node.propose(Buffer.from('after=restart')).ok);
    await drive(new Map([[1, p]]));
    assert.equal(engine.db.get(ColumnFamily.Default, Buffer.from('after'))?.toString(), 'restart');
    assert.equal(engine.db.get(ColumnFamily.Default, Buffer.from('k19'))?.toString(), 'v19');
  } finally {
    await engine.close();
    store.remove();
  }
});

engineTest('a new learner is caught up by a range snapshot built, streamed, staged and ingested through storage', async (kind) => {
  const d1 = kind.newStore();
  const d2 = kind.newStore();
  const e1 = await d1.open({ limits: { maxSnapshotChunkBytes: 1024 } });
  const e2 = await d2.open();
  try {
    await e1.createRange({ descriptor: descriptor(RANGE, '', ''), confState: confState([1]) });
    const leader: Peer = { id: 1, engine: e1, node: newNode(1, e1) };
    const peers = new Map([[1, leader]]);
    leader.node.campaign();
    await drive(peers);
    for (let i = 0; i < 200; i++) leader.node.propose(Buffer.from(`key${String(i).padStart(3, '0')}=${'x'.repeat(40)}${i}`));
    await drive(peers);
    await e1.compactLog(RANGE, e1.range(RANGE).applied.index - 5);
    assert.ok(leader.node.proposeConfChange({ transition: ConfChangeTransition.Auto, changes: [{ type: ConfChangeType.AddLearnerNode, nodeId: 2 }], context: new Uint8Array(0) }).ok);
    await drive(peers);
    assert.deepEqual(e1.range(RANGE).confState.learners, [2]);

    await e2.createRange({ rangeId: RANGE });
    const learner: Peer = { id: 2, engine: e2, node: newNode(2, e2) };
    peers.set(2, learner);
    for (let t = 0; t < 3; t++) leader.node.tick();
    await drive(peers);
    for (let i = 0; i < 10; i++) leader.node.propose(Buffer.from(`late${i}=y`));
    for (let t = 0; t < 3; t++) leader.node.tick();
    await drive(peers);

    const s2 = e2.range(RANGE);
    assert.ok(s2.descriptor !== null, 'the learner installed a snapshot');
    assert.ok(s2.truncated.index > 1);
    assert.equal(s2.applied.index, e1.range(RANGE).applied.index);
    const rows = (e: StorageEngine): string[] => e.db.scan(ColumnFamily.Default, { gte: Buffer.alloc(0) }).map((kv) => `${kv.key}=${kv.value}`);
    assert.deepEqual(rows(e2), rows(e1));
    assert.equal(rows(e2).length, 210);
    assert.deepEqual(s2.confState.learners, [2]);
  } finally {
    await e1.close();
    await e2.close();
    d1.remove();
    d2.remove();
  }
});
