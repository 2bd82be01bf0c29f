// Membership changes through the log: single-step changes, joint consensus with automatic
// leave, demotion through learnersNext, one pending change at a time, and the leader's
// reaction to losing its own seat.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Harness, bootstrapStorage, confChange, persistReady, rawNode, utf8 } from './testing/harness.js';
import { decodeConfChange, encodeConfChange } from './confchange/index.js';
import {
  ConfChangeTransition, DropReason, EntryType, MessageType, StateRole,
  type ConfState, type NodeId, type ProposeResult,
} from './types.js';

function conf(voters: NodeId[], rest: Partial<ConfState> = {}): ConfState {
  return { voters, learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false, ...rest };
}

function mustPropose(r: ProposeResult): number {
  if (!r.ok) throw new Error(`dropped: ${r.reason} ${r.detail}`);
  return r.index;
}

test('adding a voter in a single step: the new member counts toward the quorum once applied', () => {
  const h = new Harness();
  h.elect(1);
  mustPropose(h.get(1).proposeConfChange(confChange('v4')));
  h.settle();
  assert.deepEqual(h.get(1).status().config, conf([1, 2, 3, 4]));
  // The newcomer starts empty and is caught up from a snapshot that names it.
  h.compact(1);
  h.addEmpty(4);
  h.tickAll(3);
  assert.deepEqual(h.get(4).status().config, conf([1, 2, 3, 4]));

  // Quorum is now 3 of 4: 1 and 2 alone cannot commit, 1, 2 and 4 can.
  h.isolate(3);
  h.isolate(4);
  const idx = mustPropose(h.get(1).propose(utf8('x')));
  h.settle();
  assert.equal(h.get(1).status().commit, idx - 1);
  h.heal();
  h.isolate(3);
  h.tickAll(2);
  assert.equal(h.get(1).status().commit, idx);
  assert.deepEqual(h.appliedData(4), ['x']);
});

test('removing a voter in a single step shrinks the quorum', () => {
  const h = new Harness({ voters: [1, 2, 3, 4] });
  h.elect(1);
  mustPropose(h.get(1).proposeConfChange(confChange('r4')));
  h.settle();
  assert.deepEqual(h.get(1).status().config, conf([1, 2, 3]));
  assert.equal(h.get(1).status().progress!.has(4), false);
  // 2 of 3 now suffices (it would have been 2 of 4 before: not a quorum).
  h.isolate(3);
  h.isolate(4);
  const idx = h.put(1, 'x');
  assert.equal(h.get(1).status().commit, idx);
});

test('joint consensus: the leader enters the joint configuration and proposes leaving it once it is applied', () => {
  const h = new Harness({ voters: [1, 2, 3], learners: [4] });
  h.elect(1);
  h.hold(1); // the leader's own persistence (and so its apply) waits
  const joint = mustPropose(h.get(1).proposeConfChange(confChange('v4 r3'))); // two voters change: joint
  h.settle();
  assert.equal(h.get(1).status().lastIndex, joint, 'no leave before the joint entry is applied');
  h.release(1);
  h.settle();
  const leader = h.nodes.get(1)!;
  assert.deepEqual(leader.confStates, [
    conf([1, 2, 4], { votersOutgoing: [1, 2, 3], autoLeave: true }),
    conf([1, 2, 4]),
  ]);
  const ccs = leader.applied.filter((e) => e.type === EntryType.ConfChange);
  assert.equal(ccs.length, 2);
  assert.equal(ccs[0]!.index, joint);
  assert.ok(ccs[1]!.index > joint);
  assert.equal(ccs[1]!.term, h.get(1).status().term, 'the leave was proposed by this leader');
  assert.deepEqual(decodeConfChange(ccs[1]!.data).changes, [], 'an empty change leaves the joint config');
  for (const id of [2, 4]) assert.deepEqual(h.get(id).status().config, conf([1, 2, 4]), `node ${id}`);
});

test('in a joint configuration an entry commits only with a majority of both halves', () => {
  const h = new Harness({ voters: [1, 2, 3], learners: [4, 5] });
  h.elect(1);
  mustPropose(h.get(1).proposeConfChange(confChange('v4 v5 r2 r3', ConfChangeTransition.JointExplicit)));
  h.settle();
  assert.deepEqual(h.get(1).status().config, conf([1, 4, 5], { votersOutgoing: [1, 2, 3] }));

  // Incoming (1 4 5) agrees, outgoing (1 2 3) does not.
  h.isolate(2);
  h.isolate(3);
  const r1 = h.get(1).propose(utf8('x'));
  h.settle();
  assert.equal(h.get(1).status().commit, mustPropose(r1) - 1);
  h.heal();
  h.tickAll(1);
  assert.equal(h.get(1).status().commit, mustPropose(r1));

  // Outgoing agrees, incoming does not.
  h.isolate(4);
  h.isolate(5);
  const r2 = h.get(1).propose(utf8('y'));
  h.settle();
  assert.equal(h.get(1).status().commit, mustPropose(r2) - 1);
  h.heal();
  h.tickAll(1);
  assert.equal(h.get(1).status().commit, mustPropose(r2));

  // An explicit leave ends it.
  mustPropose(h.get(1).proposeConfChange(confChange('')));
  h.settle();
  assert.deepEqual(h.get(1).status().config, conf([1, 4, 5]));
});

test('in a joint configuration a candidate needs a majority of both halves', () => {
  const h = new Harness({ voters: [1, 2, 3], learners: [4, 5], config: { preVote: false, checkQuorum: false } });
  h.elect(1);
  mustPropose(h.get(1).proposeConfChange(confChange('v4 v5 r2 r3', ConfChangeTransition.JointExplicit)));
  h.settle();
  h.tickAll(1);
  for (const id of [2, 3, 4, 5]) assert.deepEqual(h.get(id).status().config.votersOutgoing, [1, 2, 3], `node ${id}`);

  // 4 campaigns. Incoming (1 4 5): 4 and 5 grant. Outgoing (1 2 3): nobody yet.
  h.isolate(1);
  h.isolate(2);
  h.isolate(3);
  h.get(4).campaign();
  h.settle();
  assert.equal(h.get(4).status().role, StateRole.Candidate);
  // 2 grants: still only 1 of 3 outgoing voters (4 is not one of them).
  h.heal();
  h.isolate(1);
  h.isolate(3);
  h.get(4).campaign();
  h.settle();
  assert.equal(h.get(4).status().role, StateRole.Candidate);
  // 2 and 3 grant: 2 of 3 outgoing as well.
  h.heal();
  h.isolate(1);
  h.get(4).campaign();
  h.settle();
  assert.equal(h.get(4).status().role, StateRole.Leader);
});

test('a new leader proposes the automatic leave its predecessor applied the joint config for but never sent', () => {
  const h = new Harness({ voters: [1, 2, 3], learners: [4] });
  h.elect(1);
  const isLeave = (data: Uint8Array): boolean => decodeConfChange(data).changes.length === 0;
  // 1's leave entry never leaves 1.
  h.filter = (m) => !(m.from === 1 && m.entries.some((e) => e.type === EntryType.ConfChange && isLeave(e.data)));
  mustPropose(h.get(1).proposeConfChange(confChange('v4 r3')));
  h.settle();
  h.tickAll(1); // the followers learn the joint entry is committed, and apply it
  for (const id of [2, 3, 4]) {
    assert.deepEqual(h.get(id).status().config, conf([1, 2, 4], { votersOutgoing: [1, 2, 3], autoLeave: true }));
  }
  h.filter = null;
  h.isolate(1);
  h.tickAll(40);
  for (const id of [2, 4]) assert.deepEqual(h.get(id).status().config, conf([1, 2, 4]), `node ${id} left the joint config`);
  const leave = h.nodes.get(2)!.applied.filter((e) => e.type === EntryType.ConfChange && isLeave(e.data));
  assert.equal(leave.length, 1);
  assert.ok(leave[0]!.term > h.get(1).status().term, 'proposed by the new leader');
});

test('demoting a voter goes through learnersNext in a joint configuration, then it is a learner', () => {
  const h = new Harness();
  h.elect(1);
  mustPropose(h.get(1).proposeConfChange(confChange('l3', ConfChangeTransition.JointImplicit)));
  h.settle();
  assert.deepEqual(h.nodes.get(1)!.confStates, [
    conf([1, 2], { votersOutgoing: [1, 2, 3], learnersNext: [3], autoLeave: true }),
    conf([1, 2], { learners: [3] }),
  ]);
  h.put(1, 'still replicated to the learner');
  assert.deepEqual(h.appliedData(3), ['still replicated to the learner']);
  h.isolate(3);
  const idx = h.put(1, 'committed without 3');
  assert.equal(h.get(1).status().commit, idx);
});

test('at most one conf change is pending: a second proposal is dropped with ConfChangePending', () => {
  const h = new Harness();
  h.elect(1);
  const lastBefore = h.get(1).status().lastIndex;
  mustPropose(h.get(1).proposeConfChange(confChange('l4')));
  const second = h.get(1).proposeConfChange(confChange('l5'));
  assert.equal(second.ok, false);
  assert.equal(!second.ok && second.reason, DropReason.ConfChangePending);
  assert.equal(h.get(1).status().lastIndex, lastBefore + 1, 'nothing appended for the dropped change');
  h.settle();
  mustPropose(h.get(1).proposeConfChange(confChange('l5')));
  h.settle();
  assert.deepEqual(h.get(1).status().config, conf([1, 2, 3], { learners: [4, 5] }));
});

test('a node does not campaign while a committed conf change is not yet applied', () => {
  // Log: 2 normal, 3 ConfChange (add learner 4); committed through 3, applied through 2.
  const storage = bootstrapStorage([1, 2, 3]);
  storage.append([
    { index: 2, term: 1, type: EntryType.Normal, data: new Uint8Array(0) },
    { index: 3, term: 1, type: EntryType.ConfChange, data: encodeConfChange(confChange('l4')) },
  ]);
  storage.setHardState({ term: 1, vote: 0, commit: 3 });
  const node = rawNode(1, storage, { applied: 2, preVote: false });
  node.campaign();
  for (let t = 0; t < 50; t++) node.tick();
  assert.equal(node.status().role, StateRole.Follower);
  assert.equal(node.status().term, 1);

  const rd = persistReady(node, storage);
  assert.deepEqual(rd.committedEntries.map((e) => e.index), [3]);
  node.applyConfChange(decodeConfChange(rd.committedEntries[0]!.data));
  node.appliedTo(3);
  node.campaign();
  assert.equal(node.status().role, StateRole.Candidate);
});

test('a leader that removes itself steps down and hands leadership to an up-to-date voter at once', () => {
  const h = new Harness();
  h.elect(1);
  const timeoutNowTo: NodeId[] = [];
  h.filter = (m) => {
    if (m.type === MessageType.TimeoutNow && m.from === 1) timeoutNowTo.push(m.to);
    return true;
  };
  mustPropose(h.get(1).proposeConfChange(confChange('r1')));
  h.settle(); // no ticks: no election timeout can have fired
  assert.notEqual(h.get(1).status().role, StateRole.Leader);
  assert.deepEqual(timeoutNowTo, [2], 'the most caught-up voter (lowest id on a tie)');
  assert.equal(h.leader(), 2);
  assert.equal(h.get(2).status().term, 2);
});

test('a removed leader never counts itself again: the remaining voters carry on without it', () => {
  const h = new Harness();
  h.elect(1);
  mustPropose(h.get(1).proposeConfChange(confChange('r1')));
  h.settle();
  h.tickAll(30);
  const leader = h.leader();
  assert.ok(leader === 2 || leader === 3, `leader ${leader}`);
  assert.deepEqual(h.get(leader).status().config, conf([2, 3]));
  assert.equal(h.get(leader).status().progress!.has(1), false);
  // With 1 cut off the two voters commit; with the other voter cut off nothing commits,
  // whatever 1 (no longer a member) does.
  h.isolate(1);
  const idx = h.put(leader, 'x');
  assert.equal(h.get(leader).status().commit, idx);
  h.heal();
  h.isolate(leader === 2 ? 3 : 2);
  const r = h.get(leader).propose(utf8('y'));
  h.settle();
  assert.equal(h.get(leader).status().commit, mustPropose(r) - 1);
  // And 1 never campaigns: it is not a voter.
  h.heal();
  h.isolate(1);
  h.tick(1, 50);
  assert.equal(h.get(1).status().role, StateRole.Follower);
});

test('a leader that demotes itself keeps leading through the joint config, then steps down', () => {
  const h = new Harness();
  h.elect(1);
  mustPropose(h.get(1).proposeConfChange(confChange('l1', ConfChangeTransition.JointImplicit)));
  h.settle();
  const leader = h.nodes.get(1)!;
  assert.deepEqual(leader.confStates, [
    conf([2, 3], { votersOutgoing: [1, 2, 3], learnersNext: [1], autoLeave: true }),
    conf([2, 3], { learners: [1] }),
  ], 'it proposed the leave itself, so it led until then');
  assert.notEqual(h.get(1).status().role, StateRole.Leader);
  h.tickAll(30);
  const next = h.leader();
  assert.ok(next === 2 || next === 3, `leader ${next}`);
  h.put(next, 'x');
  assert.deepEqual(h.appliedData(1), ['x'], 'the old leader still follows the log, as a learner');
});

test('invalid conf changes are dropped with InvalidConfChange and append nothing', () => {
  const single = new Harness({ voters: [1] });
  single.tickAll(25);
  const cases: [Harness, string, ReturnType<typeof confChange>][] = [
    [single, 'leave a config that is not joint', confChange('')],
    [single, 'remove the last voter', confChange('r1')],
  ];
  const joint = new Harness({ voters: [1, 2, 3], learners: [4] });
  joint.elect(1);
  mustPropose(joint.get(1).proposeConfChange(confChange('v4 r3', ConfChangeTransition.JointExplicit)));
  joint.settle();
  cases.push([joint, 'enter a joint config while joint', confChange('v5 r2', ConfChangeTransition.JointExplicit)]);
  cases.push([joint, 'a simple change while joint', confChange('l5')]);
  for (const [h, why, cc] of cases) {
    const leader = h.leader();
    const last = h.get(leader).status().lastIndex;
    const r = h.get(leader).proposeConfChange(cc);
    assert.equal(r.ok, false, why);
    assert.equal(!r.ok && r.reason, DropReason.InvalidConfChange, why);
    assert.equal(h.get(leader).status().lastIndex, last, why);
  }
});
