// Commitment: a leader commits by counting replicas only entries of its own term (Raft
// §5.4.2); earlier entries commit beneath them. A new leader appends an empty entry so it
// has something of its term to commit. The Raft paper's Figure 8 shows why.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Harness } from './testing/harness.js';
import { BOOTSTRAP_INDEX } from './storage.js';
import { EntryType, MessageType, StateRole, type Message, type NodeId } from './types.js';
import { emptyMessage } from './message.js';

test('a new leader appends an empty entry of its own term', () => {
  const h = new Harness();
  h.elect(1);
  const s = h.get(1).status();
  const last = h.nodes.get(1)!.storage.entries(s.lastIndex, s.lastIndex + 1, Infinity)[0]!;
  assert.equal(last.index, BOOTSTRAP_INDEX + 1);
  assert.equal(last.term, s.term);
  assert.equal(last.type, EntryType.Normal);
  assert.equal(last.data.length, 0);
  assert.equal(s.commit, last.index, 'and commits it');
});

test('after an election every follower learns the commit of the empty entry without waiting for a heartbeat', () => {
  const h = new Harness();
  h.elect(1); // no ticks: only the election and the replication it triggers
  const commit = h.get(1).status().commit;
  for (const id of [2, 3]) assert.equal(h.get(id).status().commit, commit, `node ${id}`);
});

test('a leader commits an entry once a majority of voters holds it, not before', () => {
  const h = new Harness({ voters: [1, 2, 3, 4, 5] });
  h.elect(1);
  h.cut.add('1->3').add('1->4').add('1->5');
  const idx = h.put(1, 'x');
  assert.equal(h.get(1).status().commit, idx - 1, 'held by 1 and 2 only: 2 of 5');
  h.cut.delete('1->3');
  h.tickAll(1);
  assert.equal(h.get(1).status().commit, idx, 'held by 1, 2 and 3: 3 of 5');
});

// ---- Figure 8 -----------------------------------------------------------------------------
//
// Five servers. Index 2 (our empty entry of term 1) is committed everywhere; then:
//   (a) S1 leads term 1 and replicates index 3 ('a', term 1) to S2 only.
//   (b) S1 crashes; S5 wins term 2 (votes S3 S4 S5) and appends index 3 (term 2) alone.
//   (c) S5 crashes; S1 wins term 3 and replicates index 3 ('a', term 1) to S3 and S4: now
//       a majority holds it, but it is not of S1's term, so S1 must NOT commit it.
//   (d) S1 crashes; S5 wins term 4 (its last entry, term 2, beats term 1) and overwrites
//       index 3 everywhere. Had S1 committed 'a' in (c), a committed entry would be lost.
//   (e) Alternatively S1 replicates its own term-3 entry to a majority: that commits it and
//       'a' beneath it, and S5 can no longer win.

const MSG_BYTES_ONE_ENTRY = 1;

function campaignUntilLeader(h: Harness, id: NodeId): void {
  for (let i = 0; i < 5 && h.get(id).status().role !== StateRole.Leader; i++) {
    h.get(id).campaign();
    h.settle();
  }
  assert.equal(h.get(id).status().role, StateRole.Leader, `node ${id} could not win`);
}

function figure8UpToC(): Harness {
  const h = new Harness({
    voters: [1, 2, 3, 4, 5],
    config: { preVote: false, checkQuorum: false, maxMsgBytes: MSG_BYTES_ONE_ENTRY },
  });
  h.elect(1);
  h.tickAll(1);
  assert.equal(h.get(5).status().commit, 2);

  // (a)
  h.cut.add('1->3').add('1->4').add('1->5');
  h.get(1).propose(new TextEncoder().encode('a'));
  h.settle();
  assert.equal(h.nodes.get(2)!.storage.lastIndex(), 3);

  // (b)
  h.heal();
  h.isolate(1);
  h.filter = (m) => !(m.type === MessageType.App && m.from === 5); // S5's entry stays on S5
  campaignUntilLeader(h, 5);
  assert.equal(h.nodes.get(5)!.storage.term(3), h.get(5).status().term);

  // (c)
  h.heal();
  h.isolate(5);
  h.restart(1);
  // S1's own entry of term 3 (index 4) is lost whenever the receiver could accept it (it
  // holds index 3); probes that make S3 and S4 reject, and 'a' itself, get through.
  const holdsIndex3 = (id: NodeId): boolean => h.nodes.get(id)!.storage.lastIndex() >= 3;
  h.filter = (m) => !(m.type === MessageType.App && m.entries.some((e) => e.index === 4) && holdsIndex3(m.to));
  campaignUntilLeader(h, 1);
  h.tickAll(3);
  for (const id of [1, 2, 3, 4]) assert.equal(h.nodes.get(id)!.storage.term(3), 1, `S${id} holds 'a' at index 3`);
  return h;
}

test("Figure 8 (c): a leader does not commit an earlier term's entry that a majority holds", () => {
  const h = figure8UpToC();
  const s = h.get(1).status();
  assert.equal(s.term, 3);
  assert.equal(s.progress!.get(3)!.match, 3, 'the leader knows S3 holds index 3');
  assert.equal(s.progress!.get(4)!.match, 3, 'the leader knows S4 holds index 3');
  assert.equal(s.commit, 2);
  for (const id of [1, 2, 3, 4]) assert.deepEqual(h.appliedData(id), []);
});

test("Figure 8 (d): the entry S1 did not commit is overwritten by S5, and no server ever applied it", () => {
  const h = figure8UpToC();
  // (d)
  h.filter = null;
  h.heal();
  h.isolate(1);
  h.restart(5);
  campaignUntilLeader(h, 5);
  h.tickAll(2);
  for (const id of [2, 3, 4, 5]) {
    const st = h.nodes.get(id)!.storage;
    assert.equal(st.term(3), 2, `S${id} index 3 is S5's term-2 entry`);
    assert.ok(h.get(id).status().commit >= 4);
  }
  for (const id of [1, 2, 3, 4, 5]) assert.deepEqual(h.appliedData(id), [], `S${id} never applied 'a'`);
});

test("Figure 8 (e): once S1's own entry reaches a majority, 'a' commits beneath it and S5 cannot win", () => {
  const h = figure8UpToC();
  // (e)
  h.filter = null;
  h.tickAll(2);
  assert.equal(h.get(1).status().commit, 4);
  for (const id of [1, 2, 3, 4]) assert.deepEqual(h.appliedData(id), ['a'], `S${id}`);
  h.heal();
  h.isolate(1);
  h.restart(5);
  for (let i = 0; i < 3; i++) {
    h.get(5).campaign();
    h.settle();
  }
  assert.notEqual(h.get(5).status().role, StateRole.Leader);
});

// ---- lazy commit broadcast ---------------------------------------------------------------

test('lazyCommitBroadcast: a commit advance sends no empty appends; followers learn it from the next heartbeat', () => {
  const h = new Harness({ config: { lazyCommitBroadcast: true } });
  h.elect(1);
  const sent: string[] = [];
  h.filter = (m) => {
    sent.push(`${m.type === MessageType.App ? 'App' : String(m.type)} ${m.from}->${m.to} entries ${m.entries.length}`);
    return true;
  };
  const idx = h.put(1, 'x');
  assert.equal(h.get(1).status().commit, idx, 'the leader commits');
  assert.deepEqual(sent.filter((s) => s.startsWith('App ')), ['App 1->2 entries 1', 'App 1->3 entries 1'], 'only the appends carrying the entry');
  for (const id of [2, 3]) assert.equal(h.get(id).status().commit, idx - 1, `node ${id} has not heard of the commit yet`);
  h.tickAll(1); // heartbeat interval 1 tick: the heartbeat carries the commit
  for (const id of [2, 3]) {
    assert.equal(h.get(id).status().commit, idx, `node ${id} learned it from the heartbeat`);
    assert.deepEqual(h.appliedData(id), ['x']);
  }
});

test('lazyCommitBroadcast: a busy group still carries the commit on its next appends', () => {
  const h = new Harness({ config: { lazyCommitBroadcast: true } });
  h.elect(1);
  const a = h.put(1, 'a');
  const b = h.put(1, 'b');
  assert.equal(h.get(2).status().commit, a, 'the append of b carried the commit of a');
  assert.ok(b > a);
});

test('commitFromQuiesce: a follower takes its leader\'s heartbeat commit without answering, only for a commit its log holds exactly', () => {
  const h = new Harness({ config: { lazyCommitBroadcast: true } });
  h.elect(1);
  const idx = h.put(1, 'x');
  const f = h.get(2);
  const term = f.status().term;
  const hb = (over: Partial<Message>): Message => ({ ...emptyMessage(), type: MessageType.Heartbeat, from: 1, to: 2, term, commit: idx, ...over });
  assert.equal(f.commitFromQuiesce(hb({ from: 3 })), false, 'not from its leader');
  assert.equal(f.commitFromQuiesce(hb({ term: term + 1 })), false, 'another term');
  assert.equal(f.commitFromQuiesce(hb({ commit: idx + 1 })), false, 'beyond its log');
  assert.equal(f.status().commit, idx - 1, 'nothing changed');
  assert.equal(f.commitFromQuiesce(hb({})), true);
  assert.equal(f.status().commit, idx);
  const rd = f.ready();
  assert.equal(rd.messages.length, 0, 'no answer');
  assert.deepEqual(rd.committedEntries.map((e) => e.index), [idx]);
});

test('lazyCommitBroadcast: the commit of an entry proposed with broadcastCommit, or of a conf change, is told at once', () => {
  const h = new Harness({ config: { lazyCommitBroadcast: true } });
  h.elect(1);
  const r = h.get(1).propose(new TextEncoder().encode('split'), { broadcastCommit: true });
  assert.ok(r.ok);
  h.settle();
  for (const id of [2, 3]) assert.equal(h.get(id).status().commit, r.index, `node ${id} heard of the commit without a heartbeat`);
  const plain = h.put(1, 'x');
  for (const id of [2, 3]) assert.equal(h.get(id).status().commit, plain - 1, `node ${id}: a plain entry's commit waits`);
});

test('commitKnown: a follower takes a commit it learns from outside the group only for an entry its log holds at that term', () => {
  // Lazy commit broadcast: the followers hold the entry but hear no commit for it (no ticks).
  const h = new Harness({ config: { lazyCommitBroadcast: true } });
  h.elect(1);
  const idx = h.put(1, 'frozen');
  const term = h.get(1).status().term;
  assert.equal(h.get(1).status().commit, idx);
  const f = h.get(3);
  assert.ok(f.status().commit < idx, 'the follower has not heard the commit');
  assert.equal(f.commitKnown(idx + 1, term), false, 'beyond its log');
  assert.equal(f.commitKnown(idx, term + 1), false, 'another term at that index');
  assert.ok(f.status().commit < idx);
  assert.equal(f.commitKnown(idx, term), true);
  assert.equal(f.status().commit, idx);
  assert.equal(f.commitKnown(idx, term), false, 'already committed: nothing moves');
  h.settle();
  assert.deepEqual(h.appliedData(3), h.appliedData(1), 'it applies what the leader applied');
});
