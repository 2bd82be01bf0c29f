// Scenarios the deterministic simulation found (seeds named), pinned at the unit level.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encodeConfChange } from './confchange/index.js';
import { bootstrapStorage, confChange, msg, persistReady, rawNode, storageWithLog } from './testing/harness.js';
import {
  ConfChangeTransition, EntryType, MessageType, StateRole, type Entry, type Snapshot,
} from './types.js';

const empty = new Uint8Array(0);

function entry(index: number, term: number, type: EntryType = EntryType.Normal, data: Uint8Array = empty): Entry {
  return { index, term, type, data };
}

function snapshotAt(index: number, term: number, learners: number[] = []): Snapshot {
  return { meta: { index, term, confState: { voters: [1, 2, 3], learners, votersOutgoing: [], learnersNext: [], autoLeave: false } }, data: empty };
}

test('a conf change handed out for apply before a newer snapshot was restored is not applied on top of it (seed 1254)', () => {
  const storage = bootstrapStorage([1, 2, 3]);
  const node = rawNode(2, storage);
  // The leader replicates an enter-joint conf change (add learner 4) and commits it.
  const joint = encodeConfChange(confChange('l4', ConfChangeTransition.JointImplicit));
  node.step(msg({ type: MessageType.App, from: 1, to: 2, term: 1, index: 1, logTerm: 0, commit: 3,
    entries: [entry(2, 1), entry(3, 1, EntryType.ConfChange, joint)] }));
  persistReady(node, storage);
  const rd = persistReady(node, storage);
  assert.deepEqual(rd.committedEntries.map((e) => e.index), [2, 3], 'handed out for apply, not applied yet');
  // Before the apply runs, a snapshot past the joint entry and its leave arrives: the
  // group has left the joint configuration with 4 as a learner.
  node.step(msg({ type: MessageType.Snap, from: 1, to: 2, term: 1, snapshot: snapshotAt(10, 1, [4]) }));
  const snapRd = persistReady(node, storage);
  assert.equal(snapRd.snapshot?.meta.index, 10);
  // Now the apply of entry 3 happens: it must not re-enter the joint configuration.
  assert.equal(node.applyConfChange(confChange('l4', ConfChangeTransition.JointImplicit)), null);
  node.appliedTo(3);
  node.appliedTo(10);
  const cfg = node.status().config;
  assert.deepEqual(cfg.votersOutgoing, [], 'not joint');
  assert.deepEqual(cfg.learners, [4]);
});

test('a TimeoutNow after a snapshot is installed but before it is applied campaigns without reading compacted entries (seed 5932)', () => {
  const storage = bootstrapStorage([1, 2, 3]);
  const node = rawNode(2, storage);
  node.step(msg({ type: MessageType.App, from: 1, to: 2, term: 1, index: 1, logTerm: 0, commit: 5,
    entries: [entry(2, 1), entry(3, 1), entry(4, 1), entry(5, 1)] }));
  persistReady(node, storage);
  persistReady(node, storage); // entries 2..5 handed out for apply; nothing applied yet
  node.step(msg({ type: MessageType.Snap, from: 1, to: 2, term: 1, snapshot: snapshotAt(20, 1) }));
  persistReady(node, storage);
  assert.equal(node.status().applied, 1);
  assert.equal(node.status().firstIndex, 21, 'entries below the snapshot are gone');
  node.step(msg({ type: MessageType.TimeoutNow, from: 1, to: 2, term: 1 }));
  assert.equal(node.status().role, StateRole.Candidate);
  assert.equal(node.status().term, 2);
});

test('a node restarts when its applied index is ahead of the durable commit index (seed 920)', () => {
  // Commit 5 was handed out and applied, but the hard state with commit 5 never became
  // durable before the crash: commit is 3 on disk.
  const storage = storageWithLog([1, 2, 3], [1, 1, 1, 1], { term: 1, commit: 3 });
  const node = rawNode(1, storage, { applied: 5 });
  const s = node.status();
  assert.equal(s.applied, 5);
  assert.equal(s.commit, 5, 'an applied entry is committed');
});

test('a node refuses to start with an applied index beyond its durable log', () => {
  const storage = storageWithLog([1, 2, 3], [1, 1], { term: 1, commit: 3 });
  assert.throws(() => rawNode(1, storage, { applied: 9 }), /beyond the durable log/);
});

test('a vote request for a stale term is rejected with our term, so the candidate catches up (seed 29304)', () => {
  const storage = bootstrapStorage([1, 2, 3]);
  storage.setHardState({ term: 9, vote: 0, commit: 1 });
  const node = rawNode(2, storage, { preVote: false });
  node.step(msg({ type: MessageType.Vote, from: 1, to: 2, term: 5, index: 1, logTerm: 0 }));
  const rd = node.ready();
  const answers = [...rd.messages, ...rd.messagesAfterPersist].filter((m) => m.to === 1);
  assert.equal(answers.length, 1);
  assert.equal(answers[0]!.type, MessageType.VoteResp);
  assert.equal(answers[0]!.reject, true);
  assert.equal(answers[0]!.term, 9);
  // The candidate that receives it steps down to the newer term.
  const cstore = bootstrapStorage([1, 2, 3]);
  const cand = rawNode(1, cstore, { preVote: false });
  cand.campaign();
  persistReady(cand, cstore);
  cand.step({ ...answers[0]!, to: 1, from: 2 });
  assert.equal(cand.status().term, 9);
  assert.equal(cand.status().role, StateRole.Follower);
});
