// Log replication: the prevIndex/prevTerm consistency check, truncation of a conflicting
// suffix, and fast backtracking with term hints.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Harness, msg, persistReady, rawNode, storageWithLog } from './testing/harness.js';
import { BOOTSTRAP_INDEX } from './storage.js';
import { EntryType, MessageType, type Entry, type Message, type NodeId } from './types.js';

function entry(index: number, term: number): Entry {
  return { index, term, type: EntryType.Normal, data: new Uint8Array(0) };
}

/** Terms of `id`'s log from BOOTSTRAP_INDEX + 1 on. */
function termsOf(h: Harness, id: NodeId): number[] {
  const s = h.nodes.get(id)!.storage;
  const out: number[] = [];
  for (let i = BOOTSTRAP_INDEX + 1; i <= s.lastIndex(); i++) out.push(s.term(i));
  return out;
}

function appResps(ms: Message[]): [number, boolean][] {
  return ms.filter((m) => m.type === MessageType.AppResp).map((m) => [m.index, m.reject]);
}

// Follower log (from index 2): terms 1 1 1 2 → indexes 2..5.
function follower() {
  const storage = storageWithLog([1, 2, 3], [1, 1, 1, 2], { term: 2 });
  return { storage, node: rawNode(2, storage) };
}

test('a follower rejects an append whose prevIndex it does not hold', () => {
  const { node } = follower();
  node.step(msg({ type: MessageType.App, from: 1, to: 2, term: 3, index: 6, logTerm: 2, entries: [entry(7, 3)] }));
  assert.deepEqual(appResps(node.ready().messagesAfterPersist), [[6, true]]);
  assert.equal(node.status().lastIndex, 5);
});

test('a follower rejects an append whose prevTerm differs from its entry at prevIndex', () => {
  const { node } = follower();
  node.step(msg({ type: MessageType.App, from: 1, to: 2, term: 3, index: 5, logTerm: 3, entries: [entry(6, 3)] }));
  assert.deepEqual(appResps(node.ready().messagesAfterPersist), [[5, true]]);
  assert.equal(node.status().lastIndex, 5);
});

test('a follower accepts an append that matches at prevIndex/prevTerm and acks its last new index', () => {
  const { node, storage } = follower();
  node.step(msg({ type: MessageType.App, from: 1, to: 2, term: 3, index: 5, logTerm: 2,
    entries: [entry(6, 3), entry(7, 3)], commit: 6 }));
  const rd = persistReady(node, storage);
  assert.deepEqual(appResps(rd.messagesAfterPersist), [[7, false]]);
  assert.deepEqual(rd.entries.map((e) => [e.index, e.term]), [[6, 3], [7, 3]]);
  assert.equal(node.status().commit, 6, 'commit follows the leader, bounded by the new entries');
});

test('an append that conflicts with an uncommitted suffix truncates it and takes the leader\'s entries', () => {
  const { node, storage } = follower();
  node.step(msg({ type: MessageType.App, from: 1, to: 2, term: 3, index: 3, logTerm: 1, entries: [entry(4, 3)] }));
  const rd = persistReady(node, storage);
  assert.deepEqual(appResps(rd.messagesAfterPersist), [[4, false]]);
  assert.equal(node.status().lastIndex, 4, 'index 5 (term 2) is gone');
  assert.deepEqual([storage.term(2), storage.term(3), storage.term(4)], [1, 1, 3]);
});

test('an append of entries the follower already holds does not truncate what follows them', () => {
  const { node } = follower();
  // A delayed duplicate covering only 3..4: the follower's entry 5 must survive.
  node.step(msg({ type: MessageType.App, from: 1, to: 2, term: 2, index: 2, logTerm: 1, entries: [entry(3, 1), entry(4, 1)] }));
  assert.deepEqual(appResps(node.ready().messagesAfterPersist), [[4, false]]);
  assert.equal(node.status().lastIndex, 5);
});

test('a rejection carries a term hint: the follower\'s last index at or below prevIndex with term <= prevTerm', () => {
  // Follower: 2..4 term 1, 5..9 term 3. The leader probes prev=9 with term 2.
  const storage = storageWithLog([1, 2, 3], [1, 1, 1, 3, 3, 3, 3, 3], { term: 3 });
  const node = rawNode(2, storage);
  node.step(msg({ type: MessageType.App, from: 1, to: 2, term: 4, index: 9, logTerm: 2 }));
  const [rej] = node.ready().messagesAfterPersist.filter((m) => m.type === MessageType.AppResp);
  assert.ok(rej);
  assert.deepEqual([rej.reject, rej.index, rej.rejectHint, rej.logTerm], [true, 9, 4, 1]);
});

// Fast backtracking (the Raft paper's §5.3 optimisation, etcd's term hints): a divergent
// follower converges in a few round trips, not one per divergent entry.
const divergent: { name: string; leader: number[]; follower: number[] }[] = [
  {
    // idx 2 3 4 5 6 7 8 9 10 11 12
    // L   1 1 1 4 4 5 5 6 6  6
    // F   1 1 1 2 2 2 3 3 3  3  3
    name: 'follower holds a longer tail of older terms',
    leader: [1, 1, 1, 4, 4, 5, 5, 6, 6, 6],
    follower: [1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3],
  },
  {
    // idx 2 3 4 5 6 7 8 9 10
    // L   1 1 1 2 2 2
    // F   1 1 1 3 3 3 3 3 3   (a term-3 leader's entries that never reached a quorum)
    name: 'follower holds a tail of a newer term the leader never saw',
    leader: [1, 1, 1, 2, 2, 2],
    follower: [1, 1, 1, 3, 3, 3, 3, 3, 3],
  },
  {
    // idx 2 3 4 5 6 ... 21
    // L   1 1 1 1 1 ... 1 (20 entries)
    // F   1 1 1
    name: 'follower is simply behind',
    leader: Array(20).fill(1),
    follower: [1, 1, 1],
  },
];

for (const c of divergent) {
  test(`fast backtracking: a divergent follower converges in at most 2 rejected appends (${c.name})`, () => {
    const h = new Harness({ config: { checkQuorum: false } });
    const top = Math.max(...c.leader, ...c.follower);
    h.add(1, storageWithLog([1, 2, 3], c.leader, { term: top }));
    h.add(2, storageWithLog([1, 2, 3], c.follower, { term: top }));
    h.add(3, storageWithLog([1, 2, 3], c.leader, { term: top }));
    let rejections = 0;
    h.filter = (m) => {
      if (m.type === MessageType.AppResp && m.from === 2 && m.reject) rejections++;
      return true;
    };
    h.elect(1);
    h.put(1, 'after');
    assert.deepEqual(termsOf(h, 2), termsOf(h, 1));
    assert.ok(rejections >= 1, 'the scenario must make the follower reject at least once');
    assert.ok(rejections <= 2, `${rejections} rejections`);
    assert.deepEqual(h.appliedData(2), ['after']);
  });
}

test('a follower cut off during writes catches up after the partition heals', () => {
  const h = new Harness();
  h.elect(1);
  h.isolate(3);
  for (const s of ['a', 'b', 'c', 'd']) h.put(1, s);
  assert.deepEqual(h.appliedData(3), []);
  h.heal();
  h.tickAll(2);
  assert.deepEqual(h.appliedData(3), ['a', 'b', 'c', 'd']);
});

test('maxMsgBytes bounds the entries of one App (but one entry always goes)', () => {
  const h = new Harness({ config: { maxMsgBytes: 250 } });
  h.elect(1);
  const sizes: number[] = [];
  h.filter = (m) => {
    if (m.type === MessageType.App && m.to === 2 && m.entries.length > 0) sizes.push(m.entries.length);
    return true;
  };
  h.isolate(2);
  for (let i = 0; i < 6; i++) h.put(1, 'x'.repeat(100)); // 124 bytes each with overhead
  h.put(1, 'y'.repeat(1000)); // bigger than the limit on its own
  h.heal();
  h.tickAll(3);
  assert.ok(sizes.length > 0);
  assert.ok(sizes.every((n) => n <= 2), `App sizes ${sizes.join(' ')}`);
  assert.equal(h.appliedData(2).length, 7);
});
