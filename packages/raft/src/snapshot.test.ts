// Snapshots: log compaction, InstallSnapshot to a follower behind the compacted log, the
// membership carried in every snapshot, and recovery from storage after a restart.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Harness, confChange, msg, persistReady, rawNode, storageWithLog } from './testing/harness.js';
import { ConfChangeTransition, MessageType, type ConfState, type Message, type NodeId, type Snapshot } from './types.js';

function conf(voters: NodeId[], rest: Partial<ConfState> = {}): ConfState {
  return { voters, learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false, ...rest };
}

function snapsSent(h: Harness): Message[] {
  const seen: Message[] = [];
  h.filter = (m) => {
    if (m.type === MessageType.Snap) seen.push(m);
    return true;
  };
  return seen;
}

test('log compaction discards entries up to the snapshot; up-to-date followers keep getting appends', () => {
  const h = new Harness();
  h.elect(1);
  h.put(1, 'a');
  h.put(1, 'b');
  const at = h.compact(1);
  assert.equal(h.get(1).status().firstIndex, at + 1);
  assert.equal(h.nodes.get(1)!.storage.snapshot().meta.index, at);
  const snaps = snapsSent(h);
  h.put(1, 'c');
  h.tickAll(2);
  assert.deepEqual(snaps, [], 'no follower needs the snapshot');
  for (const id of [2, 3]) assert.deepEqual(h.appliedData(id), ['a', 'b', 'c']);
});

test('a follower behind the compacted log is caught up with InstallSnapshot, then with appends', () => {
  const h = new Harness();
  h.elect(1);
  h.isolate(3);
  h.put(1, 'a');
  h.put(1, 'b');
  const at = h.compact(1);
  h.heal();
  const snaps = snapsSent(h);
  h.tickAll(3);
  assert.deepEqual(snaps.map((m) => [m.to, m.snapshot!.meta.index]), [[3, at]]);
  const st = h.nodes.get(3)!.storage;
  assert.equal(st.snapshot().meta.index, at);
  assert.deepEqual(new TextDecoder().decode(st.snapshot().data), `state@${at}`);
  assert.equal(h.get(3).status().commit, at);
  h.put(1, 'c');
  assert.deepEqual(h.appliedData(3), ['c'], 'a and b arrived inside the snapshot');
  assert.equal(h.get(1).status().progress!.get(3)!.match, h.get(1).status().lastIndex);
});

test('a snapshot carries the membership configuration of its index', () => {
  const h = new Harness();
  h.elect(1);
  assert.ok(h.get(1).proposeConfChange(confChange('l4')).ok);
  h.settle();
  h.isolate(3);
  h.put(1, 'a');
  const at = h.compact(1);
  h.heal();
  const snaps = snapsSent(h);
  h.tickAll(3);
  assert.equal(snaps.length, 1);
  assert.deepEqual(snaps[0]!.snapshot!.meta.confState, conf([1, 2, 3], { learners: [4] }));
  assert.equal(snaps[0]!.snapshot!.meta.index, at);
});

test('a new member with an empty log restores the membership from the snapshot it is sent', () => {
  const h = new Harness();
  h.elect(1);
  assert.ok(h.get(1).proposeConfChange(confChange('l4')).ok);
  h.settle();
  h.put(1, 'a');
  h.compact(1);
  h.addEmpty(4);
  h.tickAll(3);
  assert.deepEqual(h.get(4).status().config, conf([1, 2, 3], { learners: [4] }));
  h.put(1, 'b');
  assert.deepEqual(h.appliedData(4), ['b']);
});

test('restoring a snapshot taken in a joint configuration rebuilds the joint configuration', () => {
  const h = new Harness({ voters: [1, 2, 3], learners: [4] });
  h.elect(1);
  h.isolate(4);
  assert.ok(h.get(1).proposeConfChange(confChange('v4 r3', ConfChangeTransition.JointExplicit)).ok);
  h.settle();
  const joint = conf([1, 2, 4], { votersOutgoing: [1, 2, 3] });
  assert.deepEqual(h.get(1).status().config, joint);
  h.compact(1);
  h.heal();
  h.tickAll(3);
  assert.deepEqual(h.get(4).status().config, joint);
  assert.equal(h.nodes.get(4)!.storage.snapshot().meta.confState.votersOutgoing.length, 3);
});

test('a snapshot at or below the commit index is ignored', () => {
  // Follower log 2..5 (term 1), committed through 5 and compacted into its own snapshot
  // at 5. An older snapshot must not move it backwards.
  for (const snapIndex of [3, 5]) {
    const storage = storageWithLog([1, 2, 3], [1, 1, 1, 1], { term: 1, commit: 5 });
    storage.createSnapshot(5, conf([1, 2, 3]), new Uint8Array([5]));
    storage.compact(5);
    const node = rawNode(2, storage);
    const snapshot: Snapshot = { meta: { index: snapIndex, term: 1, confState: conf([1, 2]) }, data: new Uint8Array([9]) };
    node.step(msg({ type: MessageType.Snap, from: 1, to: 2, term: 1, snapshot }));
    const rd = persistReady(node, storage);
    assert.equal(rd.snapshot, null, `snapshot at ${snapIndex}`);
    assert.deepEqual(rd.messagesAfterPersist.map((m) => [m.type, m.index, m.reject]), [[MessageType.AppResp, 5, false]]);
    assert.deepEqual([node.status().firstIndex, node.status().lastIndex, node.status().commit], [6, 5, 5]);
    assert.deepEqual(node.status().config, conf([1, 2, 3]), 'membership untouched');
  }
});

test('a snapshot matching an entry the follower already holds only advances its commit', () => {
  // Follower log 2..6 (term 1), committed through 3; snapshot at 5, term 1.
  const storage = storageWithLog([1, 2, 3], [1, 1, 1, 1, 1], { term: 1, commit: 3 });
  const node = rawNode(2, storage);
  const snapshot: Snapshot = { meta: { index: 5, term: 1, confState: conf([1, 2, 3]) }, data: new Uint8Array(0) };
  node.step(msg({ type: MessageType.Snap, from: 1, to: 2, term: 1, snapshot }));
  const rd = persistReady(node, storage);
  assert.equal(rd.snapshot, null);
  assert.equal(node.status().commit, 5);
  assert.equal(node.status().lastIndex, 6, 'the entry after the snapshot is kept');
});

test('after a restart a node recovers its hard state, snapshot, entries and membership from storage', () => {
  const h = new Harness();
  h.elect(1);
  assert.ok(h.get(1).proposeConfChange(confChange('l4')).ok);
  h.settle();
  h.put(1, 'a');
  const at = h.compact(2); // the conf change is now only in 2's snapshot
  h.put(1, 'b');
  h.tickAll(1);
  const before = h.get(2).status();
  assert.ok(before.firstIndex === at + 1 && before.lastIndex > at);

  const node = h.restart(2);
  const after = node.status();
  assert.deepEqual(
    [after.term, after.vote, after.commit, after.firstIndex, after.lastIndex, after.config],
    [before.term, before.vote, before.commit, before.firstIndex, before.lastIndex, before.config],
  );
  assert.deepEqual(after.config, conf([1, 2, 3], { learners: [4] }));
  h.settle();
  assert.deepEqual(h.appliedData(2), ['b'], 'entries above the snapshot are replayed');
  h.put(1, 'c');
  assert.deepEqual(h.appliedData(2), ['b', 'c']);
});
